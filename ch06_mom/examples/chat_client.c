/*
 * chat_client: talks to chat_server. Each line of standard input (without
 * its newline) goes out as one frame; each frame that comes back is
 * printed as one line on standard output. Messages about the connection
 * go to standard error, so that stdout holds only the conversation.
 *
 *   build/examples/chat_client [ip] [port]   (defaults 127.0.0.1 and 9000)
 *   (echo hello; sleep 1) | build/examples/chat_client
 *
 * Everything runs in the main thread's loop: the tcp_client and its
 * connection, and a channel on stdin that is watched only once the
 * connection is up (a line read earlier would have nowhere to go). At
 * the end of stdin the client disconnects gracefully: what it sent is
 * flushed, then FIN; the server still relays our last lines back and then
 * closes, and the program exits when the connection is down. Ctrl-C
 * (SIGINT) or SIGTERM stops it at once, freeing everything on the way out.
 *
 * Exit status: 0 after the end of input or a signal; 1 when the
 * connection was lost first or could not be made; 2 for bad arguments.
 */
#include "base/log.h"
#include "examples/args.h"
#include "examples/chat.h"
#include "net/buffer.h"
#include "net/channel.h"
#include "net/codec.h"
#include "net/event_loop.h"
#include "net/tcp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct chat_client {
    struct event_loop *loop;
    struct tcp_client *client;
    struct tcp_conn *conn; /* while up; the client holds its reference */
    struct channel in;     /* stdin, which it does not own */
    bool in_watched;       /* the channel is known to the loop */
    struct buffer line;    /* stdin bytes not yet a whole line */
    bool skipping;         /* dropping the rest of a too-long line */
    bool input_done;       /* stdin ended: disconnecting */
    bool stopping;         /* signal or tear-down: just go */
    int status;            /* exit status */
    struct channel quit;   /* the read end of the signal pipe */
};

/* --- signals: one byte into a pipe that the loop watches ----------------- */

static int signal_pipe[2] = {-1, -1};

static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    (void)!write(signal_pipe[1], "x", 1);
    errno = saved;
}

static void on_quit(struct channel *ch, int64_t t, void *ctx)
{
    struct chat_client *c = ctx;
    (void)t;
    c->stopping = true;
    event_loop_quit(ch->loop);
}

/* --- stdin -> frames ------------------------------------------------------ */

static void send_line(struct chat_client *c, const char *text, size_t len)
{
    if (c->conn == NULL)
        return;
    int err = codec_send(c->conn, text, len);
    if (err != 0)
        fprintf(stderr, "chat_client: line not sent: %s\n",
                codec_strerror(err));
}

static void too_long(void)
{
    fprintf(stderr, "chat_client: a line longer than %zu bytes dropped\n",
            CHAT_MAX_LINE);
}

/* Sends every whole line in c->line; at the end of input also the last
 * one, which has no newline. A line longer than CHAT_MAX_LINE is dropped
 * (the server would close the connection), and a partial one is dropped
 * as soon as it is too long, so that it is never buffered whole. */
static void send_lines(struct chat_client *c, bool at_end)
{
    const char *eol;
    while ((eol = buffer_find_eol(&c->line)) != NULL) {
        size_t len = (size_t)(eol - buffer_peek(&c->line));
        if (c->skipping)
            c->skipping = false; /* its end: said when it began */
        else if (len > CHAT_MAX_LINE)
            too_long();
        else
            send_line(c, buffer_peek(&c->line), len);
        buffer_retrieve(&c->line, len + 1);
    }
    if (buffer_readable(&c->line) > CHAT_MAX_LINE) {
        if (!c->skipping)
            too_long();
        c->skipping = true;
        buffer_retrieve_all(&c->line);
    }
    if (at_end) {
        if (!c->skipping && buffer_readable(&c->line) > 0)
            send_line(c, buffer_peek(&c->line), buffer_readable(&c->line));
        buffer_retrieve_all(&c->line);
    }
}

static void end_of_input(struct chat_client *c)
{
    c->input_done = true;
    if (c->in_watched)
        (void)channel_disable_all(&c->in);
    /* Graceful: our output is flushed, then FIN; the server answers by
     * closing, and the down callback ends the loop. */
    (void)tcp_client_disconnect(c->client);
}

/* Reads what stdin has (one read: the loop is level-triggered, so what is
 * left makes it readable again). */
static void read_stdin(struct chat_client *c)
{
    ssize_t n = buffer_read_fd(&c->line, STDIN_FILENO);
    if (n == -EAGAIN || n == -EINTR)
        return;
    if (n < 0)
        fprintf(stderr, "chat_client: stdin: %s\n", strerror((int)-n));
    send_lines(c, n <= 0);
    if (n <= 0)
        end_of_input(c);
}

static void on_stdin(struct channel *ch, int64_t t, void *ctx)
{
    (void)ch;
    (void)t;
    read_stdin(ctx);
}

