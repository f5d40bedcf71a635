/* fanout_ways: two ways for a publisher on one loop to reach subscribers
 * on other loops, measured alone, without a protocol around them.
 *
 *   fanout_ways MODE SUBSCRIBERS MESSAGES
 *
 *   MODE direct   one table of every subscriber under one mutex; the
 *                 publisher sends to each with tcp_conn_send() from its own
 *                 thread, which copies the bytes into a call queued to the
 *                 subscriber's loop: one queued call per subscriber.
 *   MODE handoff  each I/O loop keeps its own subscribers; the publisher
 *                 queues one call per loop with a reference to the message,
 *                 and the loop sends to its subscribers itself (what the
 *                 broker's shards do).
 *
 * A tcp_server with 2 I/O threads holds the subscribers' connections; the
 * main thread connects them, then reads every byte with epoll. The
 * publisher (the base loop) sends MESSAGES messages of 64 bytes in batches
 * of BATCH, without waiting. Prints "MODE SUBSCRIBERS MESSAGES seconds
 * deliveries/s". */
#include "../bench_util.h"

#include "base/count_down_latch.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/inet_address.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOOPS 2
#define PAYLOAD 64
/* Messages published together, as one pipelined read of PUBLISH commands
 * would give them: both ways send each subscriber one block per batch. */
#define BATCH 16
#define READ_CHUNK 65536

struct message {
    atomic_int refs;
    char bytes[PAYLOAD * BATCH];
};

struct loop_table {
    struct event_loop *loop;
    struct tcp_conn **conns; /* this loop's thread only (handoff) */
    size_t count;
};

static struct tcp_server *server;
static bool handoff;
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tcp_conn **all; /* guarded by table_mu (direct) */
static size_t all_count;
static struct loop_table loops[LOOPS];
static atomic_int loops_known;
static atomic_size_t connected;
static long subscribers;
static long messages;
static struct count_down_latch published;

static struct loop_table *table_of(struct event_loop *loop)
{
    for (int i = 0; i < LOOPS; i++) {
        if (loops[i].loop == loop)
            return &loops[i];
    }
    abort();
}

static void on_thread(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    loops[atomic_fetch_add(&loops_known, 1)].loop = loop;
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    (void)ctx;
    if (!tcp_conn_connected(conn))
        return;
    tcp_conn_ref(conn);
    if (handoff) {
        struct loop_table *t = table_of(tcp_conn_loop(conn));
        t->conns = realloc(t->conns, (t->count + 1) * sizeof *t->conns);
        t->conns[t->count++] = conn;
    } else {
        pthread_mutex_lock(&table_mu);
        all = realloc(all, (all_count + 1) * sizeof *all);
        all[all_count++] = conn;
        pthread_mutex_unlock(&table_mu);
    }
    atomic_fetch_add(&connected, 1);
}

