/* Exercise 04.5, offload_server: requests worked on in worker threads,
 * replies in order, a slow request that holds up only its own
 * connection, a client that leaves while its request is away, and a
 * server freed while work is in progress.
 *
 * The server runs in the test's loop (the base loop, this thread) and
 * its threads; clients are blocking sockets in client threads
 * (exercise_net.h), which report failures with client_fail(). The work
 * function is the test's: it answers a number with its square, and a
 * few words with behaviour a test needs (blocking until released,
 * taking a while). */
#include "exercise_net.h"

#include "offload_server.h"

#include "base/timestamp.h"
#include "net/buffer.h"
#include "net/event_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- the server ----------------------------------------------------------- */

static struct offload_server *start_server(struct event_loop *loop,
                                           const struct offload_options *opt,
                                           struct inet_address *addr)
{
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct offload_server *s = offload_server_new(loop, &any, opt);
    ck_assert_msg(s != NULL, "offload_server_new: %s", strerror(errno));
    int err = offload_server_start(s);
    ck_assert_msg(err == 0, "offload_server_start: %s", strerror(-err));
    err = offload_server_listen_address(s, addr);
    ck_assert_msg(err == 0, "offload_server_listen_address: %s",
                  strerror(-err));
    ck_assert_msg(inet_address_port(addr) != 0,
                  "offload_server_listen_address gave port 0");
    return s;
}

/* --- the work ------------------------------------------------------------- */

/* What the work function sees and does; its fields are atomic or under
 * mu, since several workers run it at once. */
struct work_log {
    pthread_t base_thread;
    atomic_int in_base_thread; /* calls in the base loop's thread */
    atomic_int calls;
    /* "block": waits until released (or the hang guard). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool released; /* under mu */
    atomic_int blocked;
    atomic_int block_timeouts;
    /* "hold": takes HOLD_US, counted on the way in and out. */
    atomic_int hold_started, hold_finished;
};

#define HOLD_US 50000

static void work_log_init(struct work_log *w)
{
    memset(w, 0, sizeof *w);
    w->base_thread = pthread_self();
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
}

static void work_log_destroy(struct work_log *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static void release_blocked(struct work_log *w)
{
    pthread_mutex_lock(&w->mu);
    w->released = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void block_until_released(struct work_log *w)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += hang_guard_ms() / 1000 + 1;
    atomic_fetch_add(&w->blocked, 1);
    pthread_mutex_lock(&w->mu);
    while (!w->released)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT) {
            atomic_fetch_add(&w->block_timeouts, 1);
            break;
        }
    pthread_mutex_unlock(&w->mu);
}

static void append_text(struct buffer *reply, const char *text)
{
    (void)buffer_append(reply, text, strlen(text));
}

/* "N" -> N*N; "block" -> waits until released, "unblocked";
 * "hold" -> HOLD_US, "held"; "late I N" -> (N - I) ms, "I". */
static void test_work(const char *request, size_t len, struct buffer *reply,
                      void *ctx)
{
    struct work_log *w = ctx;
    atomic_fetch_add(&w->calls, 1);
    if (pthread_equal(pthread_self(), w->base_thread))
        atomic_fetch_add(&w->in_base_thread, 1);
    char text[64], out[64];
    snprintf(text, sizeof text, "%.*s", (int)(len < 63 ? len : 63), request);
    long long n, i;
    if (strcmp(text, "block") == 0) {
        block_until_released(w);
        append_text(reply, "unblocked\n");
    } else if (strcmp(text, "hold") == 0) {
        atomic_fetch_add(&w->hold_started, 1);
        usleep(HOLD_US);
        atomic_fetch_add(&w->hold_finished, 1);
        append_text(reply, "held\n");
    } else if (sscanf(text, "late %lld %lld", &i, &n) == 2) {
        usleep((useconds_t)(n - i) * 1000);
        snprintf(out, sizeof out, "%lld\n", i);
        append_text(reply, out);
    } else if (sscanf(text, "%lld", &n) == 1) {
        snprintf(out, sizeof out, "%lld\n", n * n);
        append_text(reply, out);
    } else {
        append_text(reply, "?\n");
    }
}

/* --- the server, with the test's work ------------------------------------- */

struct fixture {
    struct event_loop *loop;
    struct offload_server *server;
    struct inet_address addr;
    struct work_log log;
};

static void fixture_start(struct fixture *f, int io_threads, int workers)
{
    work_log_init(&f->log);
    f->loop = new_loop();
    struct offload_options opt = {.io_threads = io_threads,
                                  .workers = workers,
                                  .work = test_work,
                                  .ctx = &f->log};
    f->server = start_server(f->loop, &opt, &f->addr);
}

/* Runs fn in a client thread to its end, while the base loop serves. */
static void fixture_client(struct fixture *f,
                           void (*fn)(struct client_thread *))
{
    struct client_thread ct;
    client_thread_start(&ct, f->loop, &f->addr, fn, f);
    client_thread_finish(&ct, 4 * hang_guard_ms());
}

