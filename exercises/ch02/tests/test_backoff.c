/* Exercise 02.3, retries with back-off: attempts numbered from 1, waits
 * that double up to the cap, never shorter than announced, one done with
 * the right status and then silence; freeing between attempts, or from
 * the done callback, leaves nothing behind. Times are lower bounds. */
#include "test_support.h"

#include "backoff.h"
#include "base/timestamp.h"
#include "net/event_loop.h"

#include <errno.h>
#include <string.h>

#define MS INT64_C(1000)
/* No test runs its loop longer than this: one that still waits for an
 * attempt then fails instead of hanging. Working answers finish long
 * before. */
#define RUN_LIMIT_US (400 * MS)
#define FIRST_US (2 * MS)
#define NO_CAP (1000 * MS)
/* How long a test keeps the loop running after the retries should have
 * ended, to see any attempt that should not come: longer than the next
 * wait of any test here. */
#define AFTERWARDS_US (20 * MS)
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

/* What the attempts and the done callback saw, and what the test makes
 * them do. */
struct tries {
    struct event_loop *loop;
    struct backoff *b;
    int n; /* attempts seen, even past RECORDED */
    int numbers[RECORDED];
    int64_t at[RECORDED];
    int64_t wait[RECORDED];
    int succeed_at;    /* this attempt succeeds; the others fail */
    int free_after;    /* after this attempt, the backoff is freed */
    bool free_in_done; /* the done callback frees the backoff */
    int dones;
    int status;
    int attempts_at_done;
};

static void free_backoff(struct event_loop *loop, void *ctx)
{
    struct tries *t = ctx;
    backoff_free(t->b);
    t->b = NULL;
    ck_assert_uint_ne(
        event_loop_run_after(loop, AFTERWARDS_US, stop_loop, NULL), 0);
}

static bool on_attempt(struct backoff *b, int attempt, void *ctx)
{
    struct tries *t = ctx;
    ck_assert_msg(b == t->b, "the attempt got another backoff");
    if (t->n < RECORDED) {
        t->numbers[t->n] = attempt;
        t->at[t->n] = timestamp_mono_us();
        t->wait[t->n] = backoff_wait(b);
    }
    t->n++;
    if (attempt == t->free_after) /* not from here: b is in use */
        ck_assert_int_eq(event_loop_queue(t->loop, free_backoff, t), 0);
    return attempt == t->succeed_at;
}

static void on_done(struct backoff *b, int status, void *ctx)
{
    struct tries *t = ctx;
    ck_assert_msg(b == t->b, "the done callback got another backoff");
    t->dones++;
    t->status = status;
    t->attempts_at_done = backoff_attempts(b);
    if (t->free_in_done) {
        backoff_free(b);
        t->b = NULL;
    }
    event_loop_quit(t->loop);
}

static void start(struct tries *t, int64_t first_us, int64_t max_us,
                  int max_attempts)
{
    t->b = backoff_new(t->loop, first_us, max_us, max_attempts, on_attempt,
                       on_done, t);
    ck_assert_msg(t->b != NULL, "backoff_new: %s", strerror(errno));
}

/* Attempt k+1 started no sooner than the wait it announced after the
 * start of attempt k (the wait counts from the end of attempt k). */
static void check_waits(const struct tries *t, const int64_t *expected, int n)
{
    ck_assert_msg(t->n >= n, "expected %d attempts, saw %d", n, t->n);
    for (int k = 0; k < n; k++) {
        ck_assert_msg(t->numbers[k] == k + 1, "attempt %d was numbered %d",
                      k + 1, t->numbers[k]);
        ck_assert_msg(t->wait[k] == expected[k],
                      "attempt %d announced a wait of %lld us, not %lld", k + 1,
                      (long long)t->wait[k], (long long)expected[k]);
        if (k > 0)
            ck_assert_msg(t->at[k] - t->at[k - 1] >= expected[k],
                          "attempt %d came %lld us after attempt %d, before "
                          "its wait of %lld us",
                          k + 1, (long long)(t->at[k] - t->at[k - 1]), k,
                          (long long)expected[k]);
    }
}

START_TEST(success_at_the_first_attempt_ends_it_with_status_0)
{
    struct tries t = {.loop = new_loop(), .succeed_at = 1};
    start(&t, FIRST_US, NO_CAP, 5);
    run_loop(t.loop);
    run_for(t.loop, AFTERWARDS_US); /* room for an attempt too many */
    ck_assert_msg(t.n == 1, "attempt 1 succeeded, yet %d attempts came", t.n);
    ck_assert_msg(t.dones == 1, "the done callback ran %d times, not once",
                  t.dones);
    ck_assert_msg(t.status == 0, "done with status %d (%s), not 0", t.status,
                  strerror(-t.status));
    ck_assert_int_eq(t.attempts_at_done, 1);
    ck_assert_msg(event_loop_timer_count(t.loop) == 0,
                  "%zu timer(s) left in the loop after the end",
                  event_loop_timer_count(t.loop));
    backoff_free(t.b);
    event_loop_free(t.loop);
}
END_TEST

