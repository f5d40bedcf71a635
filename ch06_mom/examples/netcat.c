/*
 * netcat: standard input to a TCP server, the server's bytes to standard
 * output, on a tcp_client.
 *
 *   build/examples/netcat HOST PORT
 *   printf 'hello' | build/examples/netcat 127.0.0.1 9000   (against
 *   echo_server: prints hello and exits)
 *
 * The end of standard input half-closes the connection: what is queued
 * is written, then FIN (tcp_client_disconnect()); netcat goes on printing
 * what arrives until the server closes, then exits 0. It exits 1 when it
 * cannot connect: a refusal is retried for a short while (a server that
 * is just starting), then it gives up and says so, as a netcat user
 * expects, instead of retrying for ever.
 *
 * Standard input is a channel of the loop, read only while connected and
 * while the output queued for the socket is below a high-water mark: a
 * fast producer (a file, `yes`) is held back instead of piling up in
 * memory, and reading resumes when the socket has taken everything
 * (write-complete). A regular file cannot be watched by epoll, so for
 * anything other than a pipe, a socket or a terminal the loop uses
 * poll(2), which reports a file as always readable.
 *
 * Standard output is written fully, in the loop: while a slow reader of
 * our output holds us up, we do not read the socket, so TCP flow control
 * slows the server down in turn. Nothing else needs the loop meanwhile.
 */
#include "net/buffer.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/inet_address.h"
#include "net/tcp_client.h"
#include "net/tcp_conn.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes read from standard input at a time. */
#define NETCAT_CHUNK 65536
/* Output queued for the socket beyond which standard input waits. */
#define NETCAT_HIGH_WATER ((size_t)1024 * 1024)
/* How long refusals are retried before netcat gives up, and the delays
 * between attempts. */
#define NETCAT_CONNECT_TIMEOUT_US ((int64_t)1000 * 1000)
#define NETCAT_RETRY_INITIAL_US ((int64_t)50 * 1000)
#define NETCAT_RETRY_MAX_US ((int64_t)400 * 1000)

struct netcat {
    struct event_loop *loop;
    struct tcp_client *client;
    struct tcp_conn *conn; /* while connected: the up to the down callback */
    struct channel input;  /* standard input, which it does not own */
    char target[INET_ADDRESS_STRLEN];
    uint64_t connect_timer;
    bool input_done; /* end of standard input: half-closed */
    int status;      /* the exit status */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: netcat HOST PORT\n"
                 "  copies standard input to HOST:PORT and what comes back "
                 "to standard output;\n"
                 "  at the end of input, half-closes and exits when the "
                 "server closes\n");
}

/* Writes all of @p data to @p fd, waiting when the fd is non-blocking
 * and full. @return 0 or an errno. */
static int write_fully(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
        } else if (errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            (void)poll(&pfd, 1, -1);
        } else if (errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

static void fail(struct netcat *nc, const char *what, const char *why)
{
    fprintf(stderr, "netcat: %s %s: %s\n", what, nc->target, why);
    nc->status = 1;
    event_loop_quit(nc->loop);
}

/* --- standard input -> socket ------------------------------------------------ */

static void end_of_input(struct netcat *nc)
{
    nc->input_done = true;
    (void)channel_disable_all(&nc->input);
    /* Queued output first, then FIN; the server's reply still comes in. */
    (void)tcp_client_disconnect(nc->client);
}

static void on_input(struct channel *ch, int64_t t, void *ctx)
{
    struct netcat *nc = ctx;
    (void)t;
    char buf[NETCAT_CHUNK];
    /* One read per wake-up: the poller is level-triggered. */
    ssize_t n = read(ch->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        fprintf(stderr, "netcat: standard input: %s\n", strerror(errno));
        nc->status = 1;
    }
    if (n <= 0 || nc->conn == NULL) {
        end_of_input(nc);
        return;
    }
    int err = tcp_conn_send(nc->conn, buf, (size_t)n);
    if (err != 0) {
        /* The connection is going (its down callback ends us), and these
         * bytes with it: say so, and read no more. */
        fprintf(stderr, "netcat: %s: input lost: %s\n", nc->target,
                strerror(-err));
        nc->status = 1;
        nc->input_done = true;
        (void)channel_disable_all(ch);
        return;
    }
    if (tcp_conn_output_bytes(nc->conn) >= NETCAT_HIGH_WATER)
        (void)channel_disable_reading(ch); /* until write-complete */
}

static void on_write_complete(struct tcp_conn *conn, void *ctx)
{
    struct netcat *nc = ctx;
    (void)conn;
    if (!nc->input_done && !channel_is_reading(&nc->input))
        (void)channel_enable_reading(&nc->input);
}

/* --- socket -> standard output ----------------------------------------------- */

static void on_message(struct tcp_conn *conn, struct buffer *in, int64_t t,
                       void *ctx)
{
    struct netcat *nc = ctx;
    (void)t;
    int err = write_fully(STDOUT_FILENO, buffer_peek(in), buffer_readable(in));
    buffer_retrieve_all(in);
    if (err != 0) {
        fprintf(stderr, "netcat: standard output: %s\n", strerror(err));
        nc->status = 1;
        tcp_conn_force_close(conn);
    }
}

/* --- the connection ---------------------------------------------------------- */

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct netcat *nc = ctx;
    if (tcp_conn_connected(conn)) {
        nc->conn = conn;
        event_loop_cancel_timer(nc->loop, nc->connect_timer);
        int err = channel_enable_reading(&nc->input);
        if (err != 0) {
            fprintf(stderr, "netcat: cannot watch standard input: %s\n",
                    strerror(-err));
            nc->status = 1;
            tcp_conn_force_close(conn);
        }
        return;
    }
    /* The server closed (or reset) the connection: everything it sent
     * has been printed. */
    nc->conn = NULL;
    (void)channel_disable_all(&nc->input);
    event_loop_quit(nc->loop);
}

