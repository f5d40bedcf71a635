/* Exercise 02.2, the debouncer: one call per burst, with the burst's
 * count, never sooner than a quiet period after the last poke; a poke
 * from inside the call makes another call; freeing cancels the pending
 * call, whichever timer it is. Times are lower bounds only. */
#include "test_support.h"

#include "base/timestamp.h"
#include "debounce.h"
#include "net/event_loop.h"

#include <errno.h>
#include <string.h>

#define MS INT64_C(1000)
/* No test runs its loop longer than this: one that still waits for a call
 * then fails instead of hanging. Working answers finish long before. */
#define RUN_LIMIT_US (400 * MS)
#define QUIET_US (10 * MS)
#define BURST 10
#define GAP_US (3 * MS) /* between the spread pokes, under QUIET_US */
/* How long a test keeps the loop running after the calls should have
 * ended, to see any that should not come. */
#define AFTERWARDS_US (3 * QUIET_US)
#define RECORDED 16

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

static void stop_loop(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    (void)ctx;
    event_loop_quit(loop);
}

/* Runs the loop until something quits it, or RUN_LIMIT_US at most. */
static void run_loop(struct event_loop *loop)
{
    uint64_t limit = event_loop_run_after(loop, RUN_LIMIT_US, stop_loop, NULL);
    ck_assert_uint_ne(limit, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, limit);
}

static void run_for(struct event_loop *loop, int64_t us)
{
    uint64_t stop = event_loop_run_after(loop, us, stop_loop, NULL);
    ck_assert_uint_ne(stop, 0);
    run_loop(loop);
    event_loop_cancel_timer(loop, stop);
}

static void busy_wait(int64_t us)
{
    int64_t until = timestamp_mono_us() + us;
    while (timestamp_mono_us() < until)
        ;
}

/* What the calls saw, and what the test makes a call do. */
struct calls {
    struct event_loop *loop;
    struct debounce *d;
    int n; /* calls seen, even past RECORDED */
    int pokes[RECORDED];
    int64_t at[RECORDED];
    bool pending[RECORDED];
    int quit_at;        /* this call quits the loop */
    int repoke_at;      /* this call pokes again */
    int free_after;     /* after this call, the debouncer is freed */
    bool pending_after; /* debounce_pending() just before that free */
};

static void poke(struct debounce *d)
{
    int rc = debounce_poke(d);
    ck_assert_msg(rc == 0, "debounce_poke: %s", strerror(-rc));
}

static void free_debounce(struct event_loop *loop, void *ctx)
{
    struct calls *c = ctx;
    c->pending_after = debounce_pending(c->d);
    debounce_free(c->d);
    c->d = NULL;
    ck_assert_uint_ne(
        event_loop_run_after(loop, AFTERWARDS_US, stop_loop, NULL), 0);
}

static void on_call(struct debounce *d, int pokes, void *ctx)
{
    struct calls *c = ctx;
    ck_assert_msg(d == c->d, "the callback got another debouncer");
    if (c->n < RECORDED) {
        c->pokes[c->n] = pokes;
        c->at[c->n] = timestamp_mono_us();
        c->pending[c->n] = debounce_pending(d);
    }
    int call = ++c->n;
    if (call == c->repoke_at)
        poke(d);
    if (call == c->quit_at)
        event_loop_quit(c->loop);
    if (call == c->free_after) /* not from here: d is in use until we return */
        ck_assert_int_eq(event_loop_queue(c->loop, free_debounce, c), 0);
}

static struct debounce *start(struct calls *c)
{
    c->d = debounce_new(c->loop, QUIET_US, on_call, c);
    ck_assert_msg(c->d != NULL, "debounce_new: %s", strerror(errno));
    return c->d;
}

START_TEST(a_burst_of_pokes_makes_one_call_with_their_count)
{
    struct calls c = {.loop = new_loop(), .quit_at = 1};
    struct debounce *d = start(&c);
    for (int i = 0; i < BURST; i++)
        poke(d);
    run_loop(c.loop);
    run_for(c.loop, AFTERWARDS_US); /* room for a call too many */
    ck_assert_msg(c.n == 1, "%d pokes in a row made %d calls, not 1", BURST,
                  c.n);
    ck_assert_msg(c.pokes[0] == BURST, "the call counted %d pokes, not %d",
                  c.pokes[0], BURST);
    debounce_free(d);
    event_loop_free(c.loop);
}
END_TEST

START_TEST(the_call_waits_a_quiet_period_after_the_last_poke)
{
    struct calls c = {.loop = new_loop(), .quit_at = 1};
    struct debounce *d = start(&c);
    /* The loop is not running between these pokes: nothing can fire. */
    poke(d);
    busy_wait(GAP_US);
    poke(d);
    busy_wait(GAP_US);
    int64_t last = timestamp_mono_us();
    poke(d);
    run_loop(c.loop);
    ck_assert_msg(c.n == 1, "3 pokes %lld us apart made %d calls, not 1",
                  (long long)GAP_US, c.n);
    ck_assert_msg(c.pokes[0] == 3, "the call counted %d pokes, not 3",
                  c.pokes[0]);
    ck_assert_msg(c.at[0] - last >= QUIET_US,
                  "the call came %lld us after the last poke, before the "
                  "quiet period of %lld us",
                  (long long)(c.at[0] - last), (long long)QUIET_US);
    debounce_free(d);
    event_loop_free(c.loop);
}
END_TEST

