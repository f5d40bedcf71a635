/* Timers: order, repetition without drift, every cancel case, re-arming
 * of the timerfd, and many timers at once. Assertions are about order and
 * counts; where time matters, the slack is generous. */
#include "test_support.h"

#include "base/timestamp.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MS INT64_C(1000)

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

static void quit_timer(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    (void)ctx;
    event_loop_quit(loop);
}

static void watchdog(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)id;
    ck_abort_msg("watchdog: %s did not finish in time", (const char *)ctx);
}

/* Runs the loop; fails the test if it is still running after 10 s. */
static void run_guarded(struct event_loop *loop, const char *what)
{
    uint64_t dog = event_loop_run_after(loop, 10000 * MS, watchdog,
                                        (void *)what);
    ck_assert_uint_ne(dog, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, dog);
}

/* Records which timers ran, in which order and in which round. */
struct record {
    int tags[64];
    uint64_t rounds[64];
    /* 64 entries: enough for every test here */
    int len;
};

struct tagged {
    struct record *rec;
    int tag;
};

static void record_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct tagged *t = ctx;
    (void)id;
    ck_assert_int_lt(t->rec->len, 64);
    t->rec->rounds[t->rec->len] = event_loop_iterations(loop);
    t->rec->tags[t->rec->len++] = t->tag;
}

START_TEST(due_timers_run_in_expiration_order_ties_by_creation)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    /* All due already, so they run in one batch. */
    int64_t base = timestamp_mono_us() - 1000 * MS;
    int64_t offsets[] = {50, 10, 30, 10, 20, 50, 40, 10};
    int n = (int)(sizeof offsets / sizeof offsets[0]);
    struct tagged tags[8];
    for (int i = 0; i < n; i++) {
        tags[i] = (struct tagged){&rec, i};
        ck_assert_uint_ne(
            event_loop_run_at(loop, base + offsets[i], record_fn, &tags[i]),
            0);
    }
    ck_assert_uint_ne(event_loop_run_at(loop, base + 100, quit_timer, NULL),
                      0);
    run_guarded(loop, "ordering");
    int expected[] = {1, 3, 7, 4, 2, 6, 0, 5}; /* by (offset, creation) */
    ck_assert_int_eq(rec.len, n);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(rec.tags[i], expected[i]);
        ck_assert_uint_eq(rec.rounds[i], rec.rounds[0]); /* one batch */
    }
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

START_TEST(equal_expirations_run_in_creation_order)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    int64_t when = timestamp_mono_us() - 1000 * MS;
    struct tagged tags[40];
    for (int i = 0; i < 40; i++) {
        tags[i] = (struct tagged){&rec, i};
        /* interleave with later timers so the heap must reorder */
        ck_assert_uint_ne(event_loop_run_at(loop, when + (i % 2 ? 0 : 1),
                                            record_fn, &tags[i]),
                          0);
    }
    ck_assert_uint_ne(event_loop_run_at(loop, when + 2, quit_timer, NULL), 0);
    run_guarded(loop, "ties");
    ck_assert_int_eq(rec.len, 40);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(rec.tags[i], 2 * i + 1);  /* when + 0, in order */
        ck_assert_int_eq(rec.tags[20 + i], 2 * i); /* when + 1, in order */
    }
    event_loop_free(loop);
}
END_TEST

START_TEST(callback_gets_loop_id_and_ctx)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    struct tagged tag = {&rec, 7};
    uint64_t id = event_loop_run_after(loop, 0, record_fn, &tag);
    uint64_t id2 = event_loop_run_after(loop, 1 * MS, quit_timer, NULL);
    ck_assert_uint_gt(id, 0);
    ck_assert_uint_eq(id2, id + 1); /* ids are a sequence */
    run_guarded(loop, "one timer");
    ck_assert_int_eq(rec.len, 1);
    ck_assert_int_eq(rec.tags[0], 7);
    event_loop_free(loop);
}
END_TEST

/* A repeating timer that records the expiration it is running for. */
struct ticker {
    int64_t due[32];
    int64_t ran_at[32];
    int64_t slept_until[32];
    int fires;
    int stop_after;
    int64_t work_us;  /* every fire keeps the loop busy this long */
    int stall_on;     /* and this fire (1-based) ... */
    int64_t stall_us; /* ... this long */
    bool cancel_self;
};

static void busy_wait_until(int64_t until)
{
    while (timestamp_mono_us() < until)
        ;
}

