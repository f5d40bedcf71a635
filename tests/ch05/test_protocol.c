/* The protocol adapter (net/protocol.h): the operations in order for the
 * server and the client front ends, a graceful close that flushes, the
 * close timeout, delayed calls that run, are cancelled, and never outlive
 * their connection, and many connections spread over I/O threads. */
#include "net_test.h"

#include "base/timestamp.h"
#include "net/event_loop.h"
#include "net/protocol.h"
#include "net/tcp_client.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* A started server on 127.0.0.1, any port, whose connections are
 * instances of @p factory. */
static struct tcp_server *start_server(struct event_loop *loop,
                                       const struct protocol_factory *factory,
                                       int threads, struct inet_address *addr)
{
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "proto", 0);
    ck_assert_ptr_nonnull(server);
    protocol_server_attach(server, factory);
    tcp_server_set_thread_count(server, threads);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, addr), 0);
    return server;
}

/* --- what the operations saw, in one loop ------------------------------------ */

#define EVENTS_MAX 64
#define DATA_MAX 256

/* Everything here runs in the test's loop (no I/O threads), so plain
 * fields will do; the test asserts after the loop returns. */
struct recorder {
    char events[EVENTS_MAX]; /* M made, R received, L lost, C delayed call */
    int nevents;
    char data[DATA_MAX];
    size_t ndata;
    int made, lost;
    int misaligned;   /* a state not aligned for any type */
    int not_zeroed;   /* a state not zeroed at made */
    int late_call_ok; /* protocol_call_later() succeeded inside lost */
    size_t pending_at_lost;
    int write_after_close; /* what protocol_write returned after close */
    int fired;
    uint64_t cancelled_id;
    int cancel_again; /* protocol_cancel() of an id already cancelled */
    char fired_args[EVENTS_MAX];
};

static void note(struct recorder *rec, char event)
{
    if (rec->nevents < EVENTS_MAX - 1)
        rec->events[rec->nevents++] = event;
}

/* The state each instance gets: checked to be zeroed and aligned. */
struct rec_state {
    long double aligned;
    uint64_t seen;
    int received;
};

static void rec_made(struct protocol *p)
{
    struct recorder *rec = protocol_factory_ctx(p);
    struct rec_state *st = protocol_state(p);
    if ((uintptr_t)st % alignof(max_align_t) != 0)
        rec->misaligned++;
    if (st->seen != 0 || st->received != 0)
        rec->not_zeroed++;
    st->seen = 1;
    rec->made++;
    note(rec, 'M');
}

static void record_data(struct recorder *rec, const void *data, size_t len)
{
    if (rec->ndata + len <= DATA_MAX) {
        memcpy(rec->data + rec->ndata, data, len);
        rec->ndata += len;
    }
}

static void rec_echo(struct protocol *p, const void *data, size_t len)
{
    struct recorder *rec = protocol_factory_ctx(p);
    struct rec_state *st = protocol_state(p);
    st->received++;
    note(rec, 'R');
    record_data(rec, data, len);
    (void)protocol_write(p, data, len);
}

static void rec_lost(struct protocol *p)
{
    struct recorder *rec = protocol_factory_ctx(p);
    rec->lost++;
    note(rec, 'L');
    rec->pending_at_lost = protocol_pending_calls(p);
    errno = 0;
    if (protocol_call_later(p, 0, NULL, NULL) != 0 || errno != ENOTCONN)
        rec->late_call_ok++;
    if (protocol_write(p, "x", 1) != -ENOTCONN)
        rec->late_call_ok++;
}

static const struct protocol_ops rec_echo_ops = {
    .connection_made = rec_made,
    .data_received = rec_echo,
    .connection_lost = rec_lost,
};

static void two_exchanges_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char back[8];
    /* Each echo is read before the next write: two separate chunks. */
    if (client_write_all(ct, fd, "abc", 3) &&
        client_read_exact(ct, fd, back, 3) && memcmp(back, "abc", 3) != 0)
        client_fail(ct, "first echo wrong");
    if (client_write_all(ct, fd, "defg", 4) &&
        client_read_exact(ct, fd, back, 4) && memcmp(back, "defg", 4) != 0)
        client_fail(ct, "second echo wrong");
    close(fd);
}

