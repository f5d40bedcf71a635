/* The connector: a connect that succeeds, refusals retried with doubling,
 * jittered delays up to the cap, self-connect, every error class, stop
 * and free in every state (also from its own callbacks and from other
 * threads), with no timer, channel or fd left behind. */
#include "client_test.h"
#include "connect_faults.h"
#include "net_test.h"

#include "base/count_down_latch.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/connector.h"
#include "net/event_loop_thread.h"
#include "net/sockets.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Short delays, so that the suite does not wait half seconds. */
#define INITIAL_US ((int64_t)10 * 1000)
#define MAX_US ((int64_t)80 * 1000)
/* Refusals before the server appears: enough to reach the cap. */
#define REFUSALS 7
/* Waits drawn to check the spread of the jitter. */
#define JITTER_SAMPLES 200
#define JITTER_DELAY_US ((int64_t)1000)
#define MAX_RETRIES (JITTER_SAMPLES + 8)
/* Attempts of the self-connect tests: at least one of them must be one. */
#define SELF_CONNECT_ATTEMPTS 4
#define TIMEOUT_MS 10000
/* A retry delay that no check of a test outlasts, even under valgrind. */
#define SLOW_RETRY_US ((int64_t)5 * 1000 * 1000)

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* Accepts and closes whatever connected to the listener. */
static int drain_listener(int listener)
{
    int n = 0, fd;
    while ((fd = sockets_accept(listener, NULL)) >= 0) {
        test_close(fd);
        n++;
    }
    return n;
}

/* What the callbacks saw, and what they should do. */
struct probe {
    struct event_loop *loop;
    struct connector *connector;
    struct inet_address server;
    int connected, errors, retries;
    int last_error;
    int retry_err[MAX_RETRIES];
    int64_t wait_us[MAX_RETRIES];
    bool peer_was_server; /* the last connected fd's peer */
    int listen_after;     /* listen() on this fd after this many retries */
    int listen_fd;
    int stop_after;       /* stop after this many retries (0: never) */
    bool free_on_connected, free_on_retry, free_on_error;
    bool start_again_on_connected;
};

static void on_connected(struct connector *c, int fd,
                         const struct inet_address *local,
                         const struct inet_address *peer, void *ctx)
{
    struct probe *p = ctx;
    struct inet_address real_peer, own;
    p->peer_was_server = sockets_peer_address(fd, &real_peer) == 0 &&
                         inet_address_equal(&real_peer, &p->server) &&
                         inet_address_equal(peer, &real_peer) &&
                         sockets_local_address(fd, &own) == 0 &&
                         inet_address_equal(&own, local);
    test_close(fd);
    p->connected++;
    if (p->start_again_on_connected && p->connected == 1)
        ck_assert_int_eq(connector_start(c), 0);
    if (p->free_on_connected)
        connector_free(c);
}

static void on_error(struct connector *c, int err, void *ctx)
{
    struct probe *p = ctx;
    p->errors++;
    p->last_error = err;
    if (p->free_on_error)
        connector_free(c);
}

static void on_retry(struct connector *c, int err, int64_t wait_us, void *ctx)
{
    struct probe *p = ctx;
    if (p->retries < MAX_RETRIES) {
        p->retry_err[p->retries] = err;
        p->wait_us[p->retries] = wait_us;
    }
    p->retries++;
    if (p->listen_after > 0 && p->retries == p->listen_after)
        ck_assert_int_eq(sockets_listen(p->listen_fd), 0);
    if (p->stop_after > 0 && p->retries == p->stop_after)
        ck_assert_int_eq(connector_stop(c), 0);
    if (p->free_on_retry)
        connector_free(c);
}

static struct connector *new_connector(struct probe *p,
                                       struct event_loop *loop,
                                       const struct inet_address *server)
{
    p->loop = loop;
    p->server = *server;
    struct connector_callbacks cb = {on_connected, on_error, on_retry, p};
    struct connector *c = connector_new(loop, server, &cb);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(connector_set_retry_delays(c, INITIAL_US, MAX_US), 0);
    p->connector = c;
    return c;
}