/* Frees it all, then checks what the work function saw. */
static void fixture_free(struct fixture *f)
{
    release_blocked(&f->log); /* nothing may stay blocked */
    offload_server_free(f->server);
    event_loop_free(f->loop);
    int in_base = atomic_load(&f->log.in_base_thread);
    int timeouts = atomic_load(&f->log.block_timeouts);
    work_log_destroy(&f->log);
    ck_assert_msg(in_base == 0,
                  "the work function ran %d times in the base loop's thread",
                  in_base);
    ck_assert_msg(timeouts == 0,
                  "a blocked request waited %d ms and gave up: it was never "
                  "released",
                  hang_guard_ms());
}

/* Waits, in a client thread, until *counter >= target. */
static bool client_wait_for(struct client_thread *ct, atomic_int *counter,
                            int target, const char *what)
{
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    while (atomic_load(counter) < target) {
        if (timestamp_mono_us() > deadline) {
            client_fail(ct, "waited %d ms for %s", hang_guard_ms(), what);
            return false;
        }
        usleep(1000);
    }
    return true;
}

/* --- answers -------------------------------------------------------------- */

#define ASKERS 3
#define REQUESTS 10

static void ask_squares(struct client_thread *ct)
{
    struct line_conn c[ASKERS];
    int opened = 0;
    for (; opened < ASKERS; opened++) {
        if (!open_conn(ct, &c[opened]))
            goto out;
        char text[REQUESTS * 8];
        size_t used = 0;
        for (int i = 1; i <= REQUESTS; i++)
            used += (size_t)snprintf(text + used, sizeof text - used, "%d\n",
                                     i + 100 * opened);
        if (!send_text(ct, &c[opened], text))
            goto out;
    }
    for (int k = 0; k < ASKERS; k++)
        for (int i = 1; i <= REQUESTS; i++) {
            int n = i + 100 * k;
            char want[32], after[64];
            snprintf(want, sizeof want, "%d", n * n);
            snprintf(after, sizeof after, "the request \"%d\"", n);
            if (!expect_line(ct, &c[k], want, after))
                goto out;
        }
out:
    while (opened-- > 0)
        close_conn(&c[opened]);
}

START_TEST(each_request_is_answered_by_the_work_function)
{
    struct fixture f;
    fixture_start(&f, 2, 2);
    fixture_client(&f, ask_squares);
    fixture_free(&f);
}
END_TEST

#define LATE_REQUESTS 20

/* Request i takes (LATE_REQUESTS - i) ms: worked on side by side, the
 * later ones would be done first. */
static void ask_late_ones(struct client_thread *ct)
{
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    char text[LATE_REQUESTS * 16];
    size_t used = 0;
    for (int i = 0; i < LATE_REQUESTS; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "late %d %d\n", i, LATE_REQUESTS);
    if (send_text(ct, &c, text))
        for (int i = 0; i < LATE_REQUESTS; i++) {
            char want[16], after[96];
            snprintf(want, sizeof want, "%d", i);
            snprintf(after, sizeof after,
                     "request %d of %d sent at once, which takes %d ms", i,
                     LATE_REQUESTS, LATE_REQUESTS - i);
            if (!expect_line(ct, &c, want, after))
                break;
        }
    close_conn(&c);
}

START_TEST(replies_keep_the_order_of_the_requests)
{
    struct fixture f;
    fixture_start(&f, 1, 4);
    fixture_client(&f, ask_late_ones);
    fixture_free(&f);
}
END_TEST

/* --- a slow request ------------------------------------------------------- */

/* Two connections in the one I/O loop: the first one's request blocks a
 * worker; the second one must be answered meanwhile. */
static void slow_and_quick(struct client_thread *ct)
{
    struct fixture *f = ct->arg;
    struct line_conn slow, quick;
    quick.fd = -1;
    if (!open_conn(ct, &slow) || !open_conn(ct, &quick))
        goto out;
    if (!send_text(ct, &slow, "block\n") ||
        !client_wait_for(ct, &f->log.blocked, 1,
                         "the work function to get \"block\""))
        goto out;
    bool answered =
        send_text(ct, &quick, "7\n") &&
        expect_line(ct, &quick, "49",
                    "\"7\" on another connection of the same I/O loop, "
                    "while the first one's request still blocks a worker");
    release_blocked(&f->log);
    if (answered)
        (void)expect_line(ct, &slow, "unblocked", "\"block\", once released");
out:
    release_blocked(&f->log);
    close_conn(&slow);
    close_conn(&quick);
}

START_TEST(a_slow_request_does_not_hold_up_other_connections)
{
    struct fixture f;
    fixture_start(&f, 1, 2);
    fixture_client(&f, slow_and_quick);
    fixture_free(&f);
}
END_TEST

/* --- lifetimes ------------------------------------------------------------ */

static bool wait_for_no_connection(struct client_thread *ct,
                                   struct offload_server *s)
{
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    size_t n;
    while ((n = offload_server_connection_count(s)) != 0) {
        if (timestamp_mono_us() > deadline) {
            client_fail(ct,
                        "the server still holds %zu connection(s) %d ms "
                        "after its only client reset",
                        n, hang_guard_ms());
            return false;
        }
        usleep(1000);
    }
    return true;
}