START_TEST(server_operations_run_in_order)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {.ops = &rec_echo_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, two_exchanges_client, NULL);
    client_thread_finish(&ct, 10000);
    run_loop_until(loop, &rec.lost, 1, 10000);
    ck_assert_str_eq(rec.events, "MRRL");
    ck_assert_uint_eq(rec.ndata, 7);
    ck_assert_int_eq(memcmp(rec.data, "abcdefg", 7), 0);
    ck_assert_int_eq(rec.misaligned, 0);
    ck_assert_int_eq(rec.not_zeroed, 0);
    ck_assert_int_eq(rec.late_call_ok, 0); /* no calls or writes in lost */
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- the client front end ------------------------------------------------------ */

struct ping {
    struct recorder rec;
    struct tcp_client *client;
    bool stop_after_lost; /* no reconnection after the second loss */
};

/* Client side: "ping" on connect; close once the echo is all back. */
static void ping_made(struct protocol *p)
{
    rec_made(p);
    (void)protocol_write(p, "ping", 4);
}

static void ping_received(struct protocol *p, const void *data, size_t len)
{
    struct recorder *rec = protocol_factory_ctx(p);
    struct rec_state *st = protocol_state(p);
    note(rec, 'R');
    record_data(rec, data, len);
    st->received += (int)len;
    if (st->received >= 4)
        protocol_close(p);
}

static const struct protocol_ops ping_ops = {
    .connection_made = ping_made,
    .data_received = ping_received,
    .connection_lost = rec_lost,
};

START_TEST(client_operations_run_in_order)
{
    struct event_loop *loop = new_loop();
    struct recorder server_rec = {0}, client_rec = {0};
    struct protocol_factory echo = {.ops = &rec_echo_ops,
                                    .state_size = sizeof(struct rec_state),
                                    .ctx = &server_rec};
    struct protocol_factory ping = {.ops = &ping_ops,
                                    .state_size = sizeof(struct rec_state),
                                    .ctx = &client_rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &echo, 0, &addr);
    struct tcp_client *client = tcp_client_new(loop, &addr, "ping");
    ck_assert_ptr_nonnull(client);
    protocol_client_attach(client, &ping);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &client_rec.lost, 1, 10000);
    run_loop_until(loop, &server_rec.lost, 1, 10000);
    /* The echo may come back in one chunk or several. */
    ck_assert_int_eq(client_rec.made, 1);
    ck_assert_int_eq(client_rec.events[0], 'M');
    ck_assert_int_eq(client_rec.events[client_rec.nevents - 1], 'L');
    for (int i = 1; i < client_rec.nevents - 1; i++)
        ck_assert_int_eq(client_rec.events[i], 'R');
    ck_assert_uint_eq(client_rec.ndata, 4);
    ck_assert_int_eq(memcmp(client_rec.data, "ping", 4), 0);
    ck_assert_int_eq(server_rec.made, 1);
    ck_assert_int_eq(client_rec.late_call_ok + server_rec.late_call_ok, 0);
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* Each connection to this server gets "hello" and a close. */
static void greet_made(struct protocol *p)
{
    struct recorder *rec = protocol_factory_ctx(p);
    rec->made++;
    (void)protocol_write(p, "hello", 5);
    protocol_close(p);
}

static const struct protocol_ops greet_ops = {
    .connection_made = greet_made,
    .connection_lost = rec_lost,
};

static void greeted_received(struct protocol *p, const void *data, size_t len)
{
    struct recorder *rec = protocol_factory_ctx(p);
    note(rec, 'R');
    record_data(rec, data, len);
}

static void greeted_lost(struct protocol *p)
{
    struct ping *ping = protocol_factory_ctx(p);
    rec_lost(p);
    if (ping->rec.lost == 2) /* enough: before the client reconnects */
        (void)tcp_client_stop(ping->client);
}