static void tick_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct ticker *t = ctx;
    ck_assert_int_lt(t->fires, 32);
    int64_t due = 0;
    ck_assert_int_eq(event_loop_timer_expiration(loop, id, &due), 0);
    int k = t->fires++;
    t->due[k] = due;
    t->ran_at[k] = timestamp_mono_us();
    t->slept_until[k] = t->ran_at[k] + t->work_us;
    if (t->fires == t->stall_on)
        t->slept_until[k] += t->stall_us;
    busy_wait_until(t->slept_until[k]);
    if (t->fires == t->stop_after) {
        if (t->cancel_self)
            event_loop_cancel_timer(loop, id);
        else
            event_loop_quit(loop);
    }
}

START_TEST(repeating_timer_does_not_drift)
{
    struct event_loop *loop = new_loop();
    const int64_t interval = 10 * MS;
    /* Every fire spends 3 ms: with drift, the k-th expiration would be
     * 13k ms after the first, not 10k. */
    struct ticker t = {.stop_after = 6, .work_us = 3 * MS};
    int64_t before = timestamp_mono_us();
    uint64_t id = event_loop_run_every(loop, interval, tick_fn, &t);
    int64_t after = timestamp_mono_us();
    ck_assert_uint_ne(id, 0);
    run_guarded(loop, "no drift");
    ck_assert_int_eq(t.fires, 6);
    ck_assert_int_ge(t.due[0], before + interval);
    ck_assert_int_le(t.due[0], after + interval);
    /* Every expiration is on the grid of the first: first + k intervals,
     * where a drifting timer would be 13k ms on. (A loop held up for more
     * than an interval, as a loaded machine may do, skips ahead to a later
     * slot of the same grid: no assertion on which slot.) */
    for (int k = 1; k < 6; k++) {
        ck_assert_int_gt(t.due[k], t.due[k - 1]);
        ck_assert_int_eq((t.due[k] - t.due[0]) % interval, 0);
    }
    for (int k = 0; k < 6; k++)
        ck_assert_int_ge(t.ran_at[k], t.due[k]); /* never early */
    event_loop_cancel_timer(loop, id);
    event_loop_free(loop);
}
END_TEST

START_TEST(late_repeating_timer_skips_ahead_without_a_burst)
{
    struct event_loop *loop = new_loop();
    const int64_t interval = 5 * MS;
    /* The second fire keeps the loop busy for 23 ms: 4 slots are missed. */
    struct ticker t = {.stop_after = 5, .stall_on = 2, .stall_us = 23 * MS};
    uint64_t id = event_loop_run_every(loop, interval, tick_fn, &t);
    ck_assert_uint_ne(id, 0);
    run_guarded(loop, "skip ahead");
    ck_assert_int_eq(t.fires, 5);
    for (int k = 1; k < 5; k++) {
        ck_assert_int_gt(t.due[k], t.due[k - 1]);
        ck_assert_int_eq((t.due[k] - t.due[0]) % interval, 0); /* on grid */
    }
    /* After the busy fire, the next expiration is a slot after the busy
     * period ended: the missed slots were skipped, not fired in a burst.
     * (How far after depends on when the loop got back to the timer, so
     * there is no upper bound here: these machines are shared.) */
    ck_assert_int_gt(t.due[2], t.slept_until[1]);
    ck_assert_int_ge(t.due[2] - t.due[1], 4 * interval);
    event_loop_cancel_timer(loop, id);
    event_loop_free(loop);
}
END_TEST

START_TEST(repeating_timer_cancelling_itself_is_not_reinserted)
{
    struct event_loop *loop = new_loop();
    struct ticker t = {.stop_after = 3, .cancel_self = true};
    uint64_t id = event_loop_run_every(loop, 1 * MS, tick_fn, &t);
    ck_assert_uint_ne(id, 0);
    ck_assert_uint_ne(event_loop_run_after(loop, 40 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "self cancel");
    ck_assert_int_eq(t.fires, 3);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, id, &when), -ENOENT);
    event_loop_free(loop);
}
END_TEST

/* A timer that cancels others when it runs. */
struct canceller {
    uint64_t victims[4];
    int n;
    int runs;
};

static void cancel_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct canceller *c = ctx;
    (void)id;
    c->runs++;
    for (int i = 0; i < c->n; i++)
        event_loop_cancel_timer(loop, c->victims[i]);
}

static void must_not_run(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)ctx;
    ck_abort_msg("cancelled timer %llu ran", (unsigned long long)id);
}

