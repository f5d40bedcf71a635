/* The timer queue: a binary min-heap of timers ordered by (expiration,
 * id), a hash table of the ids of the live timers, and one timerfd.
 *
 * A timer is live, and will run, while its id is in the table. Cancelling
 * it removes the id and nothing else: its heap entry stays, and is thrown
 * away when it reaches the top, or by a sweep once such entries make up
 * more than a quarter of the heap. Ids are never reused, so a stale entry
 * can never pass for a live timer. */
#include "net/timer_queue.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/channel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* armed_when values that no timestamp takes: nothing armed, and "fired
 * and not yet re-armed", which forces the next timer_queue_arm() to call
 * timerfd_settime() even to leave it disarmed. */
#define NOT_ARMED INT64_MAX
#define FIRED INT64_MIN

/* A timer as the heap and the batch hold it. */
struct timer {
    int64_t when; /* expiration */
    uint64_t id;
    int64_t interval; /* > 0: repeats */
    event_loop_timer_fn *fn;
    void *ctx;
};

/* A live timer: pending, or in the batch being run and not cancelled.
 * Id 0, never a timer's, marks an empty bucket. */
struct live_id {
    uint64_t id;
    int64_t when; /* its expiration, for timer_queue_expiration() */
};

#define LIVE_TABLE_MIN_BITS 6

struct timer_queue {
    struct event_loop *loop;
    int timerfd;
    struct channel channel;
    int64_t armed_when; /* what the timerfd is set to, NOT_ARMED or FIRED */
    int64_t slack_us;   /* how late the timerfd may fire, to batch timers */

    struct timer *heap; /* the pending timers, and cancelled ones */
    size_t heap_len;
    size_t heap_capacity;

    /* Every live timer by id: open addressing with linear probing, at
     * most half full. */
    struct live_id *live;
    unsigned live_bits; /* 2^live_bits buckets */
    size_t live_len;

    uint64_t next_id;        /* ids are a sequence: 1, 2, 3, ... */
    uint64_t round_first_id; /* next_id when this round's wait began */

    struct timer *batch; /* the expired timers being run, in order */
    size_t batch_len;
    size_t batch_next; /* the first timer of the batch not yet run */
    size_t batch_capacity;
};

/* --- the live ids --------------------------------------------------------- */

/* Consecutive ids land five buckets apart: adding timers writes the table
 * almost in order, yet fresh ids take only a fifth of the buckets they
 * cross, leaving room for the older ids there. The bits above the table
 * size are folded in, so that ids a multiple of the table size apart (an
 * old timer that outlived many new ones) get different homes. */
static size_t home_bucket(uint64_t id, unsigned bits)
{
    return (size_t)((id ^ (id >> bits)) * 5) & (((size_t)1 << bits) - 1);
}

static size_t live_mask(const struct timer_queue *tq)
{
    return ((size_t)1 << tq->live_bits) - 1;
}

/* The bucket of @p id, or NULL when it names no live timer. */
static struct live_id *find_live(const struct timer_queue *tq, uint64_t id)
{
    size_t mask = live_mask(tq);
    for (size_t i = home_bucket(id, tq->live_bits);; i = (i + 1) & mask) {
        if (tq->live[i].id == 0) /* also how id 0 is never found */
            return NULL;
        if (tq->live[i].id == id)
            return &tq->live[i];
    }
}

/* Stores in the first empty bucket from the id's home; the table is at
 * most half full, so there is one nearby. */
static void put_live(struct live_id *live, unsigned bits, struct live_id e)
{
    size_t mask = ((size_t)1 << bits) - 1;
    size_t i = home_bucket(e.id, bits);
    while (live[i].id != 0)
        i = (i + 1) & mask;
    live[i] = e;
}

/* Empties a bucket without tombstones: each later entry of the run that
 * the hole cuts off from its home moves into the hole, and so on (Knuth's
 * algorithm R), so that a lookup may still stop at the first empty
 * bucket. */