static const struct protocol_ops greeted_ops = {
    .connection_made = rec_made,
    .data_received = greeted_received,
    .connection_lost = greeted_lost,
};

START_TEST(client_reconnects_with_a_fresh_instance)
{
    struct event_loop *loop = new_loop();
    struct recorder server_rec = {0};
    struct ping ping = {.client = NULL};
    struct protocol_factory greet = {.ops = &greet_ops, .ctx = &server_rec};
    struct protocol_factory greeted = {.ops = &greeted_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &ping};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &greet, 0, &addr);
    ping.client = tcp_client_new(loop, &addr, "again");
    ck_assert_ptr_nonnull(ping.client);
    protocol_client_attach(ping.client, &greeted);
    tcp_client_set_retry(ping.client, true);
    ck_assert_int_eq(tcp_client_set_retry_delays(ping.client, 10000, 50000),
                     0);
    ck_assert_int_eq(tcp_client_connect(ping.client), 0);
    run_loop_until(loop, &ping.rec.lost, 2, 20000);
    run_loop_until(loop, &server_rec.lost, 2, 20000);
    /* Two instances, each fresh (zeroed), each greeted in full. */
    ck_assert_int_eq(ping.rec.made, 2);
    ck_assert_int_eq(ping.rec.not_zeroed, 0);
    ck_assert_uint_eq(ping.rec.ndata, 10);
    ck_assert_int_eq(memcmp(ping.rec.data, "hellohello", 10), 0);
    ck_assert_int_eq(ping.rec.events[0], 'M');
    ck_assert_int_eq(ping.rec.events[ping.rec.nevents - 1], 'L');
    ck_assert_int_eq(server_rec.made, 2);
    tcp_client_free(ping.client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- closing ----------------------------------------------------------------------- */

#define BIG_REPLY ((size_t)2 * 1024 * 1024)

/* On the first chunk: a reply too big for the socket, so that most of it
 * is queued, then a graceful close, then a write that must be refused. */
static void reply_then_close(struct protocol *p, const void *data, size_t len)
{
    struct recorder *rec = protocol_factory_ctx(p);
    note(rec, 'R');
    record_data(rec, data, len < 3 ? len : 3);
    char *reply = malloc(BIG_REPLY);
    if (reply == NULL) {
        protocol_abort(p);
        return;
    }
    fill_pattern(reply, BIG_REPLY, 7);
    (void)protocol_write(p, reply, BIG_REPLY);
    free(reply);
    protocol_close(p);
    rec->write_after_close = protocol_write(p, "late", 4);
}

static const struct protocol_ops reply_close_ops = {
    .connection_made = rec_made,
    .data_received = reply_then_close,
    .connection_lost = rec_lost,
};

/* Sends a request and more input after it, which the server must drop
 * after its close; reads the whole reply and its end. */
static void request_reply_client(struct client_thread *ct)
{
    int fd = client_connect_small_rcvbuf(ct);
    if (fd < 0)
        return;
    if (!client_write_all(ct, fd, "req", 3))
        goto out;
    usleep(20000); /* so that "more" is not read with "req" */
    (void)client_write_all(ct, fd, "more", 4);
    char *in = malloc(BIG_REPLY + 1), *want = malloc(BIG_REPLY);
    if (in != NULL && want != NULL) {
        fill_pattern(want, BIG_REPLY, 7);
        long n = client_read_to_eof(ct, fd, in, BIG_REPLY + 1);
        if (n != (long)BIG_REPLY)
            client_fail(ct, "read %ld bytes, expected %zu", n, BIG_REPLY);
        else if (memcmp(in, want, BIG_REPLY) != 0)
            client_fail(ct, "the reply is corrupted");
    }
    free(in);
    free(want);
out:
    close(fd);
}

START_TEST(close_inside_data_received_flushes_queued_output)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {.ops = &reply_close_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, request_reply_client, NULL);
    client_thread_finish(&ct, 30000);
    run_loop_until(loop, &rec.lost, 1, 10000);
    ck_assert_str_eq(rec.events, "MRL"); /* "more" never reached it */
    ck_assert_int_eq(memcmp(rec.data, "req", 3), 0);
    ck_assert_int_eq(rec.write_after_close, -ENOTCONN);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

#define SHORT_CLOSE_TIMEOUT_US 50000

static void close_at_once(struct protocol *p)
{
    rec_made(p);
    protocol_close(p);
}

static const struct protocol_ops close_at_once_ops = {
    .connection_made = close_at_once,
    .connection_lost = rec_lost,
};

/* Sees the server's end of output, then keeps its own side open until
 * the test lets it go. */
static void stubborn_client(struct client_thread *ct)
{
    atomic_bool *release = ct->arg;
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char buf[16];
    if (client_read_to_eof(ct, fd, buf, sizeof buf) != 0)
        client_fail(ct, "expected only the end of output");
    while (!atomic_load(release))
        usleep(1000);
    close(fd);
}

START_TEST(close_timeout_cuts_off_a_peer_that_never_closes)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {
        .ops = &close_at_once_ops,
        .state_size = sizeof(struct rec_state),
        .ctx = &rec,
        .close_timeout_us = SHORT_CLOSE_TIMEOUT_US,
    };
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    atomic_bool release = false;
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, stubborn_client, &release);
    int64_t start = timestamp_mono_us();
    run_loop_until(loop, &rec.lost, 1, 20000);
    /* Lost while the peer still holds its side open: the timeout did it. */
    ck_assert_int_ge(timestamp_mono_us() - start, SHORT_CLOSE_TIMEOUT_US);
    atomic_store(&release, true);
    client_thread_finish(&ct, 10000);
    ck_assert_str_eq(rec.events, "ML");
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- delayed calls ---------------------------------------------------------------- */