START_TEST(cancel_later_timer_of_the_same_batch)
{
    struct event_loop *loop = new_loop();
    int64_t base = timestamp_mono_us() - 100 * MS; /* all in one batch */
    struct canceller c = {.n = 0};
    ck_assert_uint_ne(event_loop_run_at(loop, base, cancel_fn, &c), 0);
    c.victims[c.n++] = event_loop_run_at(loop, base + 1, must_not_run, NULL);
    /* A repeating one later in the batch: not run, and not put back. */
    c.victims[c.n++] = event_loop_run_every(loop, 1, must_not_run, NULL);
    ck_assert_uint_ne(c.victims[0], 0);
    ck_assert_uint_ne(c.victims[1], 0);
    ck_assert_uint_ne(event_loop_run_at(loop, base + 2, quit_timer, NULL), 0);
    run_guarded(loop, "cancel in batch");
    ck_assert_int_eq(c.runs, 1);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

START_TEST(cancel_pending_timer_from_a_callback)
{
    struct event_loop *loop = new_loop();
    struct canceller c = {.n = 0};
    ck_assert_uint_ne(event_loop_run_after(loop, 1 * MS, cancel_fn, &c), 0);
    c.victims[c.n++] = event_loop_run_after(loop, 30 * MS, must_not_run, NULL);
    ck_assert_uint_ne(event_loop_run_after(loop, 60 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "cancel pending");
    ck_assert_int_eq(c.runs, 1);
    event_loop_free(loop);
}
END_TEST

START_TEST(cancel_stale_or_unknown_ids_is_harmless)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    struct tagged fired = {&rec, 1}, later = {&rec, 2};
    uint64_t a = event_loop_run_after(loop, 0, record_fn, &fired);
    uint64_t q = event_loop_run_after(loop, 1 * MS, quit_timer, NULL);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(q, 0);
    run_guarded(loop, "first round");
    ck_assert_int_eq(rec.len, 1);

    uint64_t b = event_loop_run_after(loop, 2 * MS, record_fn, &later);
    uint64_t c = event_loop_run_after(loop, 1 * MS, record_fn, &later);
    ck_assert_uint_ne(b, 0);
    ck_assert_uint_ne(c, 0);
    event_loop_cancel_timer(loop, c);
    event_loop_cancel_timer(loop, c);          /* cancelled already */
    event_loop_cancel_timer(loop, a);          /* fired already */
    event_loop_cancel_timer(loop, 0);          /* never a timer id */
    event_loop_cancel_timer(loop, b + 100000); /* never existed */
    ck_assert_uint_eq(event_loop_timer_count(loop), 1);
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, a, &when), -ENOENT);
    ck_assert_int_eq(event_loop_timer_expiration(loop, b, &when), 0);
    ck_assert_uint_ne(event_loop_run_after(loop, 20 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "second round");
    ck_assert_int_eq(rec.len, 2); /* b ran, untouched by the no-ops */
    ck_assert_int_eq(rec.tags[1], 2);
    event_loop_free(loop);
}
END_TEST

START_TEST(delays_too_long_to_represent_mean_never)
{
    struct event_loop *loop = new_loop();
    uint64_t a = event_loop_run_after(loop, INT64_MAX, must_not_run, NULL);
    uint64_t b = event_loop_run_every(loop, INT64_MAX, must_not_run, NULL);
    uint64_t c = event_loop_run_at(loop, INT64_MAX, must_not_run, NULL);
    ck_assert(a != 0 && b != 0 && c != 0);
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, a, &when), 0);
    ck_assert_int_eq(when, INT64_MAX); /* saturated, not wrapped */
    ck_assert_int_eq(event_loop_timer_expiration(loop, b, &when), 0);
    ck_assert_int_eq(when, INT64_MAX);
    ck_assert_uint_ne(event_loop_run_after(loop, 30 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "huge delays");
    ck_assert_uint_eq(event_loop_timer_count(loop), 3);
    event_loop_free(loop);
}
END_TEST

/* A repeating timer close to the end of time stops there instead of
 * wrapping into the past and firing in a burst. */
static void late_ticker(struct event_loop *loop, uint64_t id, void *ctx)
{
    int *fires = ctx;
    (*fires)++;
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, id, &when), 0);
}

START_TEST(repeating_timer_near_the_end_of_time_saturates)
{
    struct event_loop *loop = new_loop();
    int fires = 0;
    /* interval so large that the second expiration would overflow */
    uint64_t id = event_loop_run_every(loop, INT64_MAX / 2 + 1, late_ticker,
                                       &fires);
    ck_assert_uint_ne(id, 0);
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, id, &when), 0);
    ck_assert_int_gt(when, INT64_MAX / 2); /* far in the future */
    ck_assert_uint_ne(event_loop_run_after(loop, 20 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "near the end of time");
    ck_assert_int_eq(fires, 0);
    event_loop_free(loop);
}
END_TEST

/* Counting from inside a batch: one-shots still to run are counted. */
struct count_probe {
    size_t seen[2];
    int n;
};

static void record_count(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct count_probe *p = ctx;
    (void)id;
    p->seen[p->n++] = event_loop_timer_count(loop);
}