static void remove_live(struct timer_queue *tq, const struct live_id *bucket)
{
    size_t mask = live_mask(tq);
    size_t hole = (size_t)(bucket - tq->live);
    for (size_t i = (hole + 1) & mask; tq->live[i].id != 0;
         i = (i + 1) & mask) {
        size_t from_home = (i - home_bucket(tq->live[i].id, tq->live_bits)) &
                           mask;
        if (from_home >= ((i - hole) & mask)) {
            tq->live[hole] = tq->live[i];
            hole = i;
        }
    }
    tq->live[hole].id = 0;
    tq->live_len--;
}

/* Room for one more live id with the table at most half full. The larger
 * table is built beside the old one, so that running out of memory
 * changes nothing. */
static int reserve_live(struct timer_queue *tq)
{
    if ((tq->live_len + 1) * 2 <= live_mask(tq) + 1)
        return 0;
    unsigned bits = tq->live_bits + 1;
    struct live_id *live = calloc((size_t)1 << bits, sizeof *live);
    if (live == NULL)
        return -ENOMEM;
    for (size_t i = 0; i <= live_mask(tq); i++)
        if (tq->live[i].id != 0)
            put_live(live, bits, tq->live[i]);
    free(tq->live);
    tq->live = live;
    tq->live_bits = bits;
    return 0;
}

/* --- the heap ----------------------------------------------------------- */

static bool earlier(const struct timer *a, const struct timer *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return a->id < b->id; /* ties run in creation order */
}

static void sift_down(struct timer_queue *tq, size_t i)
{
    struct timer t = tq->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= tq->heap_len)
            break;
        if (child + 1 < tq->heap_len &&
            earlier(&tq->heap[child + 1], &tq->heap[child]))
            child++;
        if (!earlier(&tq->heap[child], &t))
            break;
        tq->heap[i] = tq->heap[child];
        i = child;
    }
    tq->heap[i] = t;
}

