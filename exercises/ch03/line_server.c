/* Exercise 03.1: the line protocol of line_server.h.
 *
 * The server around the protocol is given: it is created, started and
 * freed below, and every connection's input reaches on_message(). What is
 * missing is the protocol itself: see exercises/ch03/README.md, 03.1. */
#include "line_server.h"

#include "base/log.h"
#include "net/buffer.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct line_server {
    struct event_loop *loop;
    struct tcp_server *server;
    size_t max_line;
    bool closing; /* line_server_free() ran: input is ignored */
};

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct line_server *s = ctx;
    (void)receive_time_us;
    (void)s;
    /* TODO (README 03.1): answer each complete line at the front of
     * input (buffer_find_eol, buffer_retrieve_until) and leave a line not
     * yet complete in the buffer; refuse a line longer than s->max_line
     * as soon as that is certain; close with tcp_conn_shutdown() after
     * QUIT or a refused line, and ignore what comes after.
     * For now the input is thrown away and the connection closed. */
    buffer_retrieve_all(input);
    tcp_conn_shutdown(conn);
}

struct line_server *line_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    size_t max_line)
{
    if (max_line == 0)
        max_line = LINE_SERVER_MAX_LINE;
    /* TODO (README 03.1): refuse a max_line below LINE_SERVER_MIN_LINE
     * (NULL, errno EINVAL). */
    struct line_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->max_line = max_line;
    s->server = tcp_server_new(loop, listen_addr, "line", 0);
    if (s->server == NULL) {
        int err = errno;
        free(s);
        errno = err;
        return NULL;
    }
    struct tcp_callbacks cb = {.on_message = on_message, .ctx = s};
    tcp_server_set_callbacks(s->server, &cb);
    return s;
}

int line_server_start(struct line_server *s)
{
    return tcp_server_start(s->server);
}

int line_server_listen_address(const struct line_server *s,
                               struct inet_address *addr)
{
    return tcp_server_listen_address(s->server, addr);
}

static void free_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    free(ctx);
}

void line_server_free(struct line_server *s)
{
    if (s == NULL)
        return;
    /* tcp_server_free() queues the destruction of each connection; until
     * it runs, the next round's events still reach on_message(), with s
     * as its ctx. So s is freed by a functor queued behind those
     * destructions, and ignores input from now on (use s->closing). */
    s->closing = true;
    tcp_server_free(s->server);
    s->server = NULL;
    if (event_loop_queue(s->loop, free_later, s) != 0)
        log_error("line server: cannot defer its free; leaking %zu bytes",
                  sizeof *s);
}