static void watch_stdin(struct chat_client *c)
{
    channel_init(&c->in, c->loop, STDIN_FILENO, c);
    channel_set_read_fn(&c->in, on_stdin);
    int err = channel_enable_reading(&c->in);
    if (err == 0) {
        c->in_watched = true;
        return;
    }
    channel_destroy(&c->in);
    if (err != -EPERM) {
        fprintf(stderr, "chat_client: cannot watch stdin: %s\n",
                strerror(-err));
        c->status = 1;
        end_of_input(c);
        return;
    }
    /* epoll refuses regular files and /dev/null, which are always
     * readable anyway: read them to the end now, without the loop. */
    while (!c->input_done)
        read_stdin(c);
}

/* --- the connection ------------------------------------------------------- */

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct chat_client *c = ctx;
    char peer[INET_ADDRESS_STRLEN];
    inet_address_to_string(tcp_conn_peer_address(conn), peer, sizeof peer);
    if (tcp_conn_connected(conn)) {
        fprintf(stderr, "chat_client: connected to %s\n", peer);
        (void)tcp_conn_set_tcp_nodelay(conn, true); /* lines are small */
        c->conn = conn;
        if (!c->in_watched && !c->input_done)
            watch_stdin(c);
        return;
    }
    c->conn = NULL;
    if (c->stopping)
        return; /* being freed: the loop is not running */
    if (!c->input_done) {
        fprintf(stderr, "chat_client: connection to %s lost\n", peer);
        c->status = 1;
    }
    event_loop_quit(c->loop);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    (void)ctx;
    const char *text;
    size_t len;
    int r;
    while ((r = codec_peek(input, CHAT_MAX_LINE, &text, &len)) == 1) {
        fwrite(text, 1, len, stdout);
        putchar('\n');
        codec_consume(input, len);
    }
    fflush(stdout);
    if (r < 0) {
        fprintf(stderr, "chat_client: from the server: %s: closing\n",
                codec_strerror(r));
        tcp_conn_force_close(conn);
    }
}

static void on_connect_error(struct tcp_client *client, int err, void *ctx)
{
    struct chat_client *c = ctx;
    (void)client;
    fprintf(stderr, "chat_client: cannot connect: %s\n", strerror(-err));
    c->status = 1;
    event_loop_quit(c->loop);
}

/* --- main ----------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: chat_client [ip] [port]\n"
            "  Connects to a chat_server at ip:port (default 127.0.0.1:%d),\n"
            "  sends each line of stdin, prints each line it receives.\n"
            "  Ends at the end of stdin (Ctrl-D), or with Ctrl-C.\n",
            CHAT_DEFAULT_PORT);
}

static bool watch_signals(struct chat_client *c)
{
    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return false;
    channel_init(&c->quit, c->loop, signal_pipe[0], c);
    channel_set_read_fn(&c->quit, on_quit);
    if (channel_enable_reading(&c->quit) != 0) {
        channel_destroy(&c->quit);
        close(signal_pipe[0]);
        close(signal_pipe[1]);
        return false;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return true;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    const char *ip = argc > 1 ? argv[1] : "127.0.0.1";
    long port = CHAT_DEFAULT_PORT;
    struct inet_address server;
    if (argc > 3 || !arg_long(argc, argv, 2, 1, 65535, &port) ||
        inet_address_from_ip(&server, ip, (uint16_t)port) != 0) {
        usage(stderr);
        return 2;
    }
    struct chat_client c = {.status = 0};
    buffer_init(&c.line);
    c.loop = event_loop_new();
    if (c.loop == NULL) {
        fprintf(stderr, "chat_client: %s\n", strerror(errno));
        return 1;
    }
    c.client = tcp_client_new(c.loop, &server, "chat_client");
    if (c.client == NULL || !watch_signals(&c)) {
        fprintf(stderr, "chat_client: %s\n", strerror(errno));
        tcp_client_free(c.client);
        event_loop_free(c.loop);
        return 1;
    }
    struct tcp_callbacks callbacks = {
        .on_connection = on_connection, .on_message = on_message, .ctx = &c};
    tcp_client_set_callbacks(c.client, &callbacks);
    tcp_client_set_error_callback(c.client, on_connect_error, &c);
    fprintf(stderr, "chat_client: connecting to %s:%ld\n", ip, port);
    (void)tcp_client_connect(c.client); /* refusals are retried */
    if (event_loop_run(c.loop) != 0)
        c.status = 1;

    c.stopping = true;
    tcp_client_free(c.client); /* its connection goes in event_loop_free */
    if (c.in_watched) {
        channel_remove(&c.in);
        channel_destroy(&c.in);
    }
    channel_remove(&c.quit);
    channel_destroy(&c.quit);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    event_loop_free(c.loop);
    buffer_destroy(&c.line);
    return c.status;
}