/* The caller has made room (reserve_heap). */
static void heap_push(struct timer_queue *tq, const struct timer *t)
{
    ASSERT(tq->heap_len < tq->heap_capacity);
    size_t i = tq->heap_len++;
    while (i > 0 && earlier(t, &tq->heap[(i - 1) / 2])) {
        tq->heap[i] = tq->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tq->heap[i] = *t;
}

static void heap_pop(struct timer_queue *tq)
{
    tq->heap[0] = tq->heap[--tq->heap_len];
    sift_down(tq, 0);
}

/* Room for one more timer, counting every timer of the batch being run as
 * one that may go back into the heap: then putting repeating timers back
 * after the batch never needs memory, and cannot fail. */
static int reserve_heap(struct timer_queue *tq)
{
    struct timer *heap =
        array_reserve(tq->heap, &tq->heap_capacity,
                      tq->heap_len + tq->batch_len + 1, sizeof *heap);
    if (heap == NULL)
        return -ENOMEM;
    tq->heap = heap;
    return 0;
}

/* Drops the cancelled timers from the heap and rebuilds it bottom-up
 * (Floyd's method, O(n)). Called once they make up a quarter of the heap,
 * that is after at least heap_len / 4 cancels: O(1) per cancel. */
static void sweep_cancelled(struct timer_queue *tq)
{
    size_t kept = 0;
    for (size_t i = 0; i < tq->heap_len; i++)
        if (find_live(tq, tq->heap[i].id) != NULL)
            tq->heap[kept++] = tq->heap[i];
    tq->heap_len = kept;
    for (size_t i = kept / 2; i-- > 0;)
        sift_down(tq, i);
}

/* --- adding and cancelling ------------------------------------------------ */

uint64_t timer_queue_add(struct timer_queue *tq, int64_t when_us,
                         int64_t interval_us, event_loop_timer_fn *fn,
                         void *ctx)
{
    if (reserve_heap(tq) != 0 || reserve_live(tq) != 0) {
        errno = ENOMEM;
        return 0;
    }
    struct timer t = {
        .when = when_us,
        .id = tq->next_id++,
        .interval = interval_us > 0 ? interval_us : 0,
        .fn = fn,
        .ctx = ctx,
    };
    put_live(tq->live, tq->live_bits, (struct live_id){t.id, t.when});
    tq->live_len++;
    heap_push(tq, &t);
    return t.id;
}

void timer_queue_cancel(struct timer_queue *tq, uint64_t id)
{
    struct live_id *bucket = find_live(tq, id);
    if (bucket == NULL)
        return; /* fired, cancelled already, or never existed */
    remove_live(tq, bucket);
    /* More than a quarter of the heap cancelled (live_len also counts the
     * timers of the batch being run, if any: then this errs on the side of
     * sweeping later). */
    if (3 * tq->heap_len > 4 * tq->live_len)
        sweep_cancelled(tq);
}

int timer_queue_expiration(const struct timer_queue *tq, uint64_t id,
                           int64_t *when_us)
{
    const struct live_id *bucket = find_live(tq, id);
    if (bucket == NULL)
        return -ENOENT;
    *when_us = bucket->when;
    return 0;
}

size_t timer_queue_size(const struct timer_queue *tq)
{
    size_t n = tq->live_len;
    /* One-shots of the batch that ran stay live until the batch ends. */
    for (size_t i = 0; i < tq->batch_next; i++)
        n -= tq->batch[i].interval == 0 &&
             find_live(tq, tq->batch[i].id) != NULL;
    return n;
}

/* --- expiry -------------------------------------------------------------- */

/* The next expiration of a repeating timer: its previous expiration plus
 * the interval, so that it does not drift; if that is already past (the
 * loop was busy), the first slot after now, rather than a burst. */
static int64_t next_expiration(const struct timer *t, int64_t now)
{
    if (t->when > INT64_MAX - t->interval)
        return INT64_MAX; /* past the end of time: never */
    int64_t next = t->when + t->interval;
    if (next <= now) {
        int64_t periods = (now - t->when) / t->interval + 1;
        if (periods > (INT64_MAX - t->when) / t->interval)
            return INT64_MAX;
        next = t->when + t->interval * periods;
    }
    return next;
}

/* Moves every live timer due at @p now from the heap into the batch, in
 * order, and throws away the cancelled ones met on the way. If the batch
 * cannot grow, the rest stay in the heap: the timerfd is re-armed to a
 * past time and they run next round.
 *
 * Timers added in this round, by a callback of an fd that was ready in
 * the same batch as the timerfd (epoll may list it first), are due too if
 * their time is past; but like every timer added from a callback they
 * wait for the next round, so they go back into the heap (which has room:
 * they just left it). */
static void collect_expired(struct timer_queue *tq, int64_t now)
{
    while (tq->heap_len > 0 && tq->heap[0].when <= now) {
        if (find_live(tq, tq->heap[0].id) != NULL) {
            struct timer *batch =
                array_reserve(tq->batch, &tq->batch_capacity,
                              tq->batch_len + 1, sizeof *batch);
            if (batch == NULL) {
                log_error("timer batch cannot grow; the rest run next round");
                break;
            }
            tq->batch = batch;
            tq->batch[tq->batch_len++] = tq->heap[0];
        }
        heap_pop(tq);
    }
    size_t kept = 0;
    for (size_t i = 0; i < tq->batch_len; i++) {
        if (tq->batch[i].id >= tq->round_first_id)
            heap_push(tq, &tq->batch[i]); /* added in this round */
        else
            tq->batch[kept++] = tq->batch[i];
    }
    tq->batch_len = kept;
}

/* Puts repeating timers back and forgets the others. Runs after the whole
 * batch, so a repeating timer never runs twice in one batch; @p now is read
 * after the callbacks, so time they spent counts as past. */
static void finish_batch(struct timer_queue *tq, int64_t now)
{
    for (size_t i = 0; i < tq->batch_len; i++) {
        struct timer *t = &tq->batch[i];
        struct live_id *bucket = find_live(tq, t->id);
        if (bucket == NULL) /* cancelled while in the batch */
            continue;
        if (t->interval > 0) {
            t->when = next_expiration(t, now);
            bucket->when = t->when;
            heap_push(tq, t); /* room guaranteed by reserve_heap() */
        } else {
            remove_live(tq, bucket);
        }
    }
    tq->batch_len = 0;
    tq->batch_next = 0;
}

static void on_timerfd_readable(struct channel *ch, int64_t receive_time_us,
                                void *ctx)
{
    struct timer_queue *tq = ctx;
    (void)ch;
    (void)receive_time_us;
    /* No read() of the expiration count: timerfd_settime() resets it, and
     * FIRED makes timer_queue_arm() call it before the loop waits again,
     * whether it re-arms or disarms. One system call per round saved. */
    tq->armed_when = FIRED;

    collect_expired(tq, timestamp_mono_us());
    for (size_t i = 0; i < tq->batch_len; i++) {
        /* A callback may add timers (to the heap: the batch does not move)
         * or cancel any timer, including later ones of this batch, which
         * are then skipped. */
        const struct timer *t = &tq->batch[i];
        tq->batch_next = i + 1;
        if (find_live(tq, t->id) != NULL)
            t->fn(tq->loop, t->id, t->ctx);
    }
    finish_batch(tq, timestamp_mono_us());
}

void timer_queue_set_slack(struct timer_queue *tq, int64_t slack_us)
{
    tq->slack_us = slack_us;
}

int64_t timer_queue_slack(const struct timer_queue *tq)
{
    return tq->slack_us;
}

void timer_queue_arm(struct timer_queue *tq)
{
    tq->round_first_id = tq->next_id;
    /* A cancelled timer at the top must not wake the loop for nothing. */
    while (tq->heap_len > 0 && find_live(tq, tq->heap[0].id) == NULL)
        heap_pop(tq);
    int64_t want = NOT_ARMED;
    if (tq->heap_len > 0) { /* the earliest expiration, plus the slack */
        int64_t earliest = tq->heap[0].when;
        want = earliest > INT64_MAX - tq->slack_us ? INT64_MAX
                                                    : earliest + tq->slack_us;
    }
    if (want == tq->armed_when)
        return;
    struct itimerspec spec = {0};
    if (want != NOT_ARMED) {
        /* An all-zero it_value would disarm the timer: a due time at or
         * before 0 becomes 1 ns, which is in the past and fires at once. */
        int64_t us = want > 0 ? want : 0;
        spec.it_value.tv_sec = (time_t)(us / TIMESTAMP_US_PER_SEC);
        spec.it_value.tv_nsec = (long)(us % TIMESTAMP_US_PER_SEC) * 1000;
        if (us == 0)
            spec.it_value.tv_nsec = 1;
    }
    if (timerfd_settime(tq->timerfd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) {
        log_error("timerfd_settime: %s", log_strerror(errno));
        return; /* armed_when unchanged: tried again before the next wait */
    }
    tq->armed_when = want;
}

/* --- life ---------------------------------------------------------------- */

struct timer_queue *timer_queue_new(struct event_loop *loop)
{
    struct timer_queue *tq = calloc(1, sizeof *tq);
    if (tq == NULL)
        return NULL;
    tq->live_bits = LIVE_TABLE_MIN_BITS;
    tq->live = calloc((size_t)1 << tq->live_bits, sizeof *tq->live);
    if (tq->live == NULL) {
        free(tq);
        errno = ENOMEM;
        return NULL;
    }
    tq->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tq->timerfd < 0) {
        int err = errno;
        free(tq->live);
        free(tq);
        errno = err;
        return NULL;
    }
    tq->loop = loop;
    tq->armed_when = NOT_ARMED;
    tq->slack_us = TIMER_QUEUE_DEFAULT_SLACK_US;
    tq->next_id = 1;
    channel_init(&tq->channel, loop, tq->timerfd, tq);
    channel_set_read_fn(&tq->channel, on_timerfd_readable);
    int err = channel_enable_reading(&tq->channel);
    if (err != 0) {
        channel_destroy(&tq->channel);
        close(tq->timerfd);
        free(tq->live);
        free(tq);
        errno = -err;
        return NULL;
    }
    return tq;
}

void timer_queue_free(struct timer_queue *tq)
{
    if (tq == NULL)
        return;
    channel_remove(&tq->channel);
    channel_destroy(&tq->channel);
    close(tq->timerfd);
    free(tq->heap);
    free(tq->live);
    free(tq->batch);
    free(tq);
}