static void on_call(struct protocol *p, void *arg);

/* "a" writes "tick" and makes call "c" from inside itself; "c" writes
 * "tock" and closes; "b" is cancelled before it can run. */
static void schedule_made(struct protocol *p)
{
    struct recorder *rec = protocol_factory_ctx(p);
    rec_made(p);
    uint64_t a = protocol_call_later(p, 20000, on_call, "a");
    uint64_t b = protocol_call_later(p, 10000, on_call, "b");
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(b, 0);
    rec->cancelled_id = b;
    ck_assert_int_eq(protocol_cancel(p, b), 0);
    rec->cancel_again = protocol_cancel(p, b);
    ck_assert_uint_eq(protocol_pending_calls(p), 1);
}

static void on_call(struct protocol *p, void *arg)
{
    struct recorder *rec = protocol_factory_ctx(p);
    const char *name = arg;
    note(rec, 'C');
    if (rec->fired < EVENTS_MAX - 1)
        rec->fired_args[rec->fired++] = name[0];
    if (name[0] == 'a') {
        (void)protocol_write(p, "tick", 4);
        (void)protocol_call_later(p, 0, on_call, "c");
    } else {
        (void)protocol_write(p, "tock", 4);
        protocol_close(p);
    }
}

static const struct protocol_ops schedule_ops = {
    .connection_made = schedule_made,
    .connection_lost = rec_lost,
};

static void read_ticktock_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char buf[16];
    long n = client_read_to_eof(ct, fd, buf, sizeof buf);
    if (n != 8 || memcmp(buf, "ticktock", 8) != 0)
        client_fail(ct, "read %ld bytes: '%.*s'", n, (int)(n > 0 ? n : 0),
                    buf);
    close(fd);
}

START_TEST(delayed_calls_run_and_cancel)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {.ops = &schedule_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, read_ticktock_client, NULL);
    client_thread_finish(&ct, 10000);
    run_loop_until(loop, &rec.lost, 1, 10000);
    ck_assert_str_eq(rec.events, "MCCL");
    ck_assert_str_eq(rec.fired_args, "ac");
    ck_assert_int_eq(rec.cancel_again, -ENOENT);
    ck_assert_uint_eq(rec.pending_at_lost, 0);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

