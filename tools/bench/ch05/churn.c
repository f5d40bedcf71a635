/*
 * churn: connection churn on this chapter's tcp_client (the workload and
 * the output: churn_common.h).
 *
 *   churn -p PORT [-n IN_FLIGHT] [-t SECONDS] [-g]
 *
 * One loop, one tcp_client per slot, reused for every connection of the
 * slot: the way a user of the library writes a client that opens a
 * connection per request. Closing, as the libuv twin does: by default
 * tcp_conn_force_close() once the reply is in (nothing is queued then, so
 * the server sees a plain FIN); with -g tcp_client_disconnect() (FIN,
 * then the close path once the server's FIN arrives).
 */
#include "churn_common.h"

#include "base/timestamp.h"
#include "net/event_loop.h"
#include "net/tcp_client.h"

#include <errno.h>
#include <string.h>

struct churn;

struct slot {
    struct churn *ch;
    struct tcp_client *client;
    size_t got;      /* bytes of the reply read so far */
    bool replied;    /* the round trip of this connection is done */
    uint64_t done;   /* connections with a completed round trip */
    uint64_t failed; /* connections lost before their reply */
};

struct churn {
    struct churn_options opt;
    struct event_loop *loop;
    struct slot *slots;
    bool stopping;
    int64_t start_us;
    double start_cpu_us;
    char message[MESSAGE_LEN];
};

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct slot *s = ctx;
    if (tcp_conn_connected(conn)) {
        s->got = 0;
        s->replied = false;
        if (tcp_conn_send(conn, s->ch->message, MESSAGE_LEN) != 0)
            tcp_conn_force_close(conn);
        return;
    }
    if (s->ch->stopping)
        return;
    if (!s->replied)
        s->failed++;
    /* The client starts the next connection once this one has left it,
     * right after this callback. */
    (void)tcp_client_connect(s->client);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct slot *s = ctx;
    (void)receive_time_us;
    s->got += buffer_readable(input);
    buffer_retrieve_all(input);
    /* Once stopping, the client may be gone already: on_end frees them
     * all, and this connection's input may still be in the same batch. */
    if (s->ch->stopping || s->replied || s->got < MESSAGE_LEN)
        return;
    s->replied = true;
    s->done++;
    if (s->ch->opt.graceful)
        (void)tcp_client_disconnect(s->client);
    else
        tcp_conn_force_close(conn);
}

static void on_connect_error(struct tcp_client *client, int err, void *ctx)
{
    struct slot *s = ctx;
    (void)client;
    fprintf(stderr, "churn: connect: %s\n", strerror(-err));
    s->failed++;
}

static void on_end(struct event_loop *loop, uint64_t timer_id, void *ctx)
{
    struct churn *ch = ctx;
    (void)timer_id;
    double seconds = (double)(timestamp_mono_us() - ch->start_us) / 1e6;
    double cpu_us = churn_cpu_us() - ch->start_cpu_us;
    uint64_t done = 0, failed = 0;
    for (long i = 0; i < ch->opt.in_flight; i++) {
        done += ch->slots[i].done;
        failed += ch->slots[i].failed;
    }
    churn_report("churn", done, failed, seconds, cpu_us);
    ch->stopping = true;
    for (long i = 0; i < ch->opt.in_flight; i++) {
        tcp_client_free(ch->slots[i].client);
        ch->slots[i].client = NULL;
    }
    event_loop_quit(loop);
}

int main(int argc, char **argv)
{
    static struct churn ch;
    churn_parse_args(argc, argv, "churn", &ch.opt);
    bench_raise_fd_limit();
    memset(ch.message, 'x', sizeof ch.message);
    ch.loop = event_loop_new();
    ch.slots = calloc((size_t)ch.opt.in_flight, sizeof *ch.slots);
    if (ch.loop == NULL || ch.slots == NULL) {
        fprintf(stderr, "churn: %s\n", strerror(errno));
        return 1;
    }
    struct inet_address server;
    inet_address_loopback(&server, (uint16_t)ch.opt.port, false);
    for (long i = 0; i < ch.opt.in_flight; i++) {
        struct slot *s = &ch.slots[i];
        s->ch = &ch;
        s->client = tcp_client_new(ch.loop, &server, "churn");
        if (s->client == NULL) {
            fprintf(stderr, "churn: %s\n", strerror(errno));
            return 1;
        }
        struct tcp_callbacks cb = {.on_connection = on_connection,
                                   .on_message = on_message,
                                   .ctx = s};
        tcp_client_set_callbacks(s->client, &cb);
        tcp_client_set_error_callback(s->client, on_connect_error, s);
    }
    if (event_loop_run_after(ch.loop, ch.opt.seconds * 1000000, on_end,
                             &ch) == 0) {
        fprintf(stderr, "churn: %s\n", strerror(errno));
        return 1;
    }
    ch.start_us = timestamp_mono_us();
    ch.start_cpu_us = churn_cpu_us();
    for (long i = 0; i < ch.opt.in_flight; i++)
        (void)tcp_client_connect(ch.slots[i].client);
    int rc = event_loop_run(ch.loop);
    event_loop_free(ch.loop);
    free(ch.slots);
    if (rc != 0) {
        fprintf(stderr, "churn: the loop failed: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
