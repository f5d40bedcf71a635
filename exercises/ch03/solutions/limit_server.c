/* Exercise 03.2, a reference answer: an echo server with a limit of its
 * own, refusing the connections beyond it politely.
 *
 * The decision is taken once, in the up callback, and written on the
 * connection itself (its context), because the down callback must know
 * which kind of connection is ending: only a served one gives a place
 * back. Counting ups and downs alone would let every refused connection
 * that closes free a place it never held. */
#include "limit_server.h"

#include "base/log.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct limit_server {
    struct event_loop *loop;
    struct tcp_server *server;
    size_t max_clients;
    size_t served;
    uint64_t refused;
};

/* The context of a served connection; a refused one keeps NULL. Any
 * non-NULL pointer would do: the server's own is at hand. */
static bool is_served(const struct tcp_conn *conn)
{
    return tcp_conn_context(conn) != NULL;
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct limit_server *s = ctx;
    if (!tcp_conn_connected(conn)) {
        if (is_served(conn)) {
            tcp_conn_set_context(conn, NULL);
            s->served--;
        }
        return;
    }
    if (s->served < s->max_clients) {
        s->served++;
        tcp_conn_set_context(conn, s);
        return;
    }
    s->refused++;
    /* Shut down, not force-closed: the reply goes out first, then FIN,
     * and the connection keeps reading (and dropping) what the client
     * sends until it closes, so the client never sees a reset. */
    (void)tcp_conn_send(conn, LIMIT_SERVER_FULL_REPLY,
                        strlen(LIMIT_SERVER_FULL_REPLY));
    tcp_conn_shutdown(conn);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    (void)ctx;
    if (is_served(conn) && tcp_conn_connected(conn))
        (void)tcp_conn_send_buffer(conn, input); /* -EPIPE: it is gone */
    else
        buffer_retrieve_all(input);
}

struct limit_server *limit_server_new(struct event_loop *loop,
                                      const struct inet_address *listen_addr,
                                      size_t max_clients)
{
    if (max_clients == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct limit_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->max_clients = max_clients;
    s->server = tcp_server_new(loop, listen_addr, "limit", 0);
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

int limit_server_start(struct limit_server *s)
{
    return tcp_server_start(s->server);
}

int limit_server_listen_address(const struct limit_server *s,
                                struct inet_address *addr)
{
    return tcp_server_listen_address(s->server, addr);
}

size_t limit_server_served(const struct limit_server *s)
{
    return s->served;
}

uint64_t limit_server_refused(const struct limit_server *s)
{
    return s->refused;
}

static void free_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    free(ctx);
}

void limit_server_free(struct limit_server *s)
{
    if (s == NULL)
        return;
    /* The connections' destruction is queued by tcp_server_free(), and
     * their down callbacks, which count places in s, run then: s must
     * outlive them, so its own free is queued behind theirs. */
    tcp_server_free(s->server);
    s->server = NULL;
    if (event_loop_queue(s->loop, free_later, s) != 0)
        log_error("limit server: cannot defer its free; leaking %zu bytes",
                  sizeof *s);
}
