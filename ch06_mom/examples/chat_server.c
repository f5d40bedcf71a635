/*
 * chat_server: every frame a client sends goes to every connected client,
 * the sender included (see chat.h for the protocol).
 *
 *   build/examples/chat_server [port] [io_threads]
 *                                   (defaults 9000 and 0; port 0: any port)
 *
 * Listens on 127.0.0.1 only. Talk to it with chat_client. A frame with a
 * negative length or one above CHAT_MAX_LINE is logged and closes the
 * connection that sent it: the stream cannot be trusted after it. Stop it
 * with Ctrl-C (SIGINT) or SIGTERM (see example_server.h).
 *
 * Sharing the connections between loops. With io_threads > 0 each
 * connection lives in one of several I/O loops, and a line that arrives
 * in one loop must go out on connections of the others. The table of
 * connections is an array under a mutex; each entry holds a reference. A
 * connection enters it when it comes up and leaves it when it goes down,
 * both in its own loop's thread.
 *
 * A relay copies the table under the mutex, taking a reference to each
 * connection, and sends outside it. Nothing of the library runs under
 * our lock, so no path can come back to it: if a send closed its
 * connection on the spot (it does when memory runs out), the down
 * callback would take the lock again, and a relay that held it would
 * deadlock. The references keep every listed connection alive while we
 * send to it; one that went down meanwhile just refuses the line.
 *
 * The price is shutdown. A reference keeps a connection, not its loop,
 * and tcp_server_free() stops the I/O loops one after the other: a relay
 * in a loop still running must not send to a connection of a loop being
 * freed (tcp_conn.h). So before the server is freed, chat_close() stops
 * new relays and waits for those in flight.
 */
#include "base/array.h"
#include "base/assertion.h"
#include "base/log.h"
#include "examples/args.h"
#include "examples/chat.h"
#include "examples/example_server.h"
#include "net/codec.h"
#include "net/event_loop_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chat {
    pthread_mutex_t mutex;
    pthread_cond_t idle;     /* relays_in_flight dropped to 0 */
    struct tcp_conn **conns; /* under mutex; each entry holds a reference */
    size_t count;
    size_t capacity;
    int relays_in_flight; /* under mutex */
    bool closing;         /* under mutex: no new relay */
};

/* The connections a relay sends to, each with a reference. */
struct chat_copy {
    struct tcp_conn **conns;
    size_t count;
};

static void chat_join(struct chat *chat, struct tcp_conn *conn)
{
    pthread_mutex_lock(&chat->mutex);
    struct tcp_conn **grown =
        array_reserve(chat->conns, &chat->capacity, chat->count + 1,
                      sizeof(struct tcp_conn *));
    if (grown != NULL) {
        chat->conns = grown;
        tcp_conn_ref(conn);
        chat->conns[chat->count++] = conn;
    }
    pthread_mutex_unlock(&chat->mutex);
    if (grown == NULL) {
        /* A client that could not join would hear nothing: say so. */
        log_error("%s: no memory to join the chat: closing",
                  tcp_conn_name(conn));
        tcp_conn_force_close(conn);
    }
}

