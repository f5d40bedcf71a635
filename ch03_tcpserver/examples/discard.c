/*
 * discard: reads and throws away everything; prints the rate every second.
 *
 *   build/examples/discard [port]          (default 9001)
 *   then, for example: head -c 1G /dev/zero > /dev/tcp/127.0.0.1/9001
 */
#include "base/log.h"
#include "examples/args.h"
#include "net/event_loop.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct stats {
    uint64_t bytes;
    uint64_t messages;
};

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct stats *st = ctx;
    (void)conn;
    (void)receive_time_us;
    st->bytes += buffer_readable(input);
    st->messages++;
    buffer_retrieve_all(input);
}

static void report(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct stats *st = ctx;
    (void)loop;
    (void)id;
    if (st->bytes > 0)
        printf("%.3f MiB/s in %llu reads\n", (double)st->bytes / 1048576.0,
               (unsigned long long)st->messages);
    fflush(stdout);
    *st = (struct stats){0, 0};
}

int main(int argc, char **argv)
{
    long port = 9001;
    if (!arg_long(argc, argv, 1, 0, 65535, &port)) {
        fprintf(stderr, "usage: discard [port]\n");
        return 2;
    }
    struct event_loop *loop = event_loop_new();
    struct inet_address addr;
    inet_address_loopback(&addr, (uint16_t)port, false);
    struct tcp_server *server =
        loop != NULL ? tcp_server_new(loop, &addr, "discard", 0) : NULL;
    if (server == NULL) {
        fprintf(stderr, "discard: %s\n", strerror(errno));
        event_loop_free(loop);
        return 1;
    }
    struct stats st = {0, 0};
    struct tcp_callbacks cb = {.on_message = on_message, .ctx = &st};
    tcp_server_set_callbacks(server, &cb);
    event_loop_run_every(loop, 1000000, report, &st);
    int rc = tcp_server_start(server);
    if (rc == 0) {
        printf("discard on 127.0.0.1:%ld\n", port);
        fflush(stdout);
        rc = event_loop_run(loop);
    } else {
        fprintf(stderr, "discard: listen: %s\n", strerror(-rc));
    }
    tcp_server_free(server);
    event_loop_free(loop);
    return rc == 0 ? 0 : 1;
}
