/*
 * pingpong_client: muduo's pingpong benchmark client, built on this
 * library's tcp_client.
 *
 *   build/examples/pingpong_client -p PORT [-s SESSIONS] [-b BLOCK]
 *       [-t SECONDS] [-T IO_THREADS] [-h HOST]
 *
 * SESSIONS clients connect to HOST:PORT (default 127.0.0.1), spread
 * round-robin over the main thread's loop and IO_THREADS loop threads.
 * Each session sends one block of BLOCK bytes as soon as it is up, then
 * sends back whatever it reads, so that the block bounces between it and
 * an echo server. The clock starts when the last session is up; SECONDS
 * later the program prints the bytes read by all sessions divided by the
 * time, in MiB/s: one number on one line, as the bare epoll client of the
 * benchmarks prints, so that the same scripts read both.
 *
 * Counting costs nothing shared: each session owns its counter, which
 * only its loop's thread writes; the main thread sums the counters when
 * the clock starts and when it stops. The counters are atomics only so
 * that those two reads from another thread are well defined: a relaxed
 * load and store by the single writer compile to plain moves, no locked
 * instruction, and each counter has a cache line of its own.
 */
#include "base/count_down_latch.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/tcp_client.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_SESSIONS 100000
#define MAX_BLOCK (1L << 20)
#define MAX_SECONDS 3600
/* Sessions that are not all up by then mean no server, or one that
 * cannot take them all: the measurement would be meaningless. */
#define CONNECT_TIMEOUT_US ((int64_t)10 * 1000 * 1000)
#define CACHE_LINE 64

struct pingpong;

struct session {
    /* Bytes read: written by the session's loop only (see the top). */
    _Alignas(CACHE_LINE) atomic_uint_least64_t bytes_read;
    struct pingpong *pp;
    struct event_loop *loop;
    struct tcp_client *client; /* written in its loop before the latch */
};

struct pingpong {
    /* Immutable once the loops run. */
    struct inet_address server;
    char *block;
    size_t block_len;
    long seconds;
    long session_count;
    struct session *sessions;
    struct event_loop *base;

    /* Any thread. */
    atomic_long up;       /* sessions that are connected */
    atomic_bool stopping; /* the measurement is over: closes are expected */
    atomic_int error;     /* the first failure (a negative errno), or 0 */
    struct count_down_latch created;

    /* Base loop only. */
    uint64_t connect_timer;
    int64_t start_us;
    uint64_t start_bytes;
    bool stopped;
    bool timed_out; /* not all sessions came up in time */
    double mib_per_s;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pingpong_client -p PORT [-s SESSIONS] [-b BLOCK] "
            "[-t SECONDS] [-T IO_THREADS] [-h HOST]\n"
            "  -p PORT        the echo server's port (1-65535), required\n"
            "  -s SESSIONS    connections (1-%d, default 1)\n"
            "  -b BLOCK       bytes each session sends first (1-%ld, "
            "default 4096)\n"
            "  -t SECONDS     measuring time (1-%d, default 3)\n"
            "  -T IO_THREADS  loop threads besides the main one (0-%d, "
            "default 0)\n"
            "  -h HOST        the server's IP address (default 127.0.0.1)\n"
            "Prints the throughput in MiB/s (bytes read by all sessions / "
            "time).\n",
            MAX_SESSIONS, MAX_BLOCK, MAX_SECONDS, EVENT_LOOP_POOL_MAX_THREADS);
}

/* Reads a whole decimal number in [min, max]; false for anything else. */
static bool parse_long(const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *value = v;
    return true;
}

static uint64_t bytes_read_by_all(const struct pingpong *pp)
{
    uint64_t sum = 0;
    for (long i = 0; i < pp->session_count; i++)
        sum += atomic_load_explicit(&pp->sessions[i].bytes_read,
                                    memory_order_relaxed);
    return sum;
}

/* --- the end: measured, failed or timed out; base loop only ---------------- */

/* Closes every session and quits the base loop. tcp_client_free() of a
 * client on another loop waits until that loop has let it go; one on the
 * base loop is let go after this batch, before the loop quits. */
static void stop_sessions(struct pingpong *pp)
{
    if (pp->stopped)
        return;
    pp->stopped = true;
    atomic_store(&pp->stopping, true);
    event_loop_cancel_timer(pp->base, pp->connect_timer);
    for (long i = 0; i < pp->session_count; i++) {
        tcp_client_free(pp->sessions[i].client);
        pp->sessions[i].client = NULL;
    }
    event_loop_quit(pp->base);
}

static void fail(struct pingpong *pp, int err)
{
    int none = 0;
    atomic_compare_exchange_strong(&pp->error, &none, err);
}

static void on_failure(struct event_loop *loop, void *ctx)
{
    (void)loop;
    stop_sessions(ctx);
}