static void on_connect_error(struct tcp_client *client, int err, void *ctx)
{
    (void)client;
    fail(ctx, "cannot connect to", strerror(-err));
}

static void on_connect_timeout(struct event_loop *loop, uint64_t id,
                               void *ctx)
{
    struct netcat *nc = ctx;
    (void)loop;
    (void)id;
    (void)tcp_client_stop(nc->client);
    fail(nc, "cannot connect to", "refused or unreachable (gave up)");
}

/* --- set-up -------------------------------------------------------------------- */

/* HOST (a name or an address) and PORT into @p addr; false after saying
 * why on stderr. */
static bool resolve(const char *host, const char *port_text,
                    struct inet_address *addr)
{
    char *end;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (errno != 0 || end == port_text || *end != '\0' || port < 1 ||
        port > 65535) {
        usage(stderr);
        return false;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "netcat: %s: %s\n", host, gai_strerror(rc));
        return false;
    }
    rc = inet_address_from_sockaddr(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) {
        fprintf(stderr, "netcat: %s: %s\n", host, strerror(-rc));
        return false;
    }
    if (inet_address_family(addr) == AF_INET)
        addr->u.v4.sin_port = htons((uint16_t)port);
    else
        addr->u.v6.sin6_port = htons((uint16_t)port);
    return true;
}

/* epoll refuses regular files and some devices (/dev/null); poll(2)
 * takes any fd. */
static enum poller_kind poller_for_stdin(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) != 0 || S_ISFIFO(st.st_mode) ||
        S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO))
        return POLLER_DEFAULT;
    return POLLER_POLL;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    struct inet_address server;
    if (!resolve(argv[1], argv[2], &server))
        return 2;
    struct netcat nc = {.status = 0};
    inet_address_to_string(&server, nc.target, sizeof nc.target);
    nc.loop = event_loop_new_with_poller(poller_for_stdin());
    if (nc.loop == NULL) {
        fprintf(stderr, "netcat: event loop: %s\n", strerror(errno));
        return 1;
    }
    nc.client = tcp_client_new(nc.loop, &server, "netcat");
    if (nc.client == NULL) {
        fprintf(stderr, "netcat: %s\n", strerror(errno));
        event_loop_free(nc.loop);
        return 1;
    }
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .on_write_complete = on_write_complete,
                               .ctx = &nc};
    tcp_client_set_callbacks(nc.client, &cb);
    tcp_client_set_error_callback(nc.client, on_connect_error, &nc);
    (void)tcp_client_set_retry_delays(nc.client, NETCAT_RETRY_INITIAL_US,
                                      NETCAT_RETRY_MAX_US);
    channel_init(&nc.input, nc.loop, STDIN_FILENO, &nc);
    channel_set_read_fn(&nc.input, on_input);
    nc.connect_timer = event_loop_run_after(
        nc.loop, NETCAT_CONNECT_TIMEOUT_US, on_connect_timeout, &nc);
    if (nc.connect_timer == 0 || tcp_client_connect(nc.client) != 0) {
        fprintf(stderr, "netcat: %s\n", strerror(ENOMEM));
        nc.status = 1;
    } else if (event_loop_run(nc.loop) != 0) {
        fprintf(stderr, "netcat: the event loop failed\n");
        nc.status = 1;
    }
    tcp_client_free(nc.client); /* its connection goes in event_loop_free */
    channel_remove(&nc.input);
    channel_destroy(&nc.input);
    event_loop_free(nc.loop);
    return nc.status;
}
