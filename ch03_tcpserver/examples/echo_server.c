/*
 * echo_server: sends back every byte it receives.
 *
 *   build/examples/echo_server [port]        (default 9000; 0: any port)
 *
 * Listens on 127.0.0.1 only. This is the server that the pingpong
 * benchmark drives. Stop it with Ctrl-C (SIGINT) or SIGTERM: the server
 * frees everything on the way out (see example_server.h).
 */
#include "base/log.h"
#include "examples/args.h"
#include "examples/example_server.h"

#include <stdio.h>

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

int main(int argc, char **argv)
{
    long port = 9000;
    if (!arg_long(argc, argv, 1, 0, 65535, &port)) {
        fprintf(stderr, "usage: echo_server [port]\n");
        return 2;
    }
    struct example_server es;
    if (!example_server_open(&es, "echo_server", port))
        return 1;
    struct tcp_callbacks callbacks = {.on_connection = on_connection,
                                      .on_message = on_message};
    tcp_server_set_callbacks(es.server, &callbacks);
    int rc = example_server_run(&es);
    example_server_close(&es);
    return rc;
}