/* Any thread: records the failure and has the base loop end the run. */
static void fail_and_stop(struct pingpong *pp, int err)
{
    fail(pp, err);
    if (event_loop_queue(pp->base, on_failure, pp) != 0)
        event_loop_quit(pp->base);
}

static void on_measured(struct event_loop *loop, uint64_t timer_id,
                        void *ctx)
{
    struct pingpong *pp = ctx;
    (void)loop;
    (void)timer_id;
    double seconds = (double)(timestamp_mono_us() - pp->start_us) / 1e6;
    uint64_t bytes = bytes_read_by_all(pp) - pp->start_bytes;
    pp->mib_per_s = (double)bytes / seconds / (1024.0 * 1024.0);
    stop_sessions(pp);
}

static void on_connect_timeout(struct event_loop *loop, uint64_t timer_id,
                               void *ctx)
{
    struct pingpong *pp = ctx;
    (void)loop;
    (void)timer_id;
    pp->connect_timer = 0;
    pp->timed_out = true;
    fail(pp, -ETIMEDOUT);
    stop_sessions(pp);
}

/* The last session is up: the clock starts. */
static void on_all_up(struct event_loop *loop, void *ctx)
{
    struct pingpong *pp = ctx;
    if (pp->stopped)
        return;
    event_loop_cancel_timer(loop, pp->connect_timer);
    pp->connect_timer = 0;
    pp->start_us = timestamp_mono_us();
    pp->start_bytes = bytes_read_by_all(pp);
    if (event_loop_run_after(loop, pp->seconds * 1000000, on_measured,
                             pp) == 0) {
        fail(pp, -errno);
        stop_sessions(pp);
    }
}

/* --- a session: in its loop's thread ----------------------------------------- */

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct session *s = ctx;
    struct pingpong *pp = s->pp;
    if (!tcp_conn_connected(conn)) {
        if (!atomic_load(&pp->stopping))
            fail_and_stop(pp, -ECONNRESET); /* the server went away */
        return;
    }
    /* Each block is one message that the peer must answer before the
     * next one: Nagle's algorithm would hold back a tail segment. */
    (void)tcp_conn_set_tcp_nodelay(conn, true);
    if (tcp_conn_send(conn, pp->block, pp->block_len) != 0) {
        fail_and_stop(pp, -EPIPE);
        return;
    }
    if (atomic_fetch_add(&pp->up, 1) + 1 == pp->session_count &&
        event_loop_queue(pp->base, on_all_up, pp) != 0)
        fail_and_stop(pp, -ENOMEM);
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct session *s = ctx;
    (void)receive_time_us;
    uint64_t n = atomic_load_explicit(&s->bytes_read, memory_order_relaxed);
    atomic_store_explicit(&s->bytes_read, n + buffer_readable(input),
                          memory_order_relaxed);
    (void)tcp_conn_send_buffer(conn, input); /* a failure closes it */
}

static void on_connect_error(struct tcp_client *client, int err, void *ctx)
{
    struct session *s = ctx;
    (void)client;
    fail_and_stop(s->pp, err);
}

/* Creates the session's client in its own loop, so that everything the
 * session does happens in that loop's thread, and starts connecting. */
static void session_start(struct event_loop *loop, void *ctx)
{
    struct session *s = ctx;
    struct pingpong *pp = s->pp;
    s->client = tcp_client_new(loop, &pp->server, "pingpong");
    if (s->client == NULL) {
        fail(pp, -ENOMEM);
    } else {
        struct tcp_callbacks cb = {.on_connection = on_connection,
                                   .on_message = on_message,
                                   .ctx = s};
        tcp_client_set_callbacks(s->client, &cb);
        tcp_client_set_error_callback(s->client, on_connect_error, s);
        int err = tcp_client_connect(s->client);
        if (err != 0)
            fail(pp, err);
    }
    count_down_latch_count_down(&pp->created);
}

/* --- main -------------------------------------------------------------------- */

/* One socket per session, more than the usual soft limit of 1024 allows
 * for a thousand sessions and the loops' own descriptors. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Reads the value of option -@p opt; false (and says why) if it is not a
 * whole number in [min, max]. */
static bool option_value(int opt, long min, long max, long *value)
{
    if (parse_long(optarg, min, max, value))
        return true;
    fprintf(stderr, "pingpong_client: -%c wants a number in %ld-%ld, not "
                    "'%s'\n", opt, min, max, optarg);
    return false;
}

/* Parses the command line into pp and *threads; returns -1 to go on, or
 * the exit status (0 after --help, 2 after a usage error). */