static void chat_leave(struct chat *chat, struct tcp_conn *conn)
{
    bool found = false;
    pthread_mutex_lock(&chat->mutex);
    for (size_t i = 0; i < chat->count; i++) {
        if (chat->conns[i] == conn) {
            chat->conns[i] = chat->conns[--chat->count]; /* order is moot */
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&chat->mutex);
    if (found)
        tcp_conn_unref(conn); /* outside the lock: it may free */
}

/* Starts a relay: copies the table. False (nothing to release) while
 * closing or when memory ran out. */
static bool chat_relay_begin(struct chat *chat, struct chat_copy *copy)
{
    bool ok = false;
    pthread_mutex_lock(&chat->mutex);
    if (!chat->closing) {
        copy->count = chat->count;
        copy->conns = malloc((chat->count + 1) * sizeof(struct tcp_conn *));
        if (copy->conns != NULL) {
            for (size_t i = 0; i < copy->count; i++) {
                copy->conns[i] = chat->conns[i];
                tcp_conn_ref(copy->conns[i]);
            }
            chat->relays_in_flight++;
            ok = true;
        }
    }
    pthread_mutex_unlock(&chat->mutex);
    return ok;
}

static void chat_relay(const struct chat_copy *copy, const char *line,
                       size_t len)
{
    for (size_t i = 0; i < copy->count; i++) {
        /* A connection that went down since the copy refuses the line
         * (-ENOTCONN); the others still get it. */
        int err = codec_send(copy->conns[i], line, len);
        if (err != 0 && err != -ENOTCONN)
            log_warn("%s: line of %zu bytes not sent: %s",
                     tcp_conn_name(copy->conns[i]), len, codec_strerror(err));
    }
}

static void chat_relay_end(struct chat *chat, struct chat_copy *copy)
{
    for (size_t i = 0; i < copy->count; i++)
        tcp_conn_unref(copy->conns[i]);
    free(copy->conns);
    pthread_mutex_lock(&chat->mutex);
    if (--chat->relays_in_flight == 0)
        pthread_cond_broadcast(&chat->idle);
    pthread_mutex_unlock(&chat->mutex);
}

/* Stops new relays and waits for those in flight (see the top). In the
 * base loop's thread, after its loop has stopped: no relay there then. */
static void chat_close(struct chat *chat)
{
    pthread_mutex_lock(&chat->mutex);
    chat->closing = true;
    while (chat->relays_in_flight > 0)
        pthread_cond_wait(&chat->idle, &chat->mutex);
    pthread_mutex_unlock(&chat->mutex);
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct chat *chat = ctx;
    char peer[INET_ADDRESS_STRLEN];
    inet_address_to_string(tcp_conn_peer_address(conn), peer, sizeof peer);
    log_info("%s from %s is %s", tcp_conn_name(conn), peer,
             tcp_conn_connected(conn) ? "up" : "down");
    if (tcp_conn_connected(conn)) {
        (void)tcp_conn_set_tcp_nodelay(conn, true); /* lines are small */
        chat_join(chat, conn);
    } else {
        chat_leave(chat, conn);
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct chat *chat = ctx;
    (void)receive_time_us;
    const char *line;
    size_t len;
    int r;
    struct chat_copy copy;
    bool relaying = false, tried = false;
    /* One copy of the table for every line of this read. */
    while ((r = codec_peek(input, CHAT_MAX_LINE, &line, &len)) == 1) {
        if (!tried) {
            tried = true;
            relaying = chat_relay_begin(chat, &copy);
        }
        if (relaying)
            chat_relay(&copy, line, len);
        codec_consume(input, len);
    }
    if (relaying)
        chat_relay_end(chat, &copy);
    else if (tried)
        log_warn("%s: lines dropped (closing, or no memory)",
                 tcp_conn_name(conn));
    if (r < 0) {
        log_warn("%s: %s: closing", tcp_conn_name(conn), codec_strerror(r));
        tcp_conn_force_close(conn);
    }
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: chat_server [port] [io_threads]\n"
            "  Relays every line (a length-prefixed frame) from a client\n"
            "  to every client. Listens on 127.0.0.1:port (default %d; 0:\n"
            "  any free port) with io_threads I/O loops (default 0, at\n"
            "  most %d). Stop it with Ctrl-C.\n",
            CHAT_DEFAULT_PORT, EVENT_LOOP_POOL_MAX_THREADS);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    long port = CHAT_DEFAULT_PORT, threads = 0;
    if (argc > 3 || !arg_long(argc, argv, 1, 0, 65535, &port) ||
        !arg_long(argc, argv, 2, 0, EVENT_LOOP_POOL_MAX_THREADS, &threads)) {
        usage(stderr);
        return 2;
    }
    struct chat chat = {.conns = NULL};
    pthread_mutex_init(&chat.mutex, NULL);
    pthread_cond_init(&chat.idle, NULL);
    struct example_server es;
    if (!example_server_open(&es, "chat_server", port)) {
        pthread_cond_destroy(&chat.idle);
        pthread_mutex_destroy(&chat.mutex);
        return 1;
    }
    struct tcp_callbacks callbacks = {
        .on_connection = on_connection, .on_message = on_message, .ctx = &chat};
    tcp_server_set_callbacks(es.server, &callbacks);
    tcp_server_set_thread_count(es.server, (int)threads);
    int rc = example_server_run(&es);
    chat_close(&chat);
    /* Every connection's down callback runs in here (the last ones when
     * the base loop is freed), so the table is empty afterwards. */
    example_server_close(&es);
    ASSERT(chat.count == 0);
    free(chat.conns);
    pthread_cond_destroy(&chat.idle);
    pthread_mutex_destroy(&chat.mutex);
    return rc;
}
