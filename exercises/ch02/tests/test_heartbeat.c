/* Exercise 02.1, the heartbeat: it beats exactly its count, numbered from
 * 1, never early, then leaves no timer behind; stopping it (from its own
 * beat) or freeing it ends the beats. Times are lower bounds only. */
#include "test_support.h"

#include "base/timestamp.h"
#include "heartbeat.h"
#include "net/event_loop.h"

#include <errno.h>
#include <string.h>

#define MS INT64_C(1000)
/* No test runs its loop longer than this: one that still waits for a beat
 * then fails instead of hanging. Working answers finish long before. */
#define RUN_LIMIT_US (400 * MS)
#define INTERVAL_US (5 * MS)
#define BEATS 5
/* How long a test keeps the loop running after the beats should have
 * ended, to see any that should not come. */
#define AFTERWARDS_US (4 * INTERVAL_US)
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

/* What the beats saw, and what the test makes a beat do. */
struct beats {
    struct event_loop *loop;
    struct heartbeat *hb;
    int n; /* beats seen, even past RECORDED */
    int numbers[RECORDED];
    int64_t at[RECORDED];
    bool running[RECORDED];
    int quit_at; /* this beat quits the loop */
    int stop_at; /* this beat stops the heartbeat, then quits later */
    int free_at; /* this beat has the heartbeat freed after it, ditto */
};

static void free_heartbeat(struct event_loop *loop, void *ctx)
{
    struct beats *b = ctx;
    heartbeat_free(b->hb);
    b->hb = NULL;
    ck_assert_uint_ne(
        event_loop_run_after(loop, AFTERWARDS_US, stop_loop, NULL), 0);
}

static void on_beat(struct heartbeat *hb, int beat, void *ctx)
{
    struct beats *b = ctx;
    ck_assert_msg(hb == b->hb, "the callback got another heartbeat");
    if (b->n < RECORDED) {
        b->numbers[b->n] = beat;
        b->at[b->n] = timestamp_mono_us();
        b->running[b->n] = heartbeat_running(hb);
    }
    b->n++;
    if (beat == b->quit_at)
        event_loop_quit(b->loop);
    if (beat == b->stop_at) {
        heartbeat_stop(hb);
        ck_assert_uint_ne(
            event_loop_run_after(b->loop, AFTERWARDS_US, stop_loop, NULL), 0);
    }
    if (beat == b->free_at) /* not from here: hb is in use until we return */
        ck_assert_int_eq(event_loop_queue(b->loop, free_heartbeat, b), 0);
}

static struct heartbeat *start(struct beats *b, int beats)
{
    b->hb = heartbeat_new(b->loop, INTERVAL_US, beats, on_beat, b);
    ck_assert_msg(b->hb != NULL, "heartbeat_new: %s", strerror(errno));
    return b->hb;
}

START_TEST(beats_n_times_numbered_from_one)
{
    struct beats b = {.loop = new_loop(), .quit_at = BEATS};
    struct heartbeat *hb = start(&b, BEATS);
    run_loop(b.loop);
    run_for(b.loop, AFTERWARDS_US); /* room for a beat too many */
    ck_assert_msg(b.n == BEATS, "a heartbeat of %d beats beat %d times", BEATS,
                  b.n);
    for (int k = 0; k < BEATS; k++)
        ck_assert_msg(b.numbers[k] == k + 1, "beat %d was numbered %d", k + 1,
                      b.numbers[k]);
    ck_assert_int_eq(heartbeat_beats(hb), BEATS);
    heartbeat_free(hb);
    event_loop_free(b.loop);
}
END_TEST

START_TEST(beat_k_comes_at_least_k_intervals_after_the_start)
{
    struct beats b = {.loop = new_loop(), .quit_at = BEATS};
    int64_t start_us = timestamp_mono_us();
    struct heartbeat *hb = start(&b, BEATS);
    run_loop(b.loop);
    ck_assert_msg(b.n == BEATS, "expected %d beats, saw %d", BEATS, b.n);
    for (int k = 0; k < BEATS; k++) {
        int64_t after = b.at[k] - start_us;
        ck_assert_msg(after >= (k + 1) * INTERVAL_US,
                      "beat %d came %lld us after the start, before %d "
                      "intervals of %lld us",
                      k + 1, (long long)after, k + 1, (long long)INTERVAL_US);
    }
    heartbeat_free(hb);
    event_loop_free(b.loop);
}
END_TEST