START_TEST(connects_to_a_listening_server)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int listener = bound_socket(&addr, true);
    struct probe p = {0};
    struct connector *c = new_connector(&p, loop, &addr);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.connected, 1, TIMEOUT_MS);
    ck_assert(p.peer_was_server);
    ck_assert_int_eq(p.retries + p.errors, 0);
    ck_assert_int_eq(drain_listener(listener), 1);
    connector_free(c);
    test_close(listener);
    event_loop_free(loop);
}
END_TEST

START_TEST(refusals_back_off_doubling_with_jitter_up_to_the_cap)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    struct probe p = {0};
    p.listen_fd = bound_socket(&addr, false);
    p.listen_after = REFUSALS; /* then the server appears */
    struct connector *c = new_connector(&p, loop, &addr);
    connect_faults_reset_calls();
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.connected, 1, TIMEOUT_MS);
    ck_assert_int_eq(p.retries, REFUSALS);
    ck_assert_int_eq(p.errors, 0);
    ck_assert_int_eq(connect_faults_call_count(), REFUSALS + 1);
    int64_t base = INITIAL_US;
    for (int i = 0; i < REFUSALS; i++) {
        ck_assert_int_eq(p.retry_err[i], -ECONNREFUSED);
        /* Inside (base / 2, base]: jittered, and never above the cap. */
        ck_assert_msg(p.wait_us[i] > base / 2 && p.wait_us[i] <= base,
                      "retry %d waited %lld us, base %lld", i,
                      (long long)p.wait_us[i], (long long)base);
        /* A timer never fires early: each attempt began at least the
         * wait after the one before it failed. */
        ck_assert_int_ge(connect_faults_call_time(i + 1) -
                             connect_faults_call_time(i),
                         p.wait_us[i]);
        base = base * 2 > MAX_US ? MAX_US : base * 2;
    }
    ck_assert_int_eq(base, MAX_US); /* the cap was reached */
    /* A success starts the next failure from the beginning again. */
    ck_assert_int_eq(connector_retry_delay_us(c), INITIAL_US);
    ck_assert(p.peer_was_server);
    ck_assert_int_eq(drain_listener(p.listen_fd), 1);
    connector_free(c);
    test_close(p.listen_fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(jitter_spreads_the_waits_over_half_the_delay)
{
    /* Refusals from the fault, so no packet is sent: only the waits. */
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int fd = bound_socket(&addr, false);
    struct probe p = {0};
    p.stop_after = JITTER_SAMPLES;
    struct connector *c = new_connector(&p, loop, &addr);
    ck_assert_int_eq(connector_set_retry_delays(c, JITTER_DELAY_US,
                                                JITTER_DELAY_US),
                     0);
    connect_faults_arm(ECONNREFUSED, JITTER_SAMPLES, false);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.retries, JITTER_SAMPLES, TIMEOUT_MS);
    connect_faults_disarm();
    int64_t lo = JITTER_DELAY_US, hi = 0;
    for (int i = 0; i < JITTER_SAMPLES; i++) {
        ck_assert_int_gt(p.wait_us[i], JITTER_DELAY_US / 2);
        ck_assert_int_le(p.wait_us[i], JITTER_DELAY_US);
        lo = p.wait_us[i] < lo ? p.wait_us[i] : lo;
        hi = p.wait_us[i] > hi ? p.wait_us[i] : hi;
    }
    /* Uniform draws: the chance that 200 of them all miss the lowest (or
     * the highest) quarter of the range is 0.75^200, about 1e-25. */
    ck_assert_int_lt(lo, JITTER_DELAY_US * 5 / 8);
    ck_assert_int_gt(hi, JITTER_DELAY_US * 7 / 8);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0); /* stopped */
    connector_free(c);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

/* Collects the log lines that mention a self-connect. */
static atomic_int self_connect_lines;

static void count_self_connects(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    if (memmem(line, len, "itself", 6) != NULL)
        atomic_fetch_add(&self_connect_lines, 1);
}