START_TEST(timer_count_inside_a_batch)
{
    struct event_loop *loop = new_loop();
    struct count_probe p = {.n = 0};
    int64_t due = timestamp_mono_us() - 10 * MS; /* both in one batch */
    ck_assert_uint_ne(event_loop_run_at(loop, due, record_count, &p), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, due + 1, record_count, &p), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, due + 2, quit_timer, NULL), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(p.n, 2);
    ck_assert_uint_eq(p.seen[0], 2); /* the second and the quit timer */
    ck_assert_uint_eq(p.seen[1], 1); /* the quit timer */
    event_loop_free(loop);
}
END_TEST

/* Slack makes timers late, never early; a large slack is visible. */
struct when_ran {
    int64_t at;
};

static void note_time(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    ((struct when_ran *)ctx)->at = timestamp_mono_us();
    event_loop_quit(loop);
}

START_TEST(timer_slack_delays_but_never_advances)
{
    struct event_loop *loop = new_loop();
    ck_assert_int_eq(event_loop_set_timer_slack(loop, -1), -EINVAL);
    ck_assert_int_eq(event_loop_set_timer_slack(loop, 150 * MS), 0);
    struct when_ran w = {0};
    int64_t start = timestamp_mono_us();
    ck_assert_uint_ne(event_loop_run_after(loop, 10 * MS, note_time, &w), 0);
    run_guarded(loop, "slack");
    ck_assert_int_ge(w.at - start, 160 * MS); /* due + slack, at least */
    ck_assert_int_eq(event_loop_set_timer_slack(loop, 0), 0);
    start = timestamp_mono_us();
    ck_assert_uint_ne(event_loop_run_after(loop, 10 * MS, note_time, &w), 0);
    run_guarded(loop, "no slack");
    ck_assert_int_ge(w.at - start, 10 * MS);
    event_loop_free(loop);
}
END_TEST

/* A zero-delay timer that re-adds itself: each must run in a new round. */
struct chain {
    int left;
    uint64_t last_round;
    int io_seen_at; /* chain length left when the eventfd was read */
    int efd;
};

static void chain_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct chain *c = ctx;
    (void)id;
    uint64_t round = event_loop_iterations(loop);
    ck_assert_uint_gt(round, c->last_round); /* never twice in one round */
    c->last_round = round;
    if (--c->left == 0) {
        event_loop_quit(loop);
        return;
    }
    ck_assert_uint_ne(event_loop_run_after(loop, 0, chain_fn, c), 0);
}

static void chain_io(struct channel *ch, int64_t t, void *ctx)
{
    struct chain *c = ctx;
    uint64_t v;
    (void)t;
    ck_assert_int_eq(read(ch->fd, &v, sizeof v), sizeof v);
    c->io_seen_at = c->left;
}

START_TEST(zero_delay_timer_from_a_callback_runs_next_round)
{
    struct event_loop *loop = new_loop();
    struct chain c = {.left = 200, .io_seen_at = -1};
    c.efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable at once */
    ck_assert_int_ge(c.efd, 0);
    struct channel ch;
    channel_init(&ch, loop, c.efd, &c);
    channel_set_read_fn(&ch, chain_io);
    ck_assert_int_eq(channel_enable_reading(&ch), 0);
    ck_assert_uint_ne(event_loop_run_after(loop, 0, chain_fn, &c), 0);
    run_guarded(loop, "zero-delay chain");
    ck_assert_int_eq(c.left, 0);
    ck_assert_uint_ge(event_loop_iterations(loop), 200);
    ck_assert_int_gt(c.io_seen_at, 0); /* I/O got through meanwhile */
    channel_remove(&ch);
    channel_destroy(&ch);
    test_close(c.efd);
    event_loop_free(loop);
}
END_TEST

static void add_due_timer(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct tagged *t = ctx;
    record_fn(loop, id, ctx);
    /* Already due, but added during the batch: it belongs to a later one. */
    static struct tagged inner;
    inner = (struct tagged){t->rec, t->tag + 1};
    ck_assert_uint_ne(event_loop_run_at(loop, timestamp_mono_us() - 50 * MS,
                                        record_fn, &inner),
                      0);
}

START_TEST(due_timer_added_in_a_batch_runs_in_a_later_one)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    struct tagged first = {&rec, 10};
    ck_assert_uint_ne(event_loop_run_after(loop, 0, add_due_timer, &first), 0);
    ck_assert_uint_ne(event_loop_run_after(loop, 20 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "due timer added in batch");
    ck_assert_int_eq(rec.len, 2);
    ck_assert_int_eq(rec.tags[1], 11);
    ck_assert_uint_gt(rec.rounds[1], rec.rounds[0]);
    event_loop_free(loop);
}
END_TEST

