/*
 * echo_server: sends back every byte it receives.
 *
 *   build/examples/echo_server [port] [io_threads]
 *                                   (defaults 9000 and 0; port 0: any port)
 *
 * Listens on 127.0.0.1 only. With io_threads > 0, connections are spread
 * over that many I/O loop threads; the main thread only accepts. This is
 * the server that the pingpong benchmark drives. Stop it with Ctrl-C
 * (SIGINT) or SIGTERM: the server frees everything on the way out (see
 * example_server.h).
 */
#include "base/log.h"
#include "examples/args.h"
#include "examples/example_server.h"
#include "net/event_loop_pool.h"

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
    long port = 9000, threads = 0;
    if (!arg_long(argc, argv, 1, 0, 65535, &port) ||
        !arg_long(argc, argv, 2, 0, EVENT_LOOP_POOL_MAX_THREADS, &threads)) {
        fprintf(stderr, "usage: echo_server [port] [io_threads]\n");
        return 2;
    }
    struct example_server es;
    if (!example_server_open(&es, "echo_server", port))
        return 1;
    struct tcp_callbacks callbacks = {.on_connection = on_connection,
                                      .on_message = on_message};
    tcp_server_set_callbacks(es.server, &callbacks);
    tcp_server_set_thread_count(es.server, (int)threads);
    int rc = example_server_run(&es);
    example_server_close(&es);
    return rc;
}
