/* Exercise 04.1, loop_call(): the function runs in the loop's thread, the
 * caller returns after it (and sees what it wrote), a call from the
 * loop's own thread does not deadlock, and many threads may call at once
 * into state that only the loop's thread touches. */
#include "test_support.h"

#include "loop_call.h"

#include "base/timestamp.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* Sanitizer builds are several times slower: the hang guards grow with
 * them (they only turn a hang into a message; nothing here is timed). */
#if defined(__SANITIZE_THREAD__)
#define SLOWDOWN 5
#else
#define SLOWDOWN 1
#endif
/* How long a test waits for something that should happen at once before
 * it calls it a hang, and the timeout of each test (forked runs). */
#define HANG_GUARD_MS (3000 * SLOWDOWN)
#define TEST_TIMEOUT_S (8 * SLOWDOWN)

static int hang_guard_ms(void)
{
    return test_under_valgrind() ? 10 * HANG_GUARD_MS : HANG_GUARD_MS;
}

static struct event_loop_thread *start_loop_thread(void)
{
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    ck_assert_msg(t != NULL, "event_loop_thread_new: %s", strerror(errno));
    return t;
}

static void check_called(int err)
{
    ck_assert_msg(err == 0, "loop_call returned %d (%s), expected 0", err,
                  strerror(-err));
}

/* --- the thread it runs in ------------------------------------------------ */

struct where {
    bool in_loop_thread;
    pthread_t thread;
    int runs;
};

static void note_where(struct event_loop *loop, void *ctx)
{
    struct where *w = ctx;
    w->in_loop_thread = event_loop_is_in_loop_thread(loop);
    w->thread = pthread_self();
    w->runs++;
}

START_TEST(runs_the_function_in_the_loops_thread)
{
    struct event_loop_thread *t = start_loop_thread();
    struct where w = {0};
    check_called(loop_call(event_loop_thread_loop(t), note_where, &w));
    ck_assert_msg(w.runs == 1, "the function ran %d times, expected once",
                  w.runs);
    ck_assert_msg(w.in_loop_thread,
                  "the function ran outside the loop's thread");
    ck_assert_msg(!pthread_equal(w.thread, pthread_self()),
                  "the function ran in the caller's thread");
    event_loop_thread_free(t);
}
END_TEST

/* --- the caller waits ----------------------------------------------------- */

/* Slow on purpose, so that a caller that does not wait returns first. */
#define SLOW_FUNCTION_US 20000

struct slow_result {
    int value; /* plain: loop_call's wait is what orders the accesses */
    bool done;
};

static void slow_answer(struct event_loop *loop, void *ctx)
{
    struct slow_result *r = ctx;
    (void)loop;
    usleep(SLOW_FUNCTION_US);
    r->value = 42;
    r->done = true;
}

START_TEST(returns_only_after_the_function_has_run)
{
    struct event_loop_thread *t = start_loop_thread();
    struct slow_result r = {0};
    check_called(loop_call(event_loop_thread_loop(t), slow_answer, &r));
    ck_assert_msg(r.done && r.value == 42,
                  "loop_call returned before the function had finished "
                  "(the value it writes is %d, expected 42)",
                  r.value);
    event_loop_thread_free(t);
}
END_TEST

/* --- called from the loop's own thread ------------------------------------ */

struct inner_call {
    struct event_loop *loop;
    atomic_bool returned;
    int result;
    bool inner_ran; /* set by the inner function */
    bool inner_ran_before_return;
};

static void inner_function(struct event_loop *loop, void *ctx)
{
    struct inner_call *c = ctx;
    (void)loop;
    c->inner_ran = true;
}

/* Runs in the loop's thread and calls loop_call() from there. */
static void call_from_inside(struct event_loop *loop, void *ctx)
{
    struct inner_call *c = ctx;
    c->result = loop_call(loop, inner_function, c);
    c->inner_ran_before_return = c->inner_ran;
    atomic_store(&c->returned, true);
}