/* An I/O callback adds a timer that is due at once. */
struct io_adds {
    struct tagged tag;
    uint64_t added_round;
};

static void add_timer_on_io(struct channel *ch, int64_t t, void *ctx)
{
    struct io_adds *a = ctx;
    uint64_t v;
    (void)t;
    ck_assert_int_eq(read(ch->fd, &v, sizeof v), sizeof v);
    a->added_round = event_loop_iterations(ch->loop);
    ck_assert_uint_ne(event_loop_run_after(ch->loop, 0, record_fn, &a->tag),
                      0);
}

/* One try: an eventfd ready from the start, and a timer already due, so
 * that the timerfd fires as soon as it is armed. Returns whether both were
 * in the first batch (then epoll lists the eventfd first, poll the
 * timerfd); either way, the timer added by the I/O callback must run in a
 * later round than the one that added it. */
static bool io_callback_adds_a_due_timer(void)
{
    struct event_loop *loop = new_loop();
    ck_assert_int_eq(event_loop_set_timer_slack(loop, 0), 0);
    struct record rec = {.len = 0};
    struct io_adds a = {.tag = {&rec, 2}};
    struct tagged first = {&rec, 1};
    int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(efd, 0);
    struct channel ch;
    channel_init(&ch, loop, efd, &a);
    channel_set_read_fn(&ch, add_timer_on_io);
    ck_assert_int_eq(channel_enable_reading(&ch), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, timestamp_mono_us() - MS,
                                        record_fn, &first),
                      0);
    ck_assert_uint_ne(event_loop_run_after(loop, 20 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "due timer added by an I/O callback");
    ck_assert_int_eq(rec.len, 2);
    ck_assert_int_eq(rec.tags[1], 2);
    ck_assert_uint_gt(rec.rounds[1], a.added_round);
    channel_remove(&ch);
    channel_destroy(&ch);
    test_close(efd);
    event_loop_free(loop);
    return rec.rounds[0] == a.added_round;
}

START_TEST(due_timer_added_by_an_io_callback_runs_in_a_later_round)
{
    /* Whether the timerfd is ready by the first wait is the kernel's
     * business: try until it was, at least once. */
    bool same_batch = false;
    for (int i = 0; i < 20 && !same_batch; i++)
        same_batch = io_callback_adds_a_due_timer();
    ck_assert(same_batch);
}
END_TEST

START_TEST(times_at_or_before_zero_still_fire)
{
    /* A zero it_value disarms a timerfd; such times must still fire. */
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    struct tagged a = {&rec, 1}, b = {&rec, 2};
    ck_assert_uint_ne(event_loop_run_at(loop, 0, record_fn, &a), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, -5, record_fn, &b), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, 1, quit_timer, NULL), 0);
    run_guarded(loop, "time zero");
    ck_assert_int_eq(rec.len, 2);
    ck_assert_int_eq(rec.tags[0], 2); /* -5 before 0 */
    event_loop_free(loop);
}
END_TEST

START_TEST(earlier_timer_added_later_rearms)
{
    struct event_loop *loop = new_loop();
    struct record rec = {.len = 0};
    struct tagged far = {&rec, 1};
    uint64_t far_id = event_loop_run_after(loop, 60000 * MS, record_fn, &far);
    ck_assert_uint_ne(far_id, 0);
    ck_assert_uint_ne(event_loop_run_after(loop, 5 * MS, quit_timer, NULL),
                      0);
    int64_t start = timestamp_mono_us();
    run_guarded(loop, "earlier timer"); /* would hang for a minute */
    ck_assert_int_lt(timestamp_mono_us() - start, 5000 * MS);
    ck_assert_int_eq(rec.len, 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 1);
    event_loop_free(loop); /* frees the far timer */
}
END_TEST