START_TEST(self_connect_is_a_refusal_not_a_connection)
{
    /* A free port of the ephemeral range (where the kernel picks the
     * local ports of clients), with nobody listening. Binding the
     * connector's socket to it makes the self-connect certain instead of
     * one chance in thousands. */
    struct inet_address addr;
    int probe_fd = bound_socket(&addr, false);
    test_close(probe_fd);
    struct event_loop *loop = new_loop();
    struct probe p = {0};
    /* A few attempts, not one: another program's client may take the
     * port for a moment (then bind() fails with EADDRINUSE, a retry). */
    p.stop_after = SELF_CONNECT_ATTEMPTS;
    struct connector *c = new_connector(&p, loop, &addr);
    connector_set_local_address(c, &addr);
    static const struct log_sink sink = {count_self_connects, NULL, NULL};
    const struct log_sink *saved_sink = log_get_sink();
    enum log_level saved_level = log_get_level();
    log_set_level(LOG_LEVEL_WARN);
    log_set_sink(&sink);
    atomic_store(&self_connect_lines, 0);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.retries, SELF_CONNECT_ATTEMPTS, TIMEOUT_MS);
    log_set_sink(saved_sink);
    log_set_level(saved_level);
    ck_assert_int_ge(atomic_load(&self_connect_lines), 1);
    bool refused = false;
    for (int i = 0; i < SELF_CONNECT_ATTEMPTS; i++)
        refused = refused || p.retry_err[i] == -ECONNREFUSED;
    ck_assert(refused); /* each self-connect was reported as a refusal */
    ck_assert_int_eq(p.connected, 0);
    ck_assert_int_eq(p.errors, 0);
    connector_free(c);
    event_loop_free(loop);
}
END_TEST

START_TEST(a_listener_that_goes_away_before_accepting_is_retried)
{
    /* The handshake is done by the kernel, then the listener closes with
     * our connection still in its queue, as a crashing or restarting
     * server does: the connection is reset. A client must come back. */
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int listener = bound_socket(&addr, true);
    struct probe p = {0};
    p.stop_after = 1;
    struct connector *c = new_connector(&p, loop, &addr);
    ck_assert_int_eq(connector_start(c), 0);
    test_close(listener);
    run_loop_until(loop, &p.retries, 1, TIMEOUT_MS);
    ck_assert_msg(connector_error_is_retryable(p.retry_err[0]),
                  "retried with %d", p.retry_err[0]);
    ck_assert_int_eq(p.errors, 0);
    ck_assert_int_eq(p.connected, 0);
    connector_free(c);
    event_loop_free(loop);
}
END_TEST

START_TEST(a_wildcard_server_address_is_checked_against_the_real_peer)
{
    /* A connect to 0.0.0.0:P reaches 127.0.0.1:P. The callee hears of
     * the real peer, and a self-connect through it is still caught. */
    struct event_loop *loop = new_loop();
    struct inet_address addr, wildcard;
    int listener = bound_socket(&addr, true);
    inet_address_any(&wildcard, inet_address_port(&addr), false);
    struct probe p = {0};
    struct connector *c = new_connector(&p, loop, &wildcard);
    p.server = addr; /* what the peer must be */
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.connected, 1, TIMEOUT_MS);
    ck_assert(p.peer_was_server);
    connector_free(c);
    ck_assert_int_eq(drain_listener(listener), 1);
    test_close(listener);

    struct inet_address self;
    test_close(bound_socket(&self, false)); /* a free ephemeral port */
    inet_address_any(&wildcard, inet_address_port(&self), false);
    struct probe q = {0};
    q.stop_after = SELF_CONNECT_ATTEMPTS;
    c = new_connector(&q, loop, &wildcard);
    connector_set_local_address(c, &self);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &q.retries, SELF_CONNECT_ATTEMPTS, TIMEOUT_MS);
    bool refused = false;
    for (int i = 0; i < SELF_CONNECT_ATTEMPTS; i++)
        refused = refused || q.retry_err[i] == -ECONNREFUSED;
    ck_assert(refused);
    ck_assert_int_eq(q.connected, 0);
    connector_free(c);
    event_loop_free(loop);
}
END_TEST

