/*
 * proto_echo: echo_server again, written as a protocol (net/protocol.h):
 * an operations table instead of tcp_callbacks, one instance per
 * connection. Echo needs no per-connection state and no partial input,
 * so the protocol is one line; compare with echo_server.c.
 *
 *   build/examples/proto_echo [port] [io_threads]
 *                                   (defaults 9000 and 0; port 0: any port)
 *
 * Listens on 127.0.0.1 only. With io_threads > 0, each connection's
 * protocol runs in one of that many I/O loops. Stop it with Ctrl-C.
 */
#include "base/log.h"
#include "examples/args.h"
#include "examples/example_server.h"
#include "net/event_loop_pool.h"
#include "net/protocol.h"

#include <stdio.h>
#include <string.h>

static void echo_made(struct protocol *p)
{
    struct tcp_conn *conn = protocol_connection(p);
    char peer[INET_ADDRESS_STRLEN];
    inet_address_to_string(tcp_conn_peer_address(conn), peer, sizeof peer);
    log_info("%s from %s is up", tcp_conn_name(conn), peer);
    (void)tcp_conn_set_tcp_nodelay(conn, true);
}

static void echo_received(struct protocol *p, const void *data, size_t len)
{
    (void)protocol_write(p, data, len);
}

static void echo_lost(struct protocol *p)
{
    log_info("%s is down", tcp_conn_name(protocol_connection(p)));
}

static const struct protocol_ops echo_ops = {
    .connection_made = echo_made,
    .data_received = echo_received,
    .connection_lost = echo_lost,
};

static const struct protocol_factory echo_factory = {.ops = &echo_ops};

static void usage(FILE *out)
{
    fprintf(out, "usage: proto_echo [port] [io_threads]\n"
                 "  port        0-65535, default 9000 (0: any free port)\n"
                 "  io_threads  0-%d, default 0\n",
            EVENT_LOOP_POOL_MAX_THREADS);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    long port = 9000, threads = 0;
    if (argc > 3 || !arg_long(argc, argv, 1, 0, 65535, &port) ||
        !arg_long(argc, argv, 2, 0, EVENT_LOOP_POOL_MAX_THREADS, &threads)) {
        usage(stderr);
        return 2;
    }
    struct example_server es;
    if (!example_server_open(&es, "proto_echo", port))
        return 1;
    protocol_server_attach(es.server, &echo_factory);
    tcp_server_set_thread_count(es.server, (int)threads);
    int rc = example_server_run(&es);
    example_server_close(&es);
    return rc;
}
