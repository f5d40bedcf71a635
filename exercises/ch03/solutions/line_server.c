/* Exercise 03.1, a reference answer: the line protocol of line_server.h.
 *
 * Everything happens in the message callback. Complete lines are taken
 * from the front of the input buffer one by one; the bytes of a line not
 * yet complete stay in the buffer for the next call, which is what makes
 * lines split across reads and many lines in one read the same case. The
 * replies of one call are gathered in a buffer and sent once. */
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

/* What a line asks of the connection. */
enum verdict { KEEP_OPEN, CLOSE_AFTER_REPLY, CANNOT_REPLY };

static bool is_command(const char *line, size_t len, const char *command)
{
    size_t n = strlen(command);
    return len == n && memcmp(line, command, n) == 0;
}

/* Appends the reply to one line (its end already cut off) to replies. */
static enum verdict answer(struct buffer *replies, const char *line,
                           size_t len)
{
    int err;
    enum verdict v = KEEP_OPEN;
    if (is_command(line, len, "PING")) {
        err = buffer_append(replies, "+PONG\n", 6);
    } else if (len >= 4 && memcmp(line, "ECHO", 4) == 0 &&
               (len == 4 || line[4] == ' ')) {
        size_t skip = len == 4 ? 4 : 5; /* the text starts after one space */
        err = buffer_append(replies, "+", 1);
        if (err == 0)
            err = buffer_append(replies, line + skip, len - skip);
        if (err == 0)
            err = buffer_append(replies, "\n", 1);
    } else if (is_command(line, len, "QUIT")) {
        err = buffer_append(replies, "+BYE\n", 5);
        v = CLOSE_AFTER_REPLY;
    } else {
        err = buffer_append(replies, "-ERR unknown command\n", 21);
    }
    return err == 0 ? v : CANNOT_REPLY;
}

/* Answers the complete lines at the front of input, consuming them; stops
 * at a line that is not complete yet, or at the one that ends the
 * connection. */
static enum verdict answer_lines(struct line_server *s, struct buffer *input,
                                 struct buffer *replies)
{
    for (;;) {
        const char *line = buffer_peek(input);
        size_t readable = buffer_readable(input);
        const char *eol = buffer_find_eol(input);
        /* The shortest this line can turn out: without its "\n" yet, one
         * byte more than what came. Refusing as soon as that is too long
         * is what keeps a client from making us buffer without end. */
        size_t least = eol != NULL ? (size_t)(eol - line) + 1 : readable + 1;
        if (least > s->max_line) {
            buffer_retrieve_all(input);
            return buffer_append(replies, "-ERR line too long\n", 19) == 0
                       ? CLOSE_AFTER_REPLY
                       : CANNOT_REPLY;
        }
        if (eol == NULL)
            return KEEP_OPEN; /* the rest of the line comes later */
        size_t len = (size_t)(eol - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        enum verdict v = answer(replies, line, len);
        buffer_retrieve_until(input, eol + 1);
        if (v != KEEP_OPEN) {
            buffer_retrieve_all(input); /* lines after QUIT are ignored */
            return v;
        }
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct line_server *s = ctx;
    (void)receive_time_us;
    /* After QUIT or a refused line the connection is closing (shut down,
     * still reading until the client closes): what comes is ignored. */
    if (s->closing || !tcp_conn_connected(conn)) {
        buffer_retrieve_all(input);
        return;
    }
    struct buffer replies;
    buffer_init(&replies);
    enum verdict v = answer_lines(s, input, &replies);
    if (v == CANNOT_REPLY) {
        /* A reply lost would pair every later reply with the wrong line. */
        log_error("%s: no memory for a reply; closing", tcp_conn_name(conn));
        tcp_conn_force_close(conn);
    } else {
        (void)tcp_conn_send_buffer(conn, &replies); /* -EPIPE: it is gone */
        /* Graceful: FIN goes after the replies, which all arrive. */
        if (v == CLOSE_AFTER_REPLY)
            tcp_conn_shutdown(conn);
    }
    buffer_destroy(&replies);
}

struct line_server *line_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    size_t max_line)
{
    if (max_line == 0)
        max_line = LINE_SERVER_MAX_LINE;
    if (max_line < LINE_SERVER_MIN_LINE) {
        errno = EINVAL;
        return NULL;
    }
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
     * it runs, the next round's events still reach our callbacks, with
     * s as their ctx. So s is freed by a functor queued behind those
     * destructions, and ignores input from now on. */
    s->closing = true;
    tcp_server_free(s->server);
    s->server = NULL;
    if (event_loop_queue(s->loop, free_later, s) != 0)
        log_error("line server: cannot defer its free; leaking %zu bytes",
                  sizeof *s);
}
