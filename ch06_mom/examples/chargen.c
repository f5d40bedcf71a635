/*
 * chargen: sends an endless stream of text lines (RFC 864), driven by the
 * write-complete callback: each time everything queued has reached the
 * kernel, it queues the next chunk. Prints the rate every second.
 *
 *   build/examples/chargen [port]          (default 9002)
 *   then, for example: cat < /dev/tcp/127.0.0.1/9002 > /dev/null
 */
#include "examples/args.h"
#include "examples/example_server.h"

#include <stdio.h>

#define LINE_LEN 72
#define LINES 94 /* one line per printable start character */

struct chargen {
    char text[LINES * (LINE_LEN + 2)];
    uint64_t bytes;
};

static void send_chunk(struct tcp_conn *conn, struct chargen *cg)
{
    if (tcp_conn_send(conn, cg->text, sizeof cg->text) == 0)
        cg->bytes += sizeof cg->text;
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    if (tcp_conn_connected(conn)) {
        (void)tcp_conn_set_tcp_nodelay(conn, true);
        send_chunk(conn, ctx);
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)conn;
    (void)receive_time_us;
    (void)ctx;
    buffer_retrieve_all(input); /* chargen ignores what it receives */
}

static void on_write_complete(struct tcp_conn *conn, void *ctx)
{
    send_chunk(conn, ctx);
}

static void report(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct chargen *cg = ctx;
    (void)loop;
    (void)id;
    if (cg->bytes > 0) {
        printf("%.3f MiB/s\n", (double)cg->bytes / 1048576.0);
        fflush(stdout);
    }
    cg->bytes = 0;
}

int main(int argc, char **argv)
{
    long port = 9002;
    if (!arg_long(argc, argv, 1, 0, 65535, &port)) {
        fprintf(stderr, "usage: chargen [port]\n");
        return 2;
    }
    static struct chargen cg;
    for (int line = 0; line < LINES; line++) { /* the classic pattern */
        char *p = cg.text + (size_t)line * (LINE_LEN + 2);
        for (int i = 0; i < LINE_LEN; i++)
            p[i] = (char)(33 + (line + i) % 94);
        p[LINE_LEN] = '\r';
        p[LINE_LEN + 1] = '\n';
    }
    struct example_server es;
    if (!example_server_open(&es, "chargen", port))
        return 1;
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .on_write_complete = on_write_complete,
                               .ctx = &cg};
    tcp_server_set_callbacks(es.server, &cb);
    event_loop_run_every(es.loop, 1000000, report, &cg);
    int rc = example_server_run(&es);
    example_server_close(&es);
    return rc;
}
