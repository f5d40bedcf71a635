/* Exercise 02.4, the lease: warning then expiry, once each per term;
 * renewal replaces a term even when its timers are due in the batch being
 * run; the lease may be freed from its own callbacks or by another timer
 * of the same batch, and then nothing of it runs again. Several tests put
 * a term in the past on purpose: its warning and expiry are then due in
 * one batch. Times are lower bounds only. */
#include "test_support.h"

#include "base/timestamp.h"
#include "lease.h"
#include "net/event_loop.h"

#include <errno.h>
#include <string.h>

#define MS INT64_C(1000)
/* No test runs its loop longer than this: one that still waits for a
 * callback then fails instead of hanging. Working answers finish long
 * before. */
#define RUN_LIMIT_US (400 * MS)
#define TERM_US (30 * MS)
#define WARN_BEFORE_US (10 * MS)
#define PAST_US (-1 * MS) /* a term that ended already */
/* How long a test keeps the loop running after the callbacks should have
 * ended, to see any that should not come. */
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

/* What the callbacks saw ('W' for a warning, 'E' for an expiry, in
 * order), and what the test makes them do. */
struct seen {
    struct event_loop *loop;
    struct lease *lease;
    char what[RECORDED + 1];
    int64_t at[RECORDED];
    int n;
    int warnings;
    int renew_at_warning; /* this warning renews the lease ... */
    int64_t renewed_to;   /* ... until then (set when it does) */
    int renew_rc;
    bool free_at_warning;
    bool free_at_expiry;
    int renew_rc_at_expiry; /* a renewal tried from the expiry callback */
};

static void saw(struct seen *s, char what)
{
    if (s->n < RECORDED) {
        s->what[s->n] = what;
        s->at[s->n] = timestamp_mono_us();
    }
    s->n++;
}

static void on_warn(struct lease *lease, void *ctx)
{
    struct seen *s = ctx;
    ck_assert_msg(lease == s->lease, "the warning got another lease");
    saw(s, 'W');
    if (++s->warnings == s->renew_at_warning) {
        s->renewed_to = timestamp_mono_us() + TERM_US;
        s->renew_rc = lease_renew(lease, s->renewed_to);
    }
    if (s->free_at_warning) {
        lease_free(lease);
        s->lease = NULL;
        ck_assert_uint_ne(
            event_loop_run_after(s->loop, AFTERWARDS_US, stop_loop, NULL), 0);
    }
}

static void on_expire(struct lease *lease, void *ctx)
{
    struct seen *s = ctx;
    ck_assert_msg(lease == s->lease, "the expiry got another lease");
    saw(s, 'E');
    ck_assert_msg(lease_expired(lease), "not expired in its expiry callback");
    s->renew_rc_at_expiry = lease_renew(lease, timestamp_mono_us() + TERM_US);
    if (s->free_at_expiry) {
        lease_free(lease);
        s->lease = NULL;
    }
    event_loop_quit(s->loop);
}

static struct lease *take(struct seen *s, int64_t expires_at_us,
                          int64_t warn_before_us)
{
    s->lease = lease_new(s->loop, expires_at_us, warn_before_us, on_warn,
                         on_expire, s);
    ck_assert_msg(s->lease != NULL, "lease_new: %s", strerror(errno));
    return s->lease;
}

static void expect_seen(const struct seen *s, const char *expected)
{
    ck_assert_msg(strcmp(s->what, expected) == 0,
                  "expected the callbacks \"%s\" (W: warning, E: expiry), "
                  "saw \"%s\"",
                  expected, s->what);
}

static void expect_no_timer(struct event_loop *loop, const char *when)
{
    ck_assert_msg(event_loop_timer_count(loop) == 0,
                  "%zu timer(s) left in the loop %s",
                  event_loop_timer_count(loop), when);
}