START_TEST(pokes_after_a_call_make_a_new_call)
{
    struct calls c = {.loop = new_loop(), .quit_at = 1};
    struct debounce *d = start(&c);
    poke(d);
    run_loop(c.loop);
    ck_assert_msg(c.n == 1, "one poke made %d calls, not 1", c.n);
    c.quit_at = 2;
    poke(d);
    poke(d);
    run_loop(c.loop);
    run_for(c.loop, AFTERWARDS_US);
    ck_assert_msg(c.n == 2, "two bursts made %d calls, not 2", c.n);
    ck_assert_msg(c.pokes[0] == 1 && c.pokes[1] == 2,
                  "the calls counted %d and %d pokes, not 1 and 2", c.pokes[0],
                  c.pokes[1]);
    debounce_free(d);
    event_loop_free(c.loop);
}
END_TEST

START_TEST(pending_from_a_poke_until_its_call_starts)
{
    struct calls c = {.loop = new_loop(), .quit_at = 1};
    struct debounce *d = start(&c);
    ck_assert_msg(!debounce_pending(d), "pending before any poke");
    poke(d);
    ck_assert_msg(debounce_pending(d), "not pending after a poke");
    run_loop(c.loop);
    ck_assert_msg(c.n == 1, "one poke made %d calls, not 1", c.n);
    ck_assert_msg(!c.pending[0], "still pending during its own call");
    ck_assert_msg(!debounce_pending(d), "still pending after the call");
    debounce_free(d);
    event_loop_free(c.loop);
}
END_TEST

START_TEST(a_poke_from_inside_the_call_makes_another_call)
{
    struct calls c = {.loop = new_loop(), .repoke_at = 1, .quit_at = 2};
    struct debounce *d = start(&c);
    poke(d);
    run_loop(c.loop);
    run_for(c.loop, AFTERWARDS_US);
    ck_assert_msg(c.n == 2, "a poke from the call: %d calls, not 2", c.n);
    ck_assert_msg(c.pokes[1] == 1, "the second call counted %d pokes, not 1",
                  c.pokes[1]);
    ck_assert_msg(c.at[1] - c.at[0] >= QUIET_US,
                  "the second call came %lld us after the first, before the "
                  "quiet period of %lld us",
                  (long long)(c.at[1] - c.at[0]), (long long)QUIET_US);
    debounce_free(d);
    event_loop_free(c.loop);
}
END_TEST

START_TEST(freeing_cancels_the_call_a_poke_from_inside_the_call_set)
{
    struct calls c = {.loop = new_loop(), .repoke_at = 1, .free_after = 1};
    start(&c);
    poke(c.d);
    run_loop(c.loop);
    ck_assert_msg(c.d == NULL, "the first call never came");
    ck_assert_msg(c.pending_after,
                  "not pending after the call returned, though it poked");
    ck_assert_msg(c.n == 1, "%d calls after the free, expected none", c.n - 1);
    ck_assert_msg(event_loop_timer_count(c.loop) == 0,
                  "%zu timer(s) left in the loop after the free",
                  event_loop_timer_count(c.loop));
    event_loop_free(c.loop);
}
END_TEST

START_TEST(freeing_cancels_a_pending_call_and_only_that_one)
{
    struct event_loop *loop = new_loop();
    struct calls gone = {.loop = loop}, kept = {.loop = loop, .quit_at = 1};
    start(&gone);
    start(&kept);
    poke(gone.d);
    poke(kept.d);
    debounce_free(gone.d);
    run_loop(loop);
    run_for(loop, AFTERWARDS_US);
    ck_assert_msg(gone.n == 0, "a freed debouncer called back");
    ck_assert_msg(kept.n == 1, "the other debouncer made %d calls, not 1",
                  kept.n);
    debounce_free(kept.d);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

static void expect_refused(struct event_loop *loop, int64_t quiet_us,
                           debounce_fn *fn, const char *what)
{
    errno = 0;
    struct debounce *d = debounce_new(loop, quiet_us, fn, NULL);
    int err = errno;
    debounce_free(d);
    ck_assert_msg(d == NULL && err == EINVAL,
                  "debounce_new with %s: expected NULL and EINVAL, got %s "
                  "and %s",
                  what, d == NULL ? "NULL" : "a debouncer", strerror(err));
}

START_TEST(refuses_bad_arguments)
{
    struct event_loop *loop = new_loop();
    expect_refused(loop, 0, on_call, "a quiet period of 0");
    expect_refused(loop, -QUIET_US, on_call, "a negative quiet period");
    expect_refused(loop, QUIET_US, NULL, "no callback");
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 exercise: debounce");
    TCase *tc = tcase_create("debounce");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, 5); /* catches a hang; a test takes well under 1 s */
    tcase_add_test(tc, a_burst_of_pokes_makes_one_call_with_their_count);
    tcase_add_test(tc, the_call_waits_a_quiet_period_after_the_last_poke);
    tcase_add_test(tc, pokes_after_a_call_make_a_new_call);
    tcase_add_test(tc, pending_from_a_poke_until_its_call_starts);
    tcase_add_test(tc, a_poke_from_inside_the_call_makes_another_call);
    tcase_add_test(tc,
                   freeing_cancels_the_call_a_poke_from_inside_the_call_set);
    tcase_add_test(tc, freeing_cancels_a_pending_call_and_only_that_one);
    tcase_add_test(tc, refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