static void deliver(struct event_loop *loop, void *ctx)
{
    struct message *m = ctx;
    struct loop_table *t = table_of(loop);
    for (size_t i = 0; i < t->count; i++)
        (void)tcp_conn_send(t->conns[i], m->bytes, sizeof m->bytes);
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

static void publish_all(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (void)ctx;
    for (long n = 0; n < messages; n += BATCH) {
        if (handoff) {
            struct message *m = malloc(sizeof *m);
            memset(m->bytes, 'x', sizeof m->bytes);
            atomic_init(&m->refs, LOOPS);
            for (int i = 0; i < LOOPS; i++)
                (void)event_loop_queue(loops[i].loop, deliver, m);
        } else {
            char bytes[PAYLOAD * BATCH];
            memset(bytes, 'x', sizeof bytes);
            pthread_mutex_lock(&table_mu);
            for (size_t i = 0; i < all_count; i++)
                (void)tcp_conn_send(all[i], bytes, sizeof bytes);
            pthread_mutex_unlock(&table_mu);
        }
    }
    count_down_latch_count_down(&published);
}

static void connect_all(int port, int *fds, int ep)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (long i = 0; i < subscribers; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
            perror("fanout_ways: connect");
            exit(1);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    while (atomic_load(&connected) < (size_t)subscribers)
        usleep(1000);
}

static struct count_down_latch dropped;

static void drop_all(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    struct loop_table *t = table_of(loop);
    for (size_t i = 0; i < t->count; i++)
        tcp_conn_unref(t->conns[i]);
    free(t->conns);
    count_down_latch_count_down(&dropped);
}

struct reader {
    struct event_loop *base;
    int port;
    double seconds;
    int status;
};

/* The subscribers' side, in a thread of its own: connect, start the
 * publisher, read everything, stop the base loop. */
static void *read_all(void *arg)
{
    struct reader *rd = arg;
    int *fds = calloc((size_t)subscribers, sizeof *fds);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    connect_all(rd->port, fds, ep);
    uint64_t want = (uint64_t)subscribers * (uint64_t)messages * PAYLOAD;
    uint64_t got = 0;
    char *chunk = malloc(READ_CHUNK);
    struct epoll_event ready[256];
    double t0 = bench_now_us();
    event_loop_queue(rd->base, publish_all, NULL);
    while (got < want) {
        int n = epoll_wait(ep, ready, 256, 10000);
        if (n <= 0) {
            fprintf(stderr, "fanout_ways: stalled at %llu of %llu bytes\n",
                    (unsigned long long)got, (unsigned long long)want);
            rd->status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            ssize_t r = read(fds[ready[i].data.u64], chunk, READ_CHUNK);
            if (r > 0)
                got += (uint64_t)r;
        }
    }
    rd->seconds = (bench_now_us() - t0) / 1e6;
    count_down_latch_wait(&published);
    for (long i = 0; i < subscribers; i++)
        close(fds[i]);
    close(ep);
    free(fds);
    free(chunk);
    event_loop_quit(rd->base);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "direct") != 0 &&
                      strcmp(argv[1], "handoff") != 0)) {
        fprintf(stderr, "usage: fanout_ways direct|handoff SUBSCRIBERS "
                        "MESSAGES\n");
        return 2;
    }
    handoff = strcmp(argv[1], "handoff") == 0;
    subscribers = bench_arg(argv[2], "SUBSCRIBERS", 1);
    messages = bench_arg(argv[3], "MESSAGES", BATCH) / BATCH * BATCH;
    bench_raise_fd_limit();
    bench_ignore_sigpipe();

    struct event_loop *base = event_loop_new();
    struct inet_address addr;
    inet_address_loopback(&addr, 0, false);
    server = base == NULL ? NULL : tcp_server_new(base, &addr, "fanout", 0);
    if (server == NULL) {
        perror("fanout_ways: server");
        return 1;
    }
    struct tcp_callbacks cb = {.on_connection = on_connection};
    tcp_server_set_callbacks(server, &cb);
    tcp_server_set_thread_count(server, LOOPS);
    tcp_server_set_thread_init(server, on_thread, NULL);
    struct inet_address bound;
    if (tcp_server_start(server) != 0 ||
        tcp_server_listen_address(server, &bound) != 0) {
        perror("fanout_ways: listen");
        return 1;
    }
    count_down_latch_init(&published, 1);
    count_down_latch_init(&dropped, LOOPS);
    struct reader rd = {.base = base, .port = inet_address_port(&bound)};
    pthread_t reader;
    pthread_create(&reader, NULL, read_all, &rd);
    event_loop_run(base);
    pthread_join(reader, NULL);
    if (rd.status == 0)
        printf("%s %ld %ld %.3f %.0f\n", argv[1], subscribers, messages,
               rd.seconds, (double)subscribers * (double)messages / rd.seconds);

    if (handoff) {
        for (int i = 0; i < LOOPS; i++)
            event_loop_queue(loops[i].loop, drop_all, NULL);
        count_down_latch_wait(&dropped);
    }
    for (size_t i = 0; i < all_count; i++)
        tcp_conn_unref(all[i]);
    tcp_server_free(server);
    event_loop_free(base);
    free(all);
    count_down_latch_destroy(&published);
    count_down_latch_destroy(&dropped);
    return rd.status;
}