START_TEST(cancelling_the_earliest_rearms_without_a_spurious_wakeup)
{
    struct event_loop *loop = new_loop();
    struct canceller c = {.n = 0};
    ck_assert_uint_ne(event_loop_run_after(loop, 2 * MS, cancel_fn, &c), 0);
    c.victims[c.n++] = event_loop_run_after(loop, 20 * MS, must_not_run, NULL);
    ck_assert_uint_ne(event_loop_run_after(loop, 60 * MS, quit_timer, NULL),
                      0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    /* Round 1 ran the canceller; round 2 the quit timer. Had the timerfd
     * stayed armed for the cancelled timer, there would be a third. */
    ck_assert_int_eq(c.runs, 1);
    ck_assert_uint_eq(event_loop_iterations(loop), 2);

    /* Cancel before the loop ever waited: the timer after it still fires. */
    uint64_t doomed = event_loop_run_after(loop, 5 * MS, must_not_run, NULL);
    ck_assert_uint_ne(doomed, 0);
    event_loop_cancel_timer(loop, doomed);
    ck_assert_uint_ne(event_loop_run_after(loop, 10 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "cancel before wait");
    event_loop_free(loop);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    struct event_loop *loop = new_loop();
    errno = 0;
    ck_assert_uint_eq(event_loop_run_every(loop, 0, quit_timer, NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_uint_eq(event_loop_run_every(loop, -1, quit_timer, NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_uint_eq(event_loop_run_after(loop, 10, NULL, NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    /* A negative delay is a delay of zero. */
    ck_assert_uint_ne(event_loop_run_after(loop, -1000 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "negative delay");
    event_loop_free(loop);
}
END_TEST

START_TEST(loop_freed_with_pending_timers_frees_them)
{
    struct event_loop *loop = new_loop();
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_ne(event_loop_run_after(loop, (3600 + i) * 1000 * MS,
                                               must_not_run, NULL),
                          0);
    ck_assert_uint_ne(event_loop_run_every(loop, 1000 * MS, must_not_run,
                                           NULL),
                      0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 1001);
    event_loop_free(loop); /* memcheck and the fd guard check the rest */
}
END_TEST

/* 100k timers with random delays; half are cancelled; every other one
 * must fire exactly once. */
#define MANY 100000

static unsigned char fired_count[MANY];

static void count_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)id;
    fired_count[(intptr_t)ctx]++;
}

START_TEST(hundred_thousand_timers_half_cancelled)
{
    struct event_loop *loop = new_loop();
    static uint64_t ids[MANY];
    memset(fired_count, 0, sizeof fired_count);
    unsigned seed = 12345;
    int64_t now = timestamp_mono_us();
    for (intptr_t i = 0; i < MANY; i++) {
        int64_t delay = (int64_t)(rand_r(&seed) % 30000) - 5000; /* -5..25 ms */
        ids[i] = event_loop_run_at(loop, now + delay, count_fn, (void *)i);
        ck_assert_uint_ne(ids[i], 0);
    }
    for (int i = 0; i < MANY; i += 2)
        event_loop_cancel_timer(loop, ids[i]);
    ck_assert_uint_eq(event_loop_timer_count(loop), MANY / 2);
    ck_assert_uint_ne(event_loop_run_at(loop, now + 40 * MS, quit_timer, NULL),
                      0);
    run_guarded(loop, "100k timers");
    for (int i = 0; i < MANY; i++)
        ck_assert_msg(fired_count[i] == (i % 2 ? 1 : 0),
                      "timer %d fired %d times", i, fired_count[i]);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    event_loop_free(loop);
}
END_TEST

/* Which timers ran, in order, for the tests with many timers. */
#define SWEEP_TIMERS 3000

struct run_log {
    int order[SWEEP_TIMERS];
    int len;
};

struct logged {
    struct run_log *log;
    int index;
};

static void log_fn(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct logged *l = ctx;
    (void)loop;
    (void)id;
    ck_assert_int_lt(l->log->len, SWEEP_TIMERS);
    l->log->order[l->log->len++] = l->index;
}

/* Cancelling most timers sweeps their entries out of the heap several
 * times; the rest still run exactly once, in (expiration, id) order. */
START_TEST(swept_heap_keeps_expiration_order)
{
    static struct logged timers[SWEEP_TIMERS];
    static uint64_t ids[SWEEP_TIMERS];
    static int64_t whens[SWEEP_TIMERS];
    static bool cancelled[SWEEP_TIMERS];
    struct run_log log = {.len = 0};
    struct event_loop *loop = new_loop();
    int64_t base = timestamp_mono_us() - 1000 * MS; /* all due: one batch */
    unsigned seed = 7;
    for (int i = 0; i < SWEEP_TIMERS; i++) {
        timers[i] = (struct logged){&log, i};
        whens[i] = base + rand_r(&seed) % 50; /* many ties */
        ids[i] = event_loop_run_at(loop, whens[i], log_fn, &timers[i]);
        ck_assert_uint_ne(ids[i], 0);
        cancelled[i] = false;
    }
    size_t live = SWEEP_TIMERS;
    for (int k = 0; k < SWEEP_TIMERS * 4 / 5; k++) {
        int i = rand_r(&seed) % SWEEP_TIMERS;
        event_loop_cancel_timer(loop, ids[i]); /* twice is harmless */
        live -= !cancelled[i];
        cancelled[i] = true;
        ck_assert_uint_eq(event_loop_timer_count(loop), live);
    }
    ck_assert_uint_ne(event_loop_run_at(loop, base + 50, quit_timer, NULL),
                      0);
    run_guarded(loop, "swept heap");
    ck_assert_uint_eq((size_t)log.len, live);
    for (int k = 0; k < log.len; k++) {
        int i = log.order[k];
        ck_assert(!cancelled[i]);
        if (k > 0) { /* (when, creation) strictly increasing */
            int prev = log.order[k - 1];
            ck_assert(whens[prev] < whens[i] ||
                      (whens[prev] == whens[i] && prev < i));
        }
    }
    event_loop_free(loop);
}
END_TEST

/* A callback that cancels many pending timers makes the heap be swept
 * while its batch runs: the rest of the batch still runs in order, and
 * its repeating timer is still put back. */
struct mass_cancel {
    uint64_t victims[1000];
    int n;
};

static void cancel_many(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct mass_cancel *m = ctx;
    (void)id;
    for (int i = 0; i < m->n; i++)
        event_loop_cancel_timer(loop, m->victims[i]);
}

START_TEST(sweep_during_a_batch_keeps_the_batch)
{
    struct event_loop *loop = new_loop();
    static struct mass_cancel m;
    struct record rec = {.len = 0};
    struct tagged later = {&rec, 1}, repeating = {&rec, 2};
    int64_t due = timestamp_mono_us() - 10 * MS; /* one batch */
    ck_assert_uint_ne(event_loop_run_at(loop, due, cancel_many, &m), 0);
    ck_assert_uint_ne(event_loop_run_at(loop, due + 1, record_fn, &later), 0);
    /* due 1 us from now: in the batch too, after the others */
    uint64_t rep_id = event_loop_run_every(loop, 1, record_fn, &repeating);
    ck_assert_uint_ne(rep_id, 0);
    m.n = 1000;
    for (int i = 0; i < m.n; i++) {
        m.victims[i] = event_loop_run_after(loop, (3600 + i) * 1000 * MS,
                                            must_not_run, NULL);
        ck_assert_uint_ne(m.victims[i], 0);
    }
    ck_assert_uint_ne(event_loop_run_at(loop, due + 2, quit_timer, NULL), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(rec.len, 2);
    ck_assert_int_eq(rec.tags[0], 1);
    ck_assert_int_eq(rec.tags[1], 2);
    ck_assert_uint_eq(rec.rounds[1], rec.rounds[0]);    /* one batch */
    ck_assert_uint_eq(event_loop_timer_count(loop), 1); /* the repeating one */
    int64_t when;
    ck_assert_int_eq(event_loop_timer_expiration(loop, rep_id, &when), 0);
    event_loop_free(loop);
}
END_TEST

/* Keeps one timer of every STRIDE made, cancelling the others at once:
 * the survivors' ids are a power of two apart, the pattern that piles
 * every id onto a few buckets of a table indexed by the low bits alone. */
START_TEST(survivors_among_many_cancelled_timers_stay_findable)
{
    enum { STRIDE = 1024, KEPT = 300 };
    static uint64_t kept[KEPT];
    static int64_t whens[KEPT];
    struct event_loop *loop = new_loop();
    int64_t far = timestamp_mono_us() + 3600 * 1000 * MS;
    uint64_t last = 0;
    for (int k = 0; k < KEPT; k++) {
        for (int i = 0; i < STRIDE; i++) {
            int64_t when = far + k * STRIDE + i;
            uint64_t id = event_loop_run_at(loop, when, must_not_run, NULL);
            ck_assert_uint_eq(id, last + 1);
            last = id;
            if (i == 0) {
                kept[k] = id;
                whens[k] = when;
            } else {
                event_loop_cancel_timer(loop, id);
            }
        }
    }
    ck_assert_uint_eq(event_loop_timer_count(loop), KEPT);
    for (int k = 0; k < KEPT; k++) {
        int64_t when;
        ck_assert_int_eq(event_loop_timer_expiration(loop, kept[k], &when), 0);
        ck_assert_int_eq(when, whens[k]);
        ck_assert_int_eq(
            event_loop_timer_expiration(loop, kept[k] + 1, &when), -ENOENT);
    }
    for (int k = 0; k < KEPT; k += 2) /* the oldest first */
        event_loop_cancel_timer(loop, kept[k]);
    event_loop_cancel_timer(loop, 0);
    event_loop_cancel_timer(loop, last + 1); /* not made yet */
    event_loop_cancel_timer(loop, kept[0]);  /* cancelled already */
    ck_assert_uint_eq(event_loop_timer_count(loop), KEPT / 2);
    for (int k = 0; k < KEPT; k++) {
        int64_t when;
        ck_assert_int_eq(event_loop_timer_expiration(loop, kept[k], &when),
                         k % 2 ? 0 : -ENOENT);
    }
    event_loop_free(loop);
}
END_TEST

/* Random adds, cancels and lookups, checked against a model after every
 * step. Cancels mostly hit recent timers, so that some old ones live long
 * among many newer ones, as the id table grows; and they outnumber the
 * cancels often enough that the heap is swept many times. */
START_TEST(random_adds_and_cancels_match_a_model)
{
    enum { OPS = 60000 };
    static uint64_t ids[OPS];
    static int64_t whens[OPS];
    static bool alive[OPS];
    struct event_loop *loop = new_loop();
    int64_t far = timestamp_mono_us() + 3600 * 1000 * MS;
    unsigned seed = 99;
    int created = 0;
    size_t live = 0;
    for (int step = 0; step < OPS; step++) {
        int dice = rand_r(&seed) % 100;
        if (dice < 45 || created == 0) {
            whens[created] = far + rand_r(&seed) % 1000000;
            ids[created] = event_loop_run_at(loop, whens[created],
                                             must_not_run, NULL);
            if (created > 0) /* a sequence */
                ck_assert_uint_eq(ids[created], ids[created - 1] + 1);
            else
                ck_assert_uint_ne(ids[created], 0);
            alive[created++] = true;
            live++;
        } else if (dice < 80) {
            int recent = created < 64 ? created : 64;
            int k = rand_r(&seed) % 10 < 7
                        ? created - 1 - rand_r(&seed) % recent
                        : rand_r(&seed) % created;
            event_loop_cancel_timer(loop, ids[k]);
            live -= alive[k];
            alive[k] = false;
        } else {
            int k = rand_r(&seed) % created;
            int64_t when = 0;
            int err = event_loop_timer_expiration(loop, ids[k], &when);
            if (alive[k]) {
                ck_assert_int_eq(err, 0);
                ck_assert_int_eq(when, whens[k]);
            } else {
                ck_assert_int_eq(err, -ENOENT);
            }
            /* ids never handed out are unknown too */
            ck_assert_int_eq(event_loop_timer_expiration(
                                 loop, ids[created - 1] + 1 + (uint64_t)k,
                                 &when),
                             -ENOENT);
        }
        ck_assert_uint_eq(event_loop_timer_count(loop), live);
    }
    for (int k = 0; k < created; k++) { /* the survivors, all findable */
        int64_t when;
        ck_assert_int_eq(event_loop_timer_expiration(loop, ids[k], &when),
                         alive[k] ? 0 : -ENOENT);
    }
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 timers");
    TCase *tc = tcase_create("timers");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, due_timers_run_in_expiration_order_ties_by_creation);
    tcase_add_test(tc, equal_expirations_run_in_creation_order);
    tcase_add_test(tc, callback_gets_loop_id_and_ctx);
    tcase_add_test(tc, repeating_timer_does_not_drift);
    tcase_add_test(tc, late_repeating_timer_skips_ahead_without_a_burst);
    tcase_add_test(tc, repeating_timer_cancelling_itself_is_not_reinserted);
    tcase_add_test(tc, cancel_later_timer_of_the_same_batch);
    tcase_add_test(tc, cancel_pending_timer_from_a_callback);
    tcase_add_test(tc, cancel_stale_or_unknown_ids_is_harmless);
    tcase_add_test(tc, zero_delay_timer_from_a_callback_runs_next_round);
    tcase_add_test(tc, due_timer_added_by_an_io_callback_runs_in_a_later_round);
    tcase_add_test(tc, due_timer_added_in_a_batch_runs_in_a_later_one);
    tcase_add_test(tc, times_at_or_before_zero_still_fire);
    tcase_add_test(tc, earlier_timer_added_later_rearms);
    tcase_add_test(tc, cancelling_the_earliest_rearms_without_a_spurious_wakeup);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, loop_freed_with_pending_timers_frees_them);
    tcase_add_test(tc, hundred_thousand_timers_half_cancelled);
    tcase_add_test(tc, random_adds_and_cancels_match_a_model);
    tcase_add_test(tc, swept_heap_keeps_expiration_order);
    tcase_add_test(tc, sweep_during_a_batch_keeps_the_batch);
    tcase_add_test(tc, survivors_among_many_cancelled_timers_stay_findable);
    tcase_add_test(tc, delays_too_long_to_represent_mean_never);
    tcase_add_test(tc, repeating_timer_near_the_end_of_time_saturates);
    tcase_add_test(tc, timer_count_inside_a_batch);
    tcase_add_test(tc, timer_slack_delays_but_never_advances);
    suite_add_tcase(s, tc);
    return s;
}
