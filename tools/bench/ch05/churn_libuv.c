/*
 * churn_libuv: the connection churn of churn.c on libuv 1.44 (the
 * workload and the output: churn_common.h).
 *
 *   churn_libuv -p PORT [-n IN_FLIGHT] [-t SECONDS] [-g]
 *
 * Written at libuv's best: one static read buffer for all slots, and
 * uv_try_write() first, so that the 64 bytes leave without a write
 * request (a uv_write_t only if the kernel does not take them all). A
 * closed handle cannot connect again, so each connection initialises the
 * slot's handle anew once the old one's close callback has run. Closing:
 * by default uv_close() as soon as the reply is in; with -g uv_shutdown()
 * first, and uv_close() when the server's FIN arrives (UV_EOF).
 */
#include "churn_common.h"

#include <string.h>
#include <uv.h>

struct churn;

struct slot {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    struct churn *ch;
    size_t got;      /* bytes of the reply read so far */
    bool replied;    /* the round trip of this connection is done */
    bool open;       /* the handle is initialised and not closing */
    uint64_t done;   /* connections with a completed round trip */
    uint64_t failed; /* connections lost before their reply */
};

struct churn {
    struct churn_options opt;
    uv_loop_t *loop;
    struct sockaddr_in server;
    struct slot *slots;
    bool stopping;
    uint64_t start_ns;
    double start_cpu_us;
    char message[MESSAGE_LEN];
};

static char read_buf[65536];

static void start_connect(struct slot *s);

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_closed(uv_handle_t *handle)
{
    struct slot *s = handle->data;
    if (!s->ch->stopping)
        start_connect(s);
}

static void close_slot(struct slot *s)
{
    if (!s->open)
        return;
    s->open = false;
    if (!s->replied && !s->ch->stopping)
        s->failed++;
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    if (status < 0 && status != UV_ECANCELED)
        close_slot(req->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    if (status < 0 && status != UV_ECANCELED)
        close_slot(req->data);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct slot *s = stream->data;
    (void)buf;
    if (nread < 0) { /* UV_EOF after our shutdown, or an error */
        close_slot(s);
        return;
    }
    s->got += (size_t)nread;
    if (s->replied || s->got < MESSAGE_LEN)
        return;
    s->replied = true;
    s->done++;
    if (!s->ch->opt.graceful) {
        close_slot(s);
        return;
    }
    s->shutdown_req.data = s;
    if (uv_shutdown(&s->shutdown_req, stream, on_shutdown) != 0)
        close_slot(s);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct slot *s = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            close_slot(s);
        return;
    }
    uv_stream_t *stream = (uv_stream_t *)&s->tcp;
    if (uv_read_start(stream, on_alloc, on_read) != 0) {
        close_slot(s);
        return;
    }
    uv_buf_t out = uv_buf_init(s->ch->message, MESSAGE_LEN);
    int sent = uv_try_write(stream, &out, 1);
    if (sent == MESSAGE_LEN)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        close_slot(s);
        return;
    }
    size_t off = sent < 0 ? 0 : (size_t)sent;
    out = uv_buf_init(s->ch->message + off, (unsigned)(MESSAGE_LEN - off));
    s->write_req.data = s;
    if (uv_write(&s->write_req, stream, &out, 1, on_written) != 0)
        close_slot(s);
}

static void start_connect(struct slot *s)
{
    s->got = 0;
    s->replied = false;
    if (uv_tcp_init(s->ch->loop, &s->tcp) != 0) {
        s->failed++;
        return;
    }
    s->tcp.data = s;
    s->connect_req.data = s;
    s->open = true;
    if (uv_tcp_connect(&s->connect_req, &s->tcp,
                       (const struct sockaddr *)&s->ch->server,
                       on_connect) != 0)
        close_slot(s);
}

static void on_timer_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void on_end(uv_timer_t *timer)
{
    struct churn *ch = timer->data;
    double seconds = (double)(uv_hrtime() - ch->start_ns) / 1e9;
    double cpu_us = churn_cpu_us() - ch->start_cpu_us;
    uint64_t done = 0, failed = 0;
    for (long i = 0; i < ch->opt.in_flight; i++) {
        done += ch->slots[i].done;
        failed += ch->slots[i].failed;
    }
    churn_report("churn_libuv", done, failed, seconds, cpu_us);
    ch->stopping = true;
    for (long i = 0; i < ch->opt.in_flight; i++)
        close_slot(&ch->slots[i]);
    uv_close((uv_handle_t *)timer, on_timer_closed);
}

int main(int argc, char **argv)
{
    static struct churn ch;
    churn_parse_args(argc, argv, "churn_libuv", &ch.opt);
    bench_raise_fd_limit();
    bench_ignore_sigpipe();
    memset(ch.message, 'x', sizeof ch.message);
    ch.loop = uv_default_loop();
    ch.slots = calloc((size_t)ch.opt.in_flight, sizeof *ch.slots);
    if (ch.slots == NULL) {
        fprintf(stderr, "churn_libuv: out of memory\n");
        return 1;
    }
    uv_ip4_addr("127.0.0.1", (int)ch.opt.port, &ch.server);
    uv_timer_t timer;
    uv_timer_init(ch.loop, &timer);
    timer.data = &ch;
    uv_timer_start(&timer, on_end, (uint64_t)ch.opt.seconds * 1000, 0);
    ch.start_ns = uv_hrtime();
    ch.start_cpu_us = churn_cpu_us();
    for (long i = 0; i < ch.opt.in_flight; i++) {
        ch.slots[i].ch = &ch;
        start_connect(&ch.slots[i]);
    }
    uv_run(ch.loop, UV_RUN_DEFAULT);
    uv_loop_close(ch.loop);
    free(ch.slots);
    return 0;
}