#define FAR_AWAY_US ((int64_t)60 * 1000 * 1000)
#define FAR_CALLS 3

static void must_not_run(struct protocol *p, void *arg)
{
    struct recorder *rec = protocol_factory_ctx(p);
    (void)arg;
    rec->fired++;
}

static void schedule_far_made(struct protocol *p)
{
    rec_made(p);
    for (int i = 0; i < FAR_CALLS; i++)
        (void)protocol_call_later(p, FAR_AWAY_US, must_not_run, NULL);
}

static const struct protocol_ops far_ops = {
    .connection_made = schedule_far_made,
    .connection_lost = rec_lost, /* sees none pending */
};

static void connect_and_leave(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd >= 0)
        close(fd);
}

START_TEST(delayed_calls_are_cancelled_when_the_connection_is_lost)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {.ops = &far_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    size_t timers_before = event_loop_timer_count(loop);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, connect_and_leave, NULL);
    client_thread_finish(&ct, 10000);
    run_loop_until(loop, &rec.lost, 1, 10000);
    ck_assert_str_eq(rec.events, "ML");
    ck_assert_uint_eq(rec.pending_at_lost, 0);
    ck_assert_int_eq(rec.fired, 0);
    /* Gone from the loop too, not merely skipped when they fire. */
    ck_assert_uint_eq(event_loop_timer_count(loop), timers_before);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

static void wait_until_closed_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    (void)client_expect_closed(ct, fd, 10000);
    close(fd);
}