START_TEST(runs_at_once_when_called_in_the_loops_own_thread)
{
    struct event_loop_thread *t = start_loop_thread();
    struct inner_call c = {.loop = event_loop_thread_loop(t)};
    ck_assert_int_eq(event_loop_queue(c.loop, call_from_inside, &c), 0);
    int64_t deadline = timestamp_mono_us() + (int64_t)hang_guard_ms() * 1000;
    while (!atomic_load(&c.returned) && timestamp_mono_us() < deadline)
        usleep(1000);
    /* A loop thread stuck in loop_call cannot be stopped: give up on it
     * (the test runs in a child process of its own). */
    ck_assert_msg(atomic_load(&c.returned),
                  "loop_call from the loop's own thread did not return "
                  "within %d ms: it waits for a functor that only its own, "
                  "waiting, thread could run",
                  hang_guard_ms());
    event_loop_thread_free(t); /* orders the fields below after the call */
    check_called(c.result);
    ck_assert_msg(c.inner_ran_before_return,
                  "called in the loop's thread, the function had not run "
                  "when loop_call returned");
}
END_TEST

/* --- many callers, one owner ---------------------------------------------- */

#define CALLERS 4
#define CALLS_PER_CALLER 250

/* Touched only in the loop's thread, through loop_call(): no lock. */
struct ledger {
    int next[CALLERS];
    int total;
    int out_of_order;
};

struct entry {
    struct ledger *ledger;
    int caller;
    int seq;
};

static void record(struct event_loop *loop, void *ctx)
{
    struct entry *e = ctx;
    (void)loop;
    if (e->ledger->next[e->caller] != e->seq)
        e->ledger->out_of_order++;
    e->ledger->next[e->caller] = e->seq + 1;
    e->ledger->total++;
}

struct caller {
    pthread_t thread;
    struct event_loop *loop;
    struct ledger *ledger;
    int id;
    int failures; /* this thread's own: read after the join */
    int first_error;
};

static void *call_many_times(void *arg)
{
    struct caller *c = arg;
    for (int seq = 0; seq < CALLS_PER_CALLER; seq++) {
        struct entry e = {c->ledger, c->id, seq}; /* on this stack: fine,
                                                     the call waits */
        int err = loop_call(c->loop, record, &e);
        if (err != 0 && c->failures++ == 0)
            c->first_error = err;
    }
    return NULL;
}

START_TEST(calls_from_many_threads_each_run_once_in_order)
{
    struct event_loop_thread *t = start_loop_thread();
    struct ledger ledger = {0};
    struct caller callers[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (struct caller){
            .loop = event_loop_thread_loop(t), .ledger = &ledger, .id = i};
        ck_assert_int_eq(pthread_create(&callers[i].thread, NULL,
                                        call_many_times, &callers[i]),
                         0);
    }
    for (int i = 0; i < CALLERS; i++)
        ck_assert_int_eq(pthread_join(callers[i].thread, NULL), 0);
    event_loop_thread_free(t);
    for (int i = 0; i < CALLERS; i++)
        ck_assert_msg(callers[i].failures == 0,
                      "caller %d: %d of %d calls failed, the first with %d "
                      "(%s)",
                      i, callers[i].failures, CALLS_PER_CALLER,
                      callers[i].first_error,
                      strerror(-callers[i].first_error));
    ck_assert_msg(ledger.total == CALLERS * CALLS_PER_CALLER,
                  "the functions ran %d times, expected %d", ledger.total,
                  CALLERS * CALLS_PER_CALLER);
    ck_assert_msg(ledger.out_of_order == 0,
                  "%d calls ran out of their caller's order",
                  ledger.out_of_order);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 04.1 loop_call");
    TCase *tc = tcase_create("loop_call");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, runs_the_function_in_the_loops_thread);
    tcase_add_test(tc, returns_only_after_the_function_has_run);
    tcase_add_test(tc, runs_at_once_when_called_in_the_loops_own_thread);
    tcase_add_test(tc, calls_from_many_threads_each_run_once_in_order);
    suite_add_tcase(s, tc);
    return s;
}