START_TEST(warns_then_expires_once_each)
{
    struct seen s = {.loop = new_loop()};
    int64_t start = timestamp_mono_us();
    struct lease *lease = take(&s, start + TERM_US, WARN_BEFORE_US);
    run_loop(s.loop);
    run_for(s.loop, AFTERWARDS_US); /* room for a callback too many */
    expect_seen(&s, "WE");
    ck_assert_msg(s.at[0] - start >= TERM_US - WARN_BEFORE_US,
                  "warned %lld us after the start, before the warning time",
                  (long long)(s.at[0] - start));
    ck_assert_msg(s.at[1] - start >= TERM_US,
                  "expired %lld us after the start, before the expiration",
                  (long long)(s.at[1] - start));
    ck_assert_msg(lease_expired(lease), "lease_expired() false after expiry");
    expect_no_timer(s.loop, "after the expiry");
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(the_warning_comes_first_even_at_the_same_time)
{
    struct seen s = {.loop = new_loop()};
    struct lease *lease = take(&s, timestamp_mono_us() + PAST_US, 0);
    run_loop(s.loop);
    expect_seen(&s, "WE");
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(renewing_from_the_warning_starts_a_new_term)
{
    struct seen s = {.loop = new_loop(), .renew_at_warning = 1};
    struct lease *lease =
        take(&s, timestamp_mono_us() + TERM_US, WARN_BEFORE_US);
    run_loop(s.loop);
    run_for(s.loop, AFTERWARDS_US);
    ck_assert_msg(s.renew_rc == 0, "lease_renew: %s", strerror(-s.renew_rc));
    expect_seen(&s, "WWE"); /* the second term warns too */
    ck_assert_msg(s.at[1] >= s.renewed_to - WARN_BEFORE_US,
                  "the second warning came before its time");
    ck_assert_msg(s.at[2] >= s.renewed_to,
                  "expired %lld us before the renewed expiration",
                  (long long)(s.renewed_to - s.at[2]));
    ck_assert_int_eq(lease_expiration(lease), s.renewed_to);
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(renewing_drops_the_old_expiry_even_when_already_due)
{
    struct seen s = {.loop = new_loop(), .renew_at_warning = 1};
    /* The first term is over: its warning and expiry are one batch. */
    struct lease *lease =
        take(&s, timestamp_mono_us() + PAST_US, WARN_BEFORE_US);
    run_loop(s.loop);
    ck_assert_msg(s.renew_rc == 0, "lease_renew: %s", strerror(-s.renew_rc));
    expect_seen(&s, "WWE");
    ck_assert_msg(s.at[2] >= s.renewed_to,
                  "expired %lld us before the renewed expiration: the old "
                  "term's expiry ran",
                  (long long)(s.renewed_to - s.at[2]));
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(renewal_replaces_both_timers_of_the_term)
{
    struct seen s = {.loop = new_loop()};
    int64_t start = timestamp_mono_us();
    /* Brought forward: the first term's far timers must not linger. */
    struct lease *lease = take(&s, start + 10 * TERM_US, WARN_BEFORE_US);
    int rc = lease_renew(lease, start + TERM_US);
    ck_assert_msg(rc == 0, "lease_renew: %s", strerror(-rc));
    ck_assert_int_eq(lease_expiration(lease), start + TERM_US);
    run_loop(s.loop);
    expect_seen(&s, "WE");
    ck_assert_msg(s.at[1] - start >= TERM_US, "expired before its time");
    expect_no_timer(s.loop, "after the renewed term expired");
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(renewing_an_expired_lease_is_refused)
{
    struct seen s = {.loop = new_loop()};
    struct lease *lease =
        take(&s, timestamp_mono_us() + TERM_US, WARN_BEFORE_US);
    run_loop(s.loop);
    expect_seen(&s, "WE");
    ck_assert_msg(s.renew_rc_at_expiry == -ETIMEDOUT,
                  "lease_renew from the expiry callback returned %d, not "
                  "-ETIMEDOUT",
                  s.renew_rc_at_expiry);
    int rc = lease_renew(lease, timestamp_mono_us() + TERM_US);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "lease_renew after the expiry returned %d, not -ETIMEDOUT",
                  rc);
    run_for(s.loop, AFTERWARDS_US);
    expect_seen(&s, "WE");
    lease_free(lease);
    event_loop_free(s.loop);
}
END_TEST

START_TEST(freed_from_its_warning_its_due_expiry_never_runs)
{
    struct seen s = {.loop = new_loop(), .free_at_warning = true};
    take(&s, timestamp_mono_us() + PAST_US, WARN_BEFORE_US);
    run_loop(s.loop);
    expect_seen(&s, "W");
    expect_no_timer(s.loop, "after the free");
    event_loop_free(s.loop);
}
END_TEST

START_TEST(freed_from_its_expiry_it_leaves_nothing_behind)
{
    struct seen s = {.loop = new_loop(), .free_at_expiry = true};
    take(&s, timestamp_mono_us() + TERM_US, WARN_BEFORE_US);
    run_loop(s.loop);
    run_for(s.loop, AFTERWARDS_US);
    expect_seen(&s, "WE");
    ck_assert_msg(s.lease == NULL, "the expiry never came");
    expect_no_timer(s.loop, "after the free");
    event_loop_free(s.loop);
}
END_TEST

/* A timer of the test, due just before two leases in the same batch. */
static void free_first_lease(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct seen *s = ctx;
    (void)loop;
    (void)id;
    lease_free(s->lease);
    s->lease = NULL;
}

START_TEST(freed_by_an_earlier_timer_of_the_same_batch_it_never_calls_back)
{
    struct event_loop *loop = new_loop();
    struct seen gone = {.loop = loop}, kept = {.loop = loop};
    int64_t over = timestamp_mono_us() + PAST_US;
    take(&gone, over, WARN_BEFORE_US);
    take(&kept, over, WARN_BEFORE_US);
    /* Earliest of the batch, so it runs before either lease's timers. */
    ck_assert_uint_ne(event_loop_run_at(loop, over - WARN_BEFORE_US - 1,
                                        free_first_lease, &gone),
                      0);
    run_loop(loop);
    run_for(loop, AFTERWARDS_US);
    ck_assert_msg(gone.lease == NULL, "the freeing timer never ran");
    ck_assert_msg(gone.n == 0, "a freed lease called back: \"%s\"", gone.what);
    expect_seen(&kept, "WE"); /* the other lease of the batch: untouched */
    lease_free(kept.lease);
    expect_no_timer(loop, "after both leases were freed");
    event_loop_free(loop);
}
END_TEST

static void expect_refused(struct event_loop *loop, int64_t warn_before_us,
                           lease_fn *warn, lease_fn *expire, const char *what)
{
    errno = 0;
    struct lease *lease = lease_new(loop, timestamp_mono_us() + TERM_US,
                                    warn_before_us, warn, expire, NULL);
    int err = errno;
    lease_free(lease);
    ck_assert_msg(lease == NULL && err == EINVAL,
                  "lease_new with %s: expected NULL and EINVAL, got %s and %s",
                  what, lease == NULL ? "NULL" : "a lease", strerror(err));
}

START_TEST(refuses_bad_arguments)
{
    struct event_loop *loop = new_loop();
    expect_refused(loop, -1, on_warn, on_expire, "a negative warning time");
    expect_refused(loop, WARN_BEFORE_US, NULL, on_expire,
                   "no warning callback");
    expect_refused(loop, WARN_BEFORE_US, on_warn, NULL, "no expiry callback");
    expect_no_timer(loop, "after refusals");
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 exercise: lease");
    TCase *tc = tcase_create("lease");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, 5); /* catches a hang; a test takes well under 1 s */
    tcase_add_test(tc, warns_then_expires_once_each);
    tcase_add_test(tc, the_warning_comes_first_even_at_the_same_time);
    tcase_add_test(tc, renewing_from_the_warning_starts_a_new_term);
    tcase_add_test(tc, renewing_drops_the_old_expiry_even_when_already_due);
    tcase_add_test(tc, renewal_replaces_both_timers_of_the_term);
    tcase_add_test(tc, renewing_an_expired_lease_is_refused);
    tcase_add_test(tc, freed_from_its_warning_its_due_expiry_never_runs);
    tcase_add_test(tc, freed_from_its_expiry_it_leaves_nothing_behind);
    tcase_add_test(
        tc, freed_by_an_earlier_timer_of_the_same_batch_it_never_calls_back);
    tcase_add_test(tc, refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