static int parse_args(int argc, char **argv, struct pingpong *pp,
                      long *threads)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'},
                                             {NULL, 0, NULL, 0}};
    long port = 0, block = 4096;
    const char *host = "127.0.0.1";
    bool ok = true;
    int opt;
    pp->session_count = 1;
    pp->seconds = 3;
    *threads = 0;
    while (ok && (opt = getopt_long(argc, argv, "p:s:b:t:T:h:", longopts,
                                    NULL)) != -1) {
        switch (opt) {
        case 'p': ok = option_value(opt, 1, 65535, &port); break;
        case 's':
            ok = option_value(opt, 1, MAX_SESSIONS, &pp->session_count);
            break;
        case 'b': ok = option_value(opt, 1, MAX_BLOCK, &block); break;
        case 't': ok = option_value(opt, 1, MAX_SECONDS, &pp->seconds); break;
        case 'T':
            ok = option_value(opt, 0, EVENT_LOOP_POOL_MAX_THREADS, threads);
            break;
        case 'h': host = optarg; break;
        case 'H': usage(stdout); return 0;
        default: ok = false; break; /* getopt said why */
        }
    }
    if (ok && optind != argc) {
        fprintf(stderr, "pingpong_client: unexpected argument '%s'\n",
                argv[optind]);
        ok = false;
    } else if (ok && port == 0) {
        fprintf(stderr, "pingpong_client: -p PORT is required\n");
        ok = false;
    } else if (ok && inet_address_from_ip(&pp->server, host,
                                          (uint16_t)port) != 0) {
        fprintf(stderr, "pingpong_client: -h wants an IP address, not "
                        "'%s'\n", host);
        ok = false;
    }
    if (!ok) {
        usage(stderr);
        return 2;
    }
    pp->block_len = (size_t)block;
    return -1;
}

/* Starts every session in its loop and waits until all exist. */
static void create_sessions(struct pingpong *pp, struct event_loop_pool *pool)
{
    count_down_latch_init(&pp->created, (int)pp->session_count);
    for (long i = 0; i < pp->session_count; i++) {
        struct session *s = &pp->sessions[i];
        s->pp = pp;
        s->loop = event_loop_pool_next(pool);
        if (event_loop_run_in_loop(s->loop, session_start, s) != 0) {
            fail(pp, -ENOMEM);
            count_down_latch_count_down(&pp->created);
        }
    }
    count_down_latch_wait(&pp->created);
    count_down_latch_destroy(&pp->created);
}

static int run(struct pingpong *pp, long threads)
{
    struct event_loop_pool *pool = event_loop_pool_new(pp->base);
    if (pool == NULL)
        return -ENOMEM;
    int err = event_loop_pool_start(pool, (int)threads, NULL, NULL);
    if (err == 0) {
        create_sessions(pp, pool);
        if (atomic_load(&pp->error) != 0) {
            stop_sessions(pp);
        } else {
            pp->connect_timer = event_loop_run_after(
                pp->base, CONNECT_TIMEOUT_US, on_connect_timeout, pp);
            if (pp->connect_timer == 0)
                fail(pp, -ENOMEM);
            if (pp->connect_timer == 0 || event_loop_run(pp->base) != 0)
                stop_sessions(pp);
        }
        err = atomic_load(&pp->error);
    }
    event_loop_pool_free(pool);
    return err;
}

int main(int argc, char **argv)
{
    static struct pingpong pp;
    long threads;
    int rc = parse_args(argc, argv, &pp, &threads);
    if (rc >= 0)
        return rc;
    raise_fd_limit();
    pp.block = malloc(pp.block_len);
    pp.sessions = aligned_alloc(CACHE_LINE, (size_t)pp.session_count *
                                                sizeof *pp.sessions);
    pp.base = event_loop_new();
    if (pp.block == NULL || pp.sessions == NULL || pp.base == NULL) {
        fprintf(stderr, "pingpong_client: %s\n", strerror(errno));
        free(pp.block);
        free(pp.sessions);
        if (pp.base != NULL)
            event_loop_free(pp.base);
        return 1;
    }
    memset(pp.sessions, 0, (size_t)pp.session_count * sizeof *pp.sessions);
    for (size_t i = 0; i < pp.block_len; i++)
        pp.block[i] = (char)(i % 128);
    int err = run(&pp, threads);
    event_loop_free(pp.base);
    free(pp.sessions);
    free(pp.block);
    if (pp.timed_out) {
        fprintf(stderr,
                "pingpong_client: %ld of %ld sessions up after %lld s\n",
                atomic_load(&pp.up), pp.session_count,
                (long long)(CONNECT_TIMEOUT_US / 1000000));
        return 1;
    }
    if (err != 0) {
        fprintf(stderr, "pingpong_client: %s\n", strerror(-err));
        return 1;
    }
    printf("%.1f\n", pp.mib_per_s);
    return 0;
}