START_TEST(stop_while_connecting_closes_the_socket)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int listener = bound_socket(&addr, true);
    struct probe p = {0};
    struct connector *c = new_connector(&p, loop, &addr);
    ck_assert_int_eq(connector_start(c), 0); /* the attempt is under way */
    ck_assert_int_eq(connector_stop(c), 0);
    run_loop_for(loop, 3 * INITIAL_US);
    ck_assert_int_eq(p.connected + p.errors + p.retries, 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    /* Stopped means stopped, not broken: it starts again. */
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.connected, 1, TIMEOUT_MS);
    connector_free(c);
    drain_listener(listener);
    test_close(listener);
    event_loop_free(loop);
}
END_TEST

START_TEST(stop_while_waiting_cancels_the_retry)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int fd = bound_socket(&addr, false);
    struct probe p = {0};
    struct connector *c = new_connector(&p, loop, &addr);
    /* A wait far longer than the checks below take, so that the retry
     * cannot fire before they run, however slow the machine. */
    ck_assert_int_eq(connector_set_retry_delays(c, SLOW_RETRY_US, SLOW_RETRY_US),
                     0);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.retries, 1, TIMEOUT_MS);
    ck_assert_uint_eq(event_loop_timer_count(loop), 1); /* the retry */
    ck_assert_int_eq(connector_stop(c), 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    run_loop_for(loop, 3 * INITIAL_US);
    ck_assert_int_eq(p.retries, 1);
    connector_free(c);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(free_in_every_state_leaves_nothing_behind)
{
    struct event_loop *loop = new_loop();
    struct inet_address refused, listening;
    int fd = bound_socket(&refused, false);
    int listener = bound_socket(&listening, true);
    struct probe p1 = {0}, p2 = {0}, p3 = {0}, p4 = {0};
    /* Never started. */
    connector_free(new_connector(&p1, loop, &listening));
    /* Connecting. */
    struct connector *c2 = new_connector(&p2, loop, &listening);
    ck_assert_int_eq(connector_start(c2), 0);
    connector_free(c2);
    /* Waiting for a retry. */
    struct connector *c3 = new_connector(&p3, loop, &refused);
    ck_assert_int_eq(connector_start(c3), 0);
    run_loop_until(loop, &p3.retries, 1, TIMEOUT_MS);
    connector_free(c3);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    /* After it handed a socket over. */
    struct connector *c4 = new_connector(&p4, loop, &listening);
    ck_assert_int_eq(connector_start(c4), 0);
    run_loop_until(loop, &p4.connected, 1, TIMEOUT_MS);
    connector_free(c4);
    run_loop_for(loop, 3 * INITIAL_US);
    ck_assert_int_eq(p2.connected + p2.retries + p2.errors, 0);
    ck_assert_int_eq(p3.retries, 1);
    drain_listener(listener);
    test_close(listener);
    test_close(fd);
    event_loop_free(loop); /* asserts that no channel is left */
}
END_TEST

START_TEST(free_from_its_own_callbacks)
{
    struct event_loop *loop = new_loop();
    struct inet_address refused, listening;
    int fd = bound_socket(&refused, false);
    int listener = bound_socket(&listening, true);
    struct probe p1 = {0}, p2 = {0}, p3 = {0};
    p1.free_on_connected = true;
    p2.free_on_retry = true;
    p3.free_on_error = true;
    ck_assert_int_eq(connector_start(new_connector(&p1, loop, &listening)),
                     0);
    ck_assert_int_eq(connector_start(new_connector(&p2, loop, &refused)), 0);
    run_loop_until(loop, &p1.connected, 1, TIMEOUT_MS);
    run_loop_until(loop, &p2.retries, 1, TIMEOUT_MS);
    connect_faults_arm(EACCES, 1, false);
    ck_assert_int_eq(connector_start(new_connector(&p3, loop, &listening)),
                     0);
    connect_faults_disarm();
    ck_assert_int_eq(p3.errors, 1);
    run_loop_for(loop, 3 * INITIAL_US); /* deferred releases run */
    ck_assert_int_eq(p2.retries, 1);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    drain_listener(listener);
    test_close(listener);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(start_from_its_own_callback_begins_after_the_batch)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int listener = bound_socket(&addr, true);
    struct probe p = {0};
    p.start_again_on_connected = true;
    struct connector *c = new_connector(&p, loop, &addr);
    ck_assert_int_eq(connector_start(c), 0);
    run_loop_until(loop, &p.connected, 2, TIMEOUT_MS);
    ck_assert(p.peer_was_server);
    connector_free(c);
    ck_assert_int_eq(drain_listener(listener), 2);
    test_close(listener);
    event_loop_free(loop);
}
END_TEST

static const int retryable[] = {
    ECONNREFUSED, ECONNRESET, ECONNABORTED, ENOTCONN,  ETIMEDOUT,
    ENETUNREACH,  EHOSTUNREACH, ENETDOWN,  EHOSTDOWN, EADDRINUSE,
    EADDRNOTAVAIL, EAGAIN};
static const int fatal[] = {EACCES, EPERM, EAFNOSUPPORT, EALREADY, EBADF,
                            EFAULT, ENOTSOCK, EINVAL};

START_TEST(each_error_class_is_handled_as_documented)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int listener = bound_socket(&addr, true);
    for (size_t i = 0; i < sizeof retryable / sizeof retryable[0]; i++) {
        struct probe p = {0};
        struct connector *c = new_connector(&p, loop, &addr);
        ck_assert(connector_error_is_retryable(-retryable[i]));
        connect_faults_arm(retryable[i], 1, false);
        ck_assert_int_eq(connector_start(c), 0); /* fails at once */
        ck_assert_int_eq(p.retries, 1);
        ck_assert_int_eq(p.retry_err[0], -retryable[i]);
        ck_assert_int_eq(p.errors, 0);
        run_loop_until(loop, &p.connected, 1, TIMEOUT_MS); /* the retry */
        connector_free(c);
    }
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        struct probe p = {0};
        struct connector *c = new_connector(&p, loop, &addr);
        ck_assert(!connector_error_is_retryable(-fatal[i]));
        connect_faults_arm(fatal[i], 1, false);
        ck_assert_int_eq(connector_start(c), 0);
        ck_assert_int_eq(p.errors, 1);
        ck_assert_int_eq(p.last_error, -fatal[i]);
        ck_assert_int_eq(p.retries, 0);
        ck_assert_uint_eq(event_loop_timer_count(loop), 0); /* gave up */
        connector_free(c);
    }
    /* A connect interrupted by a signal, or one that says it is already
     * connected, goes on: the socket's writability tells the outcome. */
    static const int go_on[] = {EINTR, EISCONN, EINPROGRESS};
    for (size_t i = 0; i < sizeof go_on / sizeof go_on[0]; i++) {
        struct probe p = {0};
        struct connector *c = new_connector(&p, loop, &addr);
        connect_faults_arm(go_on[i], 1, true);
        ck_assert_int_eq(connector_start(c), 0);
        run_loop_until(loop, &p.connected, 1, TIMEOUT_MS);
        ck_assert(p.peer_was_server);
        ck_assert_int_eq(p.retries + p.errors, 0);
        connector_free(c);
    }
    connect_faults_disarm();
    drain_listener(listener);
    test_close(listener);
    event_loop_free(loop);
}
END_TEST

