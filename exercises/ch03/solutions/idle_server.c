/* Exercise 03.3, a reference answer: an echo server that closes idle
 * connections, one loop timer per connection.
 *
 * A message does not touch the timer: it only notes when input came.
 * When the timer fires it compares: if input came since, the connection
 * is not idle, and the timer is armed again for the moment it would be.
 * So a busy connection costs one timer per timeout, not a cancel and an
 * add per message (the chapter's timing wheel goes further: O(1) per
 * message and per tick for all connections, at one-tick precision).
 *
 * The timer's ctx is the connection's entry, which holds a reference to
 * the connection: a pointer kept beyond a callback. The down callback,
 * however the connection ended, cancels the timer before it frees the
 * entry and drops the reference, so nothing can fire into freed memory
 * and no closed connection's fd is held open by a timer. */
#include "idle_server.h"

#include "base/log.h"
#include "base/timestamp.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdlib.h>

struct idle_server {
    struct event_loop *loop;
    struct tcp_server *server;
    int64_t idle_timeout_us;
    size_t connections;
    uint64_t closed_idle;
};

/* The context of an open connection, from its up to its down callback. */
struct idle_entry {
    struct idle_server *server;
    struct tcp_conn *conn; /* a reference */
    uint64_t timer;        /* the pending timer: 0 while none */
    int64_t last_input_us; /* monotonic clock */
};

static void on_timer(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct idle_entry *e = ctx;
    (void)id;
    e->timer = 0; /* a one-shot timer is gone once it fired */
    int64_t due = e->last_input_us + e->server->idle_timeout_us;
    if (timestamp_mono_us() < due) { /* input came since it was armed */
        e->timer = event_loop_run_at(loop, due, on_timer, e);
        if (e->timer != 0)
            return;
        log_error("%s: no timer to watch it; closing",
                  tcp_conn_name(e->conn));
    } else {
        e->server->closed_idle++;
    }
    /* Last: should force_close run the close path at once (when it
     * cannot queue it), the down callback frees e. */
    tcp_conn_force_close(e->conn);
}

static void connection_up(struct idle_server *s, struct tcp_conn *conn)
{
    struct idle_entry *e = calloc(1, sizeof *e);
    if (e != NULL) {
        e->server = s;
        e->last_input_us = timestamp_mono_us();
        e->timer = event_loop_run_after(s->loop, s->idle_timeout_us,
                                        on_timer, e);
    }
    if (e == NULL || e->timer == 0) {
        /* Unwatched, it could stay open for ever: refuse it. */
        log_error("%s: no memory to watch it; closing", tcp_conn_name(conn));
        free(e);
        tcp_conn_force_close(conn);
        return;
    }
    tcp_conn_ref(conn);
    e->conn = conn;
    tcp_conn_set_context(conn, e);
    s->connections++;
}

static void connection_down(struct idle_server *s, struct tcp_conn *conn)
{
    struct idle_entry *e = tcp_conn_context(conn);
    if (e == NULL)
        return; /* refused in connection_up() */
    event_loop_cancel_timer(s->loop, e->timer); /* 0: a no-op */
    tcp_conn_set_context(conn, NULL);
    s->connections--;
    free(e);
    tcp_conn_unref(conn); /* may be the last one: conn is gone after */
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    if (tcp_conn_connected(conn))
        connection_up(ctx, conn);
    else
        connection_down(ctx, conn);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct idle_entry *e = tcp_conn_context(conn);
    (void)ctx;
    if (e != NULL)
        e->last_input_us = receive_time_us; /* when the poller saw it */
    (void)tcp_conn_send_buffer(conn, input); /* -EPIPE: it is gone */
}

struct idle_server *idle_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    int64_t idle_timeout_us)
{
    if (idle_timeout_us < IDLE_SERVER_MIN_TIMEOUT_US) {
        errno = EINVAL;
        return NULL;
    }
    struct idle_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->idle_timeout_us = idle_timeout_us;
    s->server = tcp_server_new(loop, listen_addr, "idle", 0);
    if (s->server == NULL) {
        int err = errno;
        free(s);
        errno = err;
        return NULL;
    }
    struct tcp_callbacks cb = {
        .on_connection = on_connection, .on_message = on_message, .ctx = s};
    tcp_server_set_callbacks(s->server, &cb);
    return s;
}

int idle_server_start(struct idle_server *s)
{
    return tcp_server_start(s->server);
}

int idle_server_listen_address(const struct idle_server *s,
                               struct inet_address *addr)
{
    return tcp_server_listen_address(s->server, addr);
}

size_t idle_server_connections(const struct idle_server *s)
{
    return s->connections;
}

uint64_t idle_server_closed_idle(const struct idle_server *s)
{
    return s->closed_idle;
}

static void free_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    free(ctx);
}

void idle_server_free(struct idle_server *s)
{
    if (s == NULL)
        return;
    /* Each connection's down callback cancels its timer and frees its
     * entry, whose server pointer is s: they run from the destruction
     * that tcp_server_free() queues, so s is freed behind them. Until
     * then a timer may still fire; it finds s alive. */
    tcp_server_free(s->server);
    s->server = NULL;
    if (event_loop_queue(s->loop, free_later, s) != 0)
        log_error("idle server: cannot defer its free; leaking %zu bytes",
                  sizeof *s);
}