static void leave_while_blocked(struct client_thread *ct)
{
    struct fixture *f = ct->arg;
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    if (!send_text(ct, &c, "block\n") ||
        !client_wait_for(ct, &f->log.blocked, 1,
                         "the work function to get \"block\"")) {
        close_conn(&c);
        return;
    }
    reset_conn(&c);
    /* The server hears the reset while the work goes on. */
    bool gone = wait_for_no_connection(ct, f->server);
    release_blocked(&f->log);
    if (!gone)
        return;
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    while (offload_server_dropped_replies(f->server) == 0) {
        if (timestamp_mono_us() > deadline) {
            client_fail(ct,
                        "offload_server_dropped_replies() stayed 0 for "
                        "%d ms after the work for a client that left "
                        "was done",
                        hang_guard_ms());
            return;
        }
        usleep(1000);
    }
    if (open_conn(ct, &c) && send_text(ct, &c, "3\n"))
        (void)expect_line(ct, &c, "9",
                          "\"3\", after a client left with its request away");
    close_conn(&c);
}

START_TEST(a_client_that_leaves_before_its_reply_costs_nothing)
{
    struct fixture f;
    fixture_start(&f, 2, 2);
    fixture_client(&f, leave_while_blocked);
    uint64_t dropped = offload_server_dropped_replies(f.server);
    fixture_free(&f);
    ck_assert_msg(dropped == 1,
                  "offload_server_dropped_replies() is %" PRIu64 ", expected 1",
                  dropped);
}
END_TEST

#define HOLDERS 2

/* Two connections, each with three requests that take a while. */
static void hold_until_closed(struct client_thread *ct)
{
    struct line_conn c[HOLDERS];
    int opened = 0;
    for (; opened < HOLDERS; opened++)
        if (!open_conn(ct, &c[opened]) ||
            !send_text(ct, &c[opened], "hold\nhold\nhold\n"))
            goto out;
    for (int k = 0; k < HOLDERS; k++)
        if (!expect_closed(ct, &c[k], "the server was freed"))
            break;
out:
    while (opened-- > 0)
        close_conn(&c[opened]);
}

START_TEST(freeing_the_server_with_work_in_progress)
{
    struct fixture f;
    fixture_start(&f, 2, 2);
    struct client_thread ct;
    client_thread_start(&ct, f.loop, &f.addr, hold_until_closed, &f);
    run_until(f.loop, &f.log.hold_started, HOLDERS,
              "both workers to start a request");
    offload_server_free(f.server);
    /* Nothing of the server runs any more: no work in progress, and no
     * more work later (checked again at the end). */
    int started = atomic_load(&f.log.hold_started);
    int finished = atomic_load(&f.log.hold_finished);
    int calls_at_free = atomic_load(&f.log.calls);
    client_thread_finish(&ct, 4 * hang_guard_ms());
    int calls_at_end = atomic_load(&f.log.calls);
    event_loop_free(f.loop);
    work_log_destroy(&f.log);
    ck_assert_msg(started == finished,
                  "offload_server_free() returned while the work function "
                  "was still running (%d calls started, %d finished)",
                  started, finished);
    ck_assert_msg(calls_at_end == calls_at_free,
                  "the work function was called %d times after "
                  "offload_server_free() returned",
                  calls_at_end - calls_at_free);
    ck_assert_msg(started <= HOLDERS * 3,
                  "%d requests worked on, but only %d were sent", started,
                  HOLDERS * 3);
}
END_TEST

/* --- too long ------------------------------------------------------------- */

static void too_long_requests(struct client_thread *ct)
{
    static char text[OFFLOAD_LINE_MAX * 2 + 1];
    memset(text, '1', sizeof text - 1);
    struct line_conn c;
    if (open_conn(ct, &c)) /* no end of line in sight */
        (void)(send_text(ct, &c, text) &&
               expect_closed(ct, &c,
                             "twice OFFLOAD_LINE_MAX bytes with no end of "
                             "line"));
    close_conn(&c);
    text[OFFLOAD_LINE_MAX + 1] = '\n';
    text[OFFLOAD_LINE_MAX + 2] = '\0';
    if (open_conn(ct, &c))
        (void)(send_text(ct, &c, text) &&
               expect_closed(ct, &c,
                             "a request of OFFLOAD_LINE_MAX + 1 bytes"));
    close_conn(&c);
}

START_TEST(a_request_too_long_closes_the_connection)
{
    struct fixture f;
    fixture_start(&f, 1, 1);
    fixture_client(&f, too_long_requests);
    fixture_free(&f);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 04.5 offload_server");
    TCase *tc = tcase_create("offload_server");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, each_request_is_answered_by_the_work_function);
    tcase_add_test(tc, replies_keep_the_order_of_the_requests);
    tcase_add_test(tc, a_slow_request_does_not_hold_up_other_connections);
    tcase_add_test(tc, a_client_that_leaves_before_its_reply_costs_nothing);
    tcase_add_test(tc, freeing_the_server_with_work_in_progress);
    tcase_add_test(tc, a_request_too_long_closes_the_connection);
    suite_add_tcase(s, tc);
    return s;
}