START_TEST(retry_delays_are_checked)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    inet_address_loopback(&addr, 1, false);
    struct connector *c = connector_new(loop, &addr, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(connector_retry_delay_us(c), CONNECTOR_INITIAL_DELAY_US);
    ck_assert_int_eq(connector_set_retry_delays(c, 0, 10), -EINVAL);
    ck_assert_int_eq(connector_set_retry_delays(c, 20, 10), -EINVAL);
    ck_assert_int_eq(connector_set_retry_delays(c, -1, 10), -EINVAL);
    ck_assert_int_eq(connector_set_retry_delays(c, 10, 10), 0);
    ck_assert_int_eq(connector_retry_delay_us(c), 10);
    ck_assert_ptr_eq(connector_loop(c), loop);
    ck_assert(inet_address_equal(connector_server_address(c), &addr));
    connector_free(c);
    event_loop_free(loop);
}
END_TEST

/* --- from other threads ---------------------------------------------------- */

struct shared_probe {
    atomic_int connected;
    atomic_int retries;
};

static void shared_connected(struct connector *c, int fd,
                             const struct inet_address *local,
                             const struct inet_address *peer, void *ctx)
{
    (void)c;
    (void)local;
    (void)peer;
    test_close(fd);
    atomic_fetch_add(&((struct shared_probe *)ctx)->connected, 1);
}