START_TEST(freeing_the_server_loses_instances_and_cancels_their_calls)
{
    struct event_loop *loop = new_loop();
    struct recorder rec = {0};
    struct protocol_factory factory = {.ops = &far_ops,
                                       .state_size = sizeof(struct rec_state),
                                       .ctx = &rec};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, 0, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, wait_until_closed_client, NULL);
    run_loop_until(loop, &rec.made, 1, 10000);
    ck_assert_uint_eq(event_loop_timer_count(loop), FAR_CALLS);
    tcp_server_free(server); /* the instance is lost in the next round */
    client_thread_finish(&ct, 10000);
    ck_assert_str_eq(rec.events, "ML");
    ck_assert_int_eq(rec.fired, 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

/* --- many connections, I/O threads ------------------------------------------------- */

#define IO_THREADS 4
#define CLIENT_THREADS 4
#define PER_CLIENT_THREAD 25
#define MESSAGE 3000
#define GREETING "hi"
#define GREETING_DELAY_US 1000

/* Operations run in I/O threads: what they record is atomic, or under
 * the mutex; ck_assert is for the test's thread only. */
struct shared {
    atomic_int made, lost, greeted, wrong_thread;
    atomic_llong bytes;
    struct event_loop *base;
    pthread_mutex_t mutex; /* guards loops */
    struct event_loop *loops[IO_THREADS + 1];
    int nloops;
};

struct mt_state {
    long long bytes;
    bool greeted;
};

static void check_thread(struct shared *sh, struct protocol *p)
{
    if (!event_loop_is_in_loop_thread(protocol_loop(p)) ||
        protocol_loop(p) == sh->base)
        atomic_fetch_add(&sh->wrong_thread, 1);
}

static void greet_later(struct protocol *p, void *arg)
{
    struct shared *sh = arg;
    struct mt_state *st = protocol_state(p);
    check_thread(sh, p);
    st->greeted = true;
    (void)protocol_write(p, GREETING, strlen(GREETING));
}

static void mt_made(struct protocol *p)
{
    struct shared *sh = protocol_factory_ctx(p);
    check_thread(sh, p);
    atomic_fetch_add(&sh->made, 1);
    pthread_mutex_lock(&sh->mutex);
    bool known = false;
    for (int i = 0; i < sh->nloops; i++)
        known |= sh->loops[i] == protocol_loop(p);
    if (!known && sh->nloops <= IO_THREADS)
        sh->loops[sh->nloops++] = protocol_loop(p);
    pthread_mutex_unlock(&sh->mutex);
    if (protocol_call_later(p, GREETING_DELAY_US, greet_later, sh) == 0)
        protocol_abort(p);
}

static void mt_received(struct protocol *p, const void *data, size_t len)
{
    struct shared *sh = protocol_factory_ctx(p);
    struct mt_state *st = protocol_state(p);
    check_thread(sh, p);
    st->bytes += (long long)len;
    (void)protocol_write(p, data, len);
}

static void mt_lost(struct protocol *p)
{
    struct shared *sh = protocol_factory_ctx(p);
    struct mt_state *st = protocol_state(p);
    check_thread(sh, p);
    atomic_fetch_add(&sh->bytes, st->bytes);
    if (st->greeted)
        atomic_fetch_add(&sh->greeted, 1);
    atomic_fetch_add(&sh->lost, 1);
}

static const struct protocol_ops mt_ops = {
    .connection_made = mt_made,
    .data_received = mt_received,
    .connection_lost = mt_lost,
};

/* Each connection: wait for the greeting (a delayed call), then echo. */
static void greeted_echo_clients(struct client_thread *ct)
{
    int fds[PER_CLIENT_THREAD];
    char out[MESSAGE], in[MESSAGE];
    fill_pattern(out, sizeof out, (unsigned)(uintptr_t)ct);
    for (int i = 0; i < PER_CLIENT_THREAD; i++)
        if ((fds[i] = client_connect(ct)) < 0)
            return;
    for (int i = 0; i < PER_CLIENT_THREAD; i++) {
        char hi[sizeof GREETING - 1];
        if (client_read_exact(ct, fds[i], hi, sizeof hi) &&
            memcmp(hi, GREETING, sizeof hi) != 0)
            client_fail(ct, "no greeting on connection %d", i);
        (void)client_write_all(ct, fds[i], out, sizeof out);
    }
    for (int i = 0; i < PER_CLIENT_THREAD; i++) {
        if (client_read_exact(ct, fds[i], in, sizeof in) &&
            memcmp(in, out, sizeof out) != 0)
            client_fail(ct, "wrong echo on connection %d", i);
        close(fds[i]);
    }
}

/* Losses happen in the I/O threads: poll the count from the base loop. */
struct count_wait {
    atomic_int *counter;
    int target;
    int64_t deadline_us;
};

static void check_count(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct count_wait *w = ctx;
    (void)id;
    if (atomic_load(w->counter) >= w->target)
        event_loop_quit(loop);
    else
        ck_assert_msg(timestamp_mono_us() < w->deadline_us,
                      "waited too long: %d of %d", atomic_load(w->counter),
                      w->target);
}

static void wait_for_count(struct event_loop *loop, atomic_int *counter,
                           int target)
{
    struct count_wait w = {counter, target, timestamp_mono_us() + 30000000};
    uint64_t id = event_loop_run_every(loop, 1000, check_count, &w);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
}

START_TEST(many_connections_each_in_its_own_io_loop)
{
    struct event_loop *loop = new_loop();
    struct shared sh = {.base = loop};
    pthread_mutex_init(&sh.mutex, NULL);
    struct protocol_factory factory = {.ops = &mt_ops,
                                       .state_size = sizeof(struct mt_state),
                                       .ctx = &sh};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, IO_THREADS, &addr);
    struct client_thread cts[CLIENT_THREADS];
    for (int i = 0; i < CLIENT_THREADS; i++)
        client_thread_start(&cts[i], loop, &addr, greeted_echo_clients, NULL);
    for (int i = 0; i < CLIENT_THREADS; i++)
        client_thread_finish(&cts[i], 60000);
    int total = CLIENT_THREADS * PER_CLIENT_THREAD;
    wait_for_count(loop, &sh.lost, total);
    ck_assert_int_eq(atomic_load(&sh.made), total);
    ck_assert_int_eq(atomic_load(&sh.greeted), total);
    ck_assert_int_eq(atomic_load(&sh.bytes), (long long)total * MESSAGE);
    ck_assert_int_eq(atomic_load(&sh.wrong_thread), 0);
    ck_assert_int_eq(sh.nloops, IO_THREADS);
    tcp_server_free(server);
    pthread_mutex_destroy(&sh.mutex);
    event_loop_free(loop);
}
END_TEST

