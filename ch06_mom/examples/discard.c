/*
 * discard: reads and throws away everything; prints the rate every second.
 *
 *   build/examples/discard [port]          (default 9001)
 *   then, for example: head -c 1G /dev/zero > /dev/tcp/127.0.0.1/9001
 */
#include "examples/args.h"
#include "examples/example_server.h"

#include <stdio.h>

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
    struct example_server es;
    if (!example_server_open(&es, "discard", port))
        return 1;
    struct stats st = {0, 0};
    struct tcp_callbacks cb = {.on_message = on_message, .ctx = &st};
    tcp_server_set_callbacks(es.server, &cb);
    event_loop_run_every(es.loop, 1000000, report, &st);
    int rc = example_server_run(&es);
    example_server_close(&es);
    return rc;
}