START_TEST(stops_by_itself_and_leaves_no_timer_after_the_last_beat)
{
    struct beats b = {.loop = new_loop(), .quit_at = BEATS};
    struct heartbeat *hb = start(&b, BEATS);
    ck_assert_msg(heartbeat_running(hb), "not running right after new");
    run_loop(b.loop);
    ck_assert_msg(b.n == BEATS, "expected %d beats, saw %d", BEATS, b.n);
    for (int k = 0; k < BEATS - 1; k++)
        ck_assert_msg(b.running[k], "not running during beat %d of %d", k + 1,
                      BEATS);
    ck_assert_msg(!b.running[BEATS - 1], "still running during its last beat");
    ck_assert_msg(!heartbeat_running(hb), "still running after its last beat");
    ck_assert_msg(event_loop_timer_count(b.loop) == 0,
                  "%zu timer(s) left in the loop after the last beat",
                  event_loop_timer_count(b.loop));
    heartbeat_free(hb);
    event_loop_free(b.loop);
}
END_TEST

START_TEST(stop_from_inside_a_beat_ends_it_there)
{
    struct beats b = {.loop = new_loop(), .stop_at = 2};
    struct heartbeat *hb = start(&b, BEATS);
    run_loop(b.loop);
    ck_assert_msg(b.n == 2, "stopped at beat 2 of %d, it beat %d times", BEATS,
                  b.n);
    ck_assert_msg(!heartbeat_running(hb), "still running after a stop");
    ck_assert_msg(event_loop_timer_count(b.loop) == 0,
                  "%zu timer(s) left in the loop after a stop",
                  event_loop_timer_count(b.loop));
    heartbeat_free(hb);
    event_loop_free(b.loop);
}
END_TEST

START_TEST(freeing_a_running_heartbeat_stops_it)
{
    struct beats b = {.loop = new_loop(), .free_at = 2};
    start(&b, BEATS);
    run_loop(b.loop);
    ck_assert_msg(b.hb == NULL, "the heartbeat never reached beat 2");
    ck_assert_msg(b.n == 2, "freed after beat 2 of %d, it beat %d times", BEATS,
                  b.n);
    ck_assert_msg(event_loop_timer_count(b.loop) == 0,
                  "%zu timer(s) left in the loop after the free",
                  event_loop_timer_count(b.loop));
    event_loop_free(b.loop);
}
END_TEST

static void expect_refused(struct event_loop *loop, int64_t interval_us,
                           int beats, heartbeat_fn *fn, const char *what)
{
    errno = 0;
    struct heartbeat *hb = heartbeat_new(loop, interval_us, beats, fn, NULL);
    int err = errno;
    heartbeat_free(hb);
    ck_assert_msg(hb == NULL && err == EINVAL,
                  "heartbeat_new with %s: expected NULL and EINVAL, got %s "
                  "and %s",
                  what, hb == NULL ? "NULL" : "a heartbeat", strerror(err));
}

START_TEST(refuses_bad_arguments)
{
    struct event_loop *loop = new_loop();
    expect_refused(loop, 0, BEATS, on_beat, "an interval of 0");
    expect_refused(loop, -INTERVAL_US, BEATS, on_beat, "a negative interval");
    expect_refused(loop, INTERVAL_US, 0, on_beat, "0 beats");
    expect_refused(loop, INTERVAL_US, -1, on_beat, "-1 beats");
    expect_refused(loop, INTERVAL_US, BEATS, NULL, "no callback");
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 exercise: heartbeat");
    TCase *tc = tcase_create("heartbeat");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, 5); /* catches a hang; a test takes well under 1 s */
    tcase_add_test(tc, beats_n_times_numbered_from_one);
    tcase_add_test(tc, beat_k_comes_at_least_k_intervals_after_the_start);
    tcase_add_test(tc, stops_by_itself_and_leaves_no_timer_after_the_last_beat);
    tcase_add_test(tc, stop_from_inside_a_beat_ends_it_there);
    tcase_add_test(tc, freeing_a_running_heartbeat_stops_it);
    tcase_add_test(tc, refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
