/*
 * idle_echo: an echo server that closes connections idle for N seconds,
 * with a timing wheel (muduo's idle-connection example).
 *
 *   build/examples/idle_echo [port] [idle_seconds]    (default 9003, 8)
 *
 * The wheel is a ring of N buckets, one per second. Each connection has
 * one reference-counted entry; every message puts the entry into the
 * newest bucket again (one more reference). Every second the wheel turns:
 * the oldest bucket is emptied, dropping one reference from each entry in
 * it. An entry whose last reference leaves the wheel belongs to a
 * connection that sent nothing for N seconds: it is closed. O(1) per
 * message and per tick, whatever the number of connections; the price is
 * one-second granularity, which is all an idle timeout needs.
 */
#include "base/array.h"
#include "base/log.h"
#include "examples/args.h"
#include "examples/example_server.h"

#include <stdio.h>
#include <stdlib.h>

struct entry {
    int refs;              /* occurrences in the wheel */
    uint64_t last_tick;    /* last tick it was put in the newest bucket */
    struct tcp_conn *conn; /* a reference; NULL once the connection is down */
};

struct bucket {
    struct entry **items;
    size_t len, capacity;
};

struct wheel {
    struct bucket *buckets;
    int size;
    int newest;
    uint64_t tick;
    bool closing_all; /* at exit: release entries without closing */
};

static void entry_unref(struct wheel *w, struct entry *e)
{
    if (--e->refs > 0)
        return;
    struct tcp_conn *conn = e->conn;
    if (conn != NULL) {
        /* Detached first: force_close may run the down callback at once
         * (when it cannot defer it), and that must find no entry. */
        e->conn = NULL;
        tcp_conn_set_context(conn, NULL);
        if (!w->closing_all) {
            log_info("%s idle for %d s: closing", tcp_conn_name(conn),
                     w->size);
            tcp_conn_force_close(conn);
        }
        tcp_conn_unref(conn);
    }
    free(e);
}

/* Puts e into the newest bucket (once per tick); false when out of
 * memory, in which case the entry just expires a little earlier. */
static bool wheel_put(struct wheel *w, struct entry *e)
{
    if (e->refs > 0 && e->last_tick == w->tick)
        return true; /* already in the newest bucket */
    struct bucket *b = &w->buckets[w->newest];
    struct entry **items = array_reserve(b->items, &b->capacity, b->len + 1,
                                         sizeof(struct entry *));
    if (items == NULL)
        return false;
    b->items = items;
    b->items[b->len++] = e;
    e->refs++;
    e->last_tick = w->tick;
    return true;
}

/* Turns the wheel one second: the oldest bucket becomes the newest. */
static void on_tick(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct wheel *w = ctx;
    (void)loop;
    (void)id;
    w->tick++;
    w->newest = (w->newest + 1) % w->size;
    struct bucket *b = &w->buckets[w->newest];
    size_t len = b->len;
    b->len = 0;
    for (size_t i = 0; i < len; i++)
        entry_unref(w, b->items[i]);
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct wheel *w = ctx;
    struct entry *e = tcp_conn_context(conn);
    if (tcp_conn_connected(conn)) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            tcp_conn_force_close(conn);
            return;
        }
        if (!wheel_put(w, e)) { /* not in the wheel: nothing would close it */
            free(e);
            tcp_conn_force_close(conn);
            return;
        }
        tcp_conn_ref(conn);
        e->conn = conn;
        tcp_conn_set_context(conn, e);
    } else if (e != NULL) { /* down: the entry lives on, without it */
        e->conn = NULL;
        tcp_conn_set_context(conn, NULL);
        tcp_conn_unref(conn);
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    struct entry *e = tcp_conn_context(conn);
    if (e != NULL)
        (void)wheel_put(ctx, e);
    (void)tcp_conn_send_buffer(conn, input);
}

int main(int argc, char **argv)
{
    long port = 9003, idle = 8;
    if (!arg_long(argc, argv, 1, 0, 65535, &port) ||
        !arg_long(argc, argv, 2, 1, 3600, &idle)) {
        fprintf(stderr, "usage: idle_echo [port] [idle_seconds 1-3600]\n");
        return 2;
    }
    struct wheel w = {.size = (int)idle};
    w.buckets = calloc((size_t)idle, sizeof *w.buckets);
    if (w.buckets == NULL) {
        fprintf(stderr, "idle_echo: no memory\n");
        return 1;
    }
    struct example_server es;
    if (!example_server_open(&es, "idle_echo", port)) {
        free(w.buckets);
        return 1;
    }
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .ctx = &w};
    tcp_server_set_callbacks(es.server, &cb);
    event_loop_run_every(es.loop, 1000000, on_tick, &w);
    printf("idle_echo closes connections idle for %ld s\n", idle);
    int rc = example_server_run(&es);
    w.closing_all = true;
    for (int i = 0; i < w.size; i++) {
        for (size_t k = 0; k < w.buckets[i].len; k++)
            entry_unref(&w, w.buckets[i].items[k]);
        free(w.buckets[i].items);
    }
    free(w.buckets);
    example_server_close(&es);
    return rc;
}