START_TEST(each_failure_doubles_the_wait_before_the_next_attempt)
{
    struct tries t = {.loop = new_loop(), .succeed_at = 5};
    start(&t, FIRST_US, NO_CAP, 10);
    run_loop(t.loop);
    int64_t expected[] = {0, FIRST_US, 2 * FIRST_US, 4 * FIRST_US,
                          8 * FIRST_US};
    check_waits(&t, expected, 5);
    ck_assert_msg(t.dones == 1 && t.status == 0,
                  "after a success at attempt 5: %d done(s), status %d",
                  t.dones, t.status);
    backoff_free(t.b);
    event_loop_free(t.loop);
}
END_TEST

START_TEST(the_wait_stops_growing_at_the_cap)
{
    struct tries t = {.loop = new_loop()};
    start(&t, 1 * MS, 4 * MS, 6);
    run_loop(t.loop);
    int64_t expected[] = {0, 1 * MS, 2 * MS, 4 * MS, 4 * MS, 4 * MS};
    check_waits(&t, expected, 6);
    backoff_free(t.b);
    event_loop_free(t.loop);
}
END_TEST

START_TEST(gives_up_with_etimedout_after_the_last_attempt)
{
    struct tries t = {.loop = new_loop()};
    start(&t, FIRST_US, NO_CAP, 3);
    run_loop(t.loop);
    run_for(t.loop, AFTERWARDS_US);
    ck_assert_msg(t.n == 3, "3 attempts allowed, %d came", t.n);
    ck_assert_msg(t.dones == 1, "the done callback ran %d times, not once",
                  t.dones);
    ck_assert_msg(t.status == -ETIMEDOUT, "done with status %d (%s), not %d",
                  t.status, strerror(-t.status), -ETIMEDOUT);
    ck_assert_int_eq(t.attempts_at_done, 3);
    ck_assert_msg(event_loop_timer_count(t.loop) == 0,
                  "%zu timer(s) left in the loop after the end",
                  event_loop_timer_count(t.loop));
    backoff_free(t.b);
    event_loop_free(t.loop);
}
END_TEST

START_TEST(freeing_between_attempts_cancels_the_next)
{
    struct tries t = {.loop = new_loop(), .free_after = 1};
    start(&t, FIRST_US, NO_CAP, 5);
    run_loop(t.loop);
    ck_assert_msg(t.b == NULL, "attempt 1 never came");
    ck_assert_msg(t.n == 1, "%d attempt(s) after the free, expected none",
                  t.n - 1);
    ck_assert_msg(t.dones == 0, "a freed backoff called its done callback");
    ck_assert_msg(event_loop_timer_count(t.loop) == 0,
                  "%zu timer(s) left in the loop after the free",
                  event_loop_timer_count(t.loop));
    event_loop_free(t.loop);
}
END_TEST

START_TEST(the_done_callback_may_free_the_backoff)
{
    struct tries t = {
        .loop = new_loop(), .succeed_at = 2, .free_in_done = true};
    start(&t, FIRST_US, NO_CAP, 5);
    run_loop(t.loop);
    run_for(t.loop, AFTERWARDS_US);
    ck_assert_msg(t.dones == 1, "the done callback ran %d times, not once",
                  t.dones);
    ck_assert_msg(t.n == 2, "success at attempt 2, yet %d attempts came", t.n);
    ck_assert_msg(event_loop_timer_count(t.loop) == 0,
                  "%zu timer(s) left in the loop after the free",
                  event_loop_timer_count(t.loop));
    event_loop_free(t.loop);
}
END_TEST

static void expect_refused(struct event_loop *loop, int64_t first_us,
                           int64_t max_us, int max_attempts,
                           backoff_attempt_fn *attempt, backoff_done_fn *done,
                           const char *what)
{
    errno = 0;
    struct backoff *b =
        backoff_new(loop, first_us, max_us, max_attempts, attempt, done, NULL);
    int err = errno;
    backoff_free(b);
    ck_assert_msg(b == NULL && err == EINVAL,
                  "backoff_new with %s: expected NULL and EINVAL, got %s and "
                  "%s",
                  what, b == NULL ? "NULL" : "a backoff", strerror(err));
}

START_TEST(refuses_bad_arguments)
{
    struct event_loop *loop = new_loop();
    expect_refused(loop, 0, NO_CAP, 3, on_attempt, on_done,
                   "a first wait of 0");
    expect_refused(loop, -FIRST_US, NO_CAP, 3, on_attempt, on_done,
                   "a negative first wait");
    expect_refused(loop, FIRST_US, FIRST_US - 1, 3, on_attempt, on_done,
                   "a cap below the first wait");
    expect_refused(loop, FIRST_US, NO_CAP, 0, on_attempt, on_done,
                   "0 attempts");
    expect_refused(loop, FIRST_US, NO_CAP, 3, NULL, on_done, "no attempt");
    expect_refused(loop, FIRST_US, NO_CAP, 3, on_attempt, NULL,
                   "no done callback");
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 exercise: backoff");
    TCase *tc = tcase_create("backoff");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, 5); /* catches a hang; a test takes well under 1 s */
    tcase_add_test(tc, success_at_the_first_attempt_ends_it_with_status_0);
    tcase_add_test(tc, each_failure_doubles_the_wait_before_the_next_attempt);
    tcase_add_test(tc, the_wait_stops_growing_at_the_cap);
    tcase_add_test(tc, gives_up_with_etimedout_after_the_last_attempt);
    tcase_add_test(tc, freeing_between_attempts_cancels_the_next);
    tcase_add_test(tc, the_done_callback_may_free_the_backoff);
    tcase_add_test(tc, refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