static void shared_retry(struct connector *c, int err, int64_t wait_us,
                         void *ctx)
{
    (void)c;
    (void)err;
    (void)wait_us;
    atomic_fetch_add(&((struct shared_probe *)ctx)->retries, 1);
}

static void wait_atomic(atomic_int *counter, int target)
{
    int64_t deadline = timestamp_mono_us() + (int64_t)TIMEOUT_MS * 1000;
    while (atomic_load(counter) < target) {
        ck_assert_msg(timestamp_mono_us() < deadline,
                      "timed out at %d of %d", atomic_load(counter), target);
        usleep(1000);
    }
}

struct free_job {
    struct connector *connector;
    struct count_down_latch done;
};

static void free_in_loop(struct event_loop *loop, void *ctx)
{
    struct free_job *job = ctx;
    (void)loop;
    connector_free(job->connector);
    count_down_latch_count_down(&job->done);
}

static void free_from_outside(struct event_loop *loop, struct connector *c)
{
    struct free_job job = {.connector = c};
    count_down_latch_init(&job.done, 1);
    ck_assert_int_eq(event_loop_queue(loop, free_in_loop, &job), 0);
    count_down_latch_wait(&job.done);
    count_down_latch_destroy(&job.done);
}

/* Start, restart and stop as another thread sees them: queued, in order. */
START_TEST(requests_from_another_thread)
{
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(t);
    struct event_loop *loop = event_loop_thread_loop(t);
    struct inet_address refused, listening;
    int fd = bound_socket(&refused, false);
    int listener = bound_socket(&listening, true);
    struct shared_probe sp = {0};
    struct connector_callbacks cb = {shared_connected, NULL, shared_retry,
                                     &sp};
    struct connector *c = connector_new(loop, &listening, &cb);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(connector_set_retry_delays(c, INITIAL_US, MAX_US), 0);
    ck_assert_int_eq(connector_start(c), 0);
    wait_atomic(&sp.connected, 1);
    ck_assert_int_eq(connector_restart(c), 0); /* as after a lost one */
    wait_atomic(&sp.connected, 2);
    free_from_outside(loop, c);

    /* Start and stop in quick succession against a refused port: each
     * stop may catch an attempt or a pending retry. */
    c = connector_new(loop, &refused, &cb);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(connector_set_retry_delays(c, 100, 1000), 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(connector_start(c), 0);
        ck_assert_int_eq(connector_stop(c), 0);
    }
    ck_assert_int_eq(connector_start(c), 0);
    wait_atomic(&sp.retries, 3);
    ck_assert_int_eq(connector_stop(c), 0);
    free_from_outside(loop, c);
    event_loop_thread_free(t);
    ck_assert_int_eq(atomic_load(&sp.connected), 2);
    drain_listener(listener);
    test_close(listener);
    test_close(fd);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch05 connector");
    TCase *tc = tcase_create("connector");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, connects_to_a_listening_server);
    tcase_add_test(tc, refusals_back_off_doubling_with_jitter_up_to_the_cap);
    tcase_add_test(tc, jitter_spreads_the_waits_over_half_the_delay);
    tcase_add_test(tc, self_connect_is_a_refusal_not_a_connection);
    tcase_add_test(tc, a_listener_that_goes_away_before_accepting_is_retried);
    tcase_add_test(tc,
                   a_wildcard_server_address_is_checked_against_the_real_peer);
    tcase_add_test(tc, stop_while_connecting_closes_the_socket);
    tcase_add_test(tc, stop_while_waiting_cancels_the_retry);
    tcase_add_test(tc, free_in_every_state_leaves_nothing_behind);
    tcase_add_test(tc, free_from_its_own_callbacks);
    tcase_add_test(tc, start_from_its_own_callback_begins_after_the_batch);
    tcase_add_test(tc, each_error_class_is_handled_as_documented);
    tcase_add_test(tc, retry_delays_are_checked);
    tcase_add_test(tc, requests_from_another_thread);
    suite_add_tcase(s, tc);
    return s;
}