/* With I/O threads, freeing the server loses every instance in its own
 * loop before tcp_server_free() returns, and their calls go with them. */
struct idle_job {
    int count;
};

static void idle_until_closed(struct client_thread *ct)
{
    struct idle_job *job = ct->arg;
    int fds[32];
    for (int i = 0; i < job->count; i++)
        if ((fds[i] = client_connect(ct)) < 0)
            return;
    for (int i = 0; i < job->count; i++) {
        (void)client_expect_closed(ct, fds[i], 10000);
        close(fds[i]);
    }
}

static void far_call(struct protocol *p, void *arg)
{
    struct shared *sh = arg;
    (void)p;
    atomic_fetch_add(&sh->greeted, 1); /* must never happen */
}

static void far_made_mt(struct protocol *p)
{
    struct shared *sh = protocol_factory_ctx(p);
    check_thread(sh, p);
    if (protocol_call_later(p, FAR_AWAY_US, far_call, sh) != 0)
        atomic_fetch_add(&sh->made, 1);
}

static const struct protocol_ops far_mt_ops = {
    .connection_made = far_made_mt,
    .connection_lost = mt_lost,
};

#define IDLE_CONNECTIONS 16

START_TEST(freeing_a_threaded_server_loses_every_instance_first)
{
    struct event_loop *loop = new_loop();
    struct shared sh = {.base = loop};
    pthread_mutex_init(&sh.mutex, NULL);
    struct protocol_factory factory = {.ops = &far_mt_ops,
                                       .state_size = sizeof(struct mt_state),
                                       .ctx = &sh};
    struct inet_address addr;
    struct tcp_server *server = start_server(loop, &factory, IO_THREADS, &addr);
    struct idle_job job = {IDLE_CONNECTIONS};
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, idle_until_closed, &job);
    wait_for_count(loop, &sh.made, IDLE_CONNECTIONS);
    tcp_server_free(server); /* joins the I/O threads */
    ck_assert_int_eq(atomic_load(&sh.lost), IDLE_CONNECTIONS);
    ck_assert_int_eq(atomic_load(&sh.greeted), 0);
    ck_assert_int_eq(atomic_load(&sh.wrong_thread), 0);
    client_thread_finish(&ct, 20000);
    pthread_mutex_destroy(&sh.mutex);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("protocol");
    TCase *order = tcase_create("order");
    tcase_add_fd_guard(order);
    tcase_add_test(order, server_operations_run_in_order);
    tcase_add_test(order, client_operations_run_in_order);
    tcase_add_test(order, client_reconnects_with_a_fresh_instance);
    suite_add_tcase(s, order);
    TCase *closing = tcase_create("close");
    tcase_add_fd_guard(closing);
    tcase_add_test(closing, close_inside_data_received_flushes_queued_output);
    tcase_add_test(closing, close_timeout_cuts_off_a_peer_that_never_closes);
    suite_add_tcase(s, closing);
    TCase *calls = tcase_create("call_later");
    tcase_add_fd_guard(calls);
    tcase_add_test(calls, delayed_calls_run_and_cancel);
    tcase_add_test(calls,
                   delayed_calls_are_cancelled_when_the_connection_is_lost);
    tcase_add_test(calls,
                   freeing_the_server_loses_instances_and_cancels_their_calls);
    suite_add_tcase(s, calls);
    TCase *threads = tcase_create("io_threads");
    tcase_add_fd_guard(threads);
    tcase_add_test(threads, many_connections_each_in_its_own_io_loop);
    tcase_add_test(threads, freeing_a_threaded_server_loses_every_instance_first);
    suite_add_tcase(s, threads);
    return s;
}
