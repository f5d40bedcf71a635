/* Exercise 01.1: a signalfd ends the loop on SIGINT or SIGTERM.
 *
 * The signals are blocked in the test's thread for the whole test (a
 * checked fixture), raised at that thread only (pthread_kill), and any
 * still pending is taken back before the mask is restored, so that no
 * signal can reach the process running the tests. Every test runs once
 * per backend (epoll, poll). */
#include "test_support.h"

#include "signal_stop.h"

#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

/* Seconds before Check gives up on a test: they take milliseconds. */
#define TEST_TIMEOUT_S 5
/* Rounds the loop runs after an unwatched signal, before a watched one. */
#define ROUNDS_AFTER_OTHER_SIGNAL 10

static const enum poller_kind backends[] = {POLLER_EPOLL, POLLER_POLL};
static const char *const backend_names[] = {"epoll", "poll"};

static sigset_t saved_mask;

static void test_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
}

static void block_signals(void)
{
    sigset_t set;
    test_signals(&set);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, &saved_mask), 0);
}

/* A signal still pending would take its default action as soon as it is
 * unblocked: take every one back first. */
static void restore_signals(void)
{
    sigset_t set;
    test_signals(&set);
    const struct timespec now = {0, 0};
    int taken;
    do
        taken = sigtimedwait(&set, NULL, &now);
    while (taken > 0);
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
}

static struct event_loop *new_loop(int backend)
{
    struct event_loop *loop = event_loop_new_with_poller(backends[backend]);
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

static struct signal_stop *new_stop(struct event_loop *loop)
{
    struct signal_stop *s = signal_stop_new(loop);
    ck_assert_msg(s != NULL,
                  "signal_stop_new with SIGINT and SIGTERM blocked returned "
                  "NULL (%s); expected a watcher",
                  strerror(errno));
    return s;
}

static bool is_pending(int signo)
{
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    return sigismember(&pending, signo) == 1;
}

static const char *signal_name(int signo)
{
    return signo == 0 ? "none" : sigabbrev_np(signo);
}

/* A functor that runs for `rounds` rounds of the loop (re-queueing
 * itself), raising `first` in the first one if non-zero and `last` in the
 * last one. */
struct raiser {
    int first;
    int last;
    int rounds;
    int ran;
};

static void raise_later(struct event_loop *loop, void *ctx)
{
    struct raiser *r = ctx;
    r->ran++;
    if (r->ran == 1 && r->first != 0)
        ck_assert_int_eq(pthread_kill(pthread_self(), r->first), 0);
    if (r->ran < r->rounds) {
        ck_assert_int_eq(event_loop_queue(loop, raise_later, r), 0);
        return;
    }
    ck_assert_int_eq(pthread_kill(pthread_self(), r->last), 0);
}

/* Runs the loop until a watched signal raised by a functor ends it. */
static void run_until(struct event_loop *loop, struct signal_stop *s, int signo,
                      int backend)
{
    struct raiser r = {.last = signo, .rounds = 1};
    ck_assert_int_eq(event_loop_queue(loop, raise_later, &r), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(signal_stop_signal(s) == signo,
                  "%s: the loop returned with signal_stop_signal() = %s, "
                  "expected %s",
                  backend_names[backend], signal_name(signal_stop_signal(s)),
                  signal_name(signo));
}

START_TEST(test_stops_the_loop_on_sigint)
{
    struct event_loop *loop = new_loop(_i);
    struct signal_stop *s = new_stop(loop);
    ck_assert_msg(signal_stop_signal(s) == 0,
                  "no signal came yet, but signal_stop_signal() says %s",
                  signal_name(signal_stop_signal(s)));
    run_until(loop, s, SIGINT, _i);
    signal_stop_free(s);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_stops_the_loop_on_sigterm)
{
    struct event_loop *loop = new_loop(_i);
    struct signal_stop *s = new_stop(loop);
    run_until(loop, s, SIGTERM, _i);
    signal_stop_free(s);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_consumes_the_signal_it_stops_on)
{
    struct event_loop *loop = new_loop(_i);
    struct signal_stop *s = new_stop(loop);
    run_until(loop, s, SIGINT, _i);
    ck_assert_msg(!is_pending(SIGINT),
                  "%s: SIGINT is still pending after it stopped the loop: "
                  "read it from the signalfd",
                  backend_names[_i]);
    signal_stop_free(s);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_stops_the_loop_again_on_the_next_signal)
{
    struct event_loop *loop = new_loop(_i);
    struct signal_stop *s = new_stop(loop);
    run_until(loop, s, SIGINT, _i);
    run_until(loop, s, SIGTERM, _i);
    run_until(loop, s, SIGINT, _i);
    signal_stop_free(s);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_ignores_other_signals)
{
    struct event_loop *loop = new_loop(_i);
    struct signal_stop *s = new_stop(loop);
    struct raiser r = {.first = SIGUSR1,
                       .last = SIGTERM,
                       .rounds = 1 + ROUNDS_AFTER_OTHER_SIGNAL};
    ck_assert_int_eq(event_loop_queue(loop, raise_later, &r), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(r.ran == r.rounds,
                  "%s: the loop stopped %d round(s) after SIGUSR1; only "
                  "SIGINT and SIGTERM should stop it",
                  backend_names[_i], r.ran - 1);
    ck_assert_msg(signal_stop_signal(s) == SIGTERM,
                  "%s: signal_stop_signal() = %s, expected SIGTERM",
                  backend_names[_i], signal_name(signal_stop_signal(s)));
    ck_assert_msg(is_pending(SIGUSR1),
                  "%s: SIGUSR1 is no longer pending: leave other signals "
                  "alone",
                  backend_names[_i]);
    signal_stop_free(s);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_refuses_signals_left_unblocked)
{
    struct event_loop *loop = new_loop(_i);
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &sigint, NULL), 0);
    errno = 0;
    struct signal_stop *s = signal_stop_new(loop);
    int err = errno;
    signal_stop_free(s);
    ck_assert_msg(s == NULL && err == EINVAL,
                  "with SIGINT unblocked, signal_stop_new returned %s (%s); "
                  "expected NULL and EINVAL",
                  s == NULL ? "NULL" : "a watcher", strerror(err));
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 01.1 signal_stop");
    TCase *tc = tcase_create("signal_stop");
    tcase_add_fd_guard(tc);
    tcase_add_checked_fixture(tc, block_signals, restore_signals);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    int n = (int)(sizeof backends / sizeof backends[0]);
    tcase_add_loop_test(tc, test_stops_the_loop_on_sigint, 0, n);
    tcase_add_loop_test(tc, test_stops_the_loop_on_sigterm, 0, n);
    tcase_add_loop_test(tc, test_consumes_the_signal_it_stops_on, 0, n);
    tcase_add_loop_test(tc, test_stops_the_loop_again_on_the_next_signal, 0, n);
    tcase_add_loop_test(tc, test_ignores_other_signals, 0, n);
    tcase_add_loop_test(tc, test_refuses_signals_left_unblocked, 0, n);
    suite_add_tcase(s, tc);
    return s;
}
