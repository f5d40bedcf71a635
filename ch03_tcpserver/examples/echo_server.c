/*
 * echo_server: sends back every byte it receives.
 *
 *   build/examples/echo_server [port]        (default 9000; 0: any port)
 *
 * Listens on 127.0.0.1 only. This is the server that the pingpong
 * benchmark drives. Stop it with Ctrl-C (SIGINT) or SIGTERM: the signal
 * is turned into a quit of the loop through a self-pipe, so the server
 * frees everything on the way out.
 */
#include "base/log.h"
#include "examples/args.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    (void)ctx;
    char peer[INET_ADDRESS_STRLEN];
    inet_address_to_string(tcp_conn_peer_address(conn), peer, sizeof peer);
    log_info("%s from %s is %s", tcp_conn_name(conn), peer,
             tcp_conn_connected(conn) ? "up" : "down");
    if (tcp_conn_connected(conn))
        (void)tcp_conn_set_tcp_nodelay(conn, true);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    (void)ctx;
    (void)tcp_conn_send_buffer(conn, input);
}

/* SIGINT/SIGTERM -> one byte into a pipe -> a channel in the loop. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    (void)!write(signal_pipe[1], "x", 1);
    errno = saved;
}

static void on_signal_readable(struct channel *ch, int64_t t, void *ctx)
{
    (void)t;
    (void)ctx;
    log_info("signal received: quitting");
    event_loop_quit(ch->loop);
}

int main(int argc, char **argv)
{
    long port = 9000;
    if (!arg_long(argc, argv, 1, 0, 65535, &port)) {
        fprintf(stderr, "usage: echo_server [port]\n");
        return 2;
    }
    struct event_loop *loop = event_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "echo_server: %s\n", strerror(errno));
        return 1;
    }
    struct inet_address addr;
    inet_address_loopback(&addr, (uint16_t)port, false);
    struct tcp_server *server = tcp_server_new(loop, &addr, "echo", 0);
    if (server == NULL || pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "echo_server: port %ld: %s\n", port, strerror(errno));
        tcp_server_free(server);
        event_loop_free(loop);
        return 1;
    }
    struct tcp_callbacks callbacks = {.on_connection = on_connection,
                                      .on_message = on_message};
    tcp_server_set_callbacks(server, &callbacks);

    struct channel sig;
    channel_init(&sig, loop, signal_pipe[0], NULL);
    channel_set_read_fn(&sig, on_signal_readable);
    (void)channel_enable_reading(&sig);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = tcp_server_start(server);
    if (rc == 0) {
        struct inet_address bound;
        char text[INET_ADDRESS_STRLEN];
        tcp_server_listen_address(server, &bound);
        printf("echo_server listening on %s\n",
               inet_address_to_string(&bound, text, sizeof text));
        fflush(stdout);
        rc = event_loop_run(loop);
    } else {
        fprintf(stderr, "echo_server: listen: %s\n", strerror(-rc));
    }
    tcp_server_free(server);
    channel_remove(&sig);
    channel_destroy(&sig);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    event_loop_free(loop);
    return rc == 0 ? 0 : 1;
}
