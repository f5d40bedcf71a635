/* The timer queue: a binary min-heap of (expiration, id), a slab of timer
 * records, an id -> slot map for cancel, and one timerfd. */
#include "net/timer_queue.h"

#include "base/assertion.h"
#include "base/id_map.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/channel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

enum timer_state {
    TIMER_FREE,      /* on the free list */
    TIMER_PENDING,   /* in the heap */
    TIMER_RUNNING,   /* taken out of the heap into the expired batch */
    TIMER_CANCELLED, /* in the batch, cancelled: neither run nor put back */
};

/* armed_when values that no timestamp takes: nothing armed, and "fired
 * and not yet re-armed", which forces the next timer_queue_arm() to call
 * timerfd_settime() even to leave it disarmed. */
#define NOT_ARMED INT64_MAX
#define FIRED INT64_MIN

/* A timer is split in two records at the same slot: the part that cancel
 * and the heap touch (16 bytes), and the part that only adding, running
 * and asking need. Cancelling a timer among many then touches less memory:
 * fewer cache misses, which is what cancel costs. */
struct timer_hot {
    uint64_t id;
    uint32_t link; /* PENDING: index in the heap; FREE: next free slot */
    uint8_t state;
};

struct timer_cold {
    int64_t when;     /* expiration */
    int64_t interval; /* > 0: repeats */
    event_loop_timer_fn *fn;
    void *ctx;
};

/* The heap holds the expiration itself, so that sifting compares entries
 * without touching the timer records; only a tie looks at them, to order
 * by id. */
struct heap_entry {
    int64_t when;
    uint32_t slot;
};

/* A 4-ary heap: half the depth of a binary one, and the four children of
 * an entry are neighbours in memory, so a sift touches fewer cache lines.
 * Children of i: 4i+1 .. 4i+4; parent: (i-1)/4. */
#define HEAP_ARITY 4

/* The id index: slots[id & (capacity - 1)] holds a slot or NO_SLOT; ids
 * whose entry is taken go to the overflow map. */
struct id_index {
    uint32_t *slots;
    uint32_t capacity;
    struct id_map overflow;
};

struct timer_queue {
    struct event_loop *loop;
    int timerfd;
    struct channel channel;
    int64_t armed_when; /* what the timerfd is set to, NOT_ARMED or FIRED */
    int64_t slack_us;   /* how late the timerfd may fire, to batch timers */

    /* The slab, in two arrays indexed by slot: slots are stable, pointers
     * are not (the arrays move when they grow). */
    struct timer_hot *hot;
    struct timer_cold *cold;
    uint32_t capacity;
    uint32_t free_head; /* UINT32_MAX when no slot is free */

    struct heap_entry *heap;
    uint32_t heap_len;
    uint32_t heap_capacity;

    /* id -> slot for every PENDING or RUNNING timer: see find_slot(). */
    struct id_index index;
    uint32_t indexed; /* timers findable by id */
    uint64_t next_id;  /* ids are a sequence: 1, 2, 3, ... */
    uint64_t round_first_id; /* next_id when this round's wait began */

    uint32_t *batch; /* slots of the expired timers being run */
    uint32_t batch_len;
    uint32_t batch_next; /* the first entry of the batch not yet run */
    uint32_t batch_capacity;
};

/* --- the heap ----------------------------------------------------------- */

static bool earlier(const struct timer_queue *tq, const struct heap_entry *a,
                    const struct heap_entry *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return tq->hot[a->slot].id < tq->hot[b->slot].id;
}

static void heap_set(struct timer_queue *tq, uint32_t i, struct heap_entry e)
{
    tq->heap[i] = e;
    tq->hot[e.slot].link = i;
}

static void sift_up(struct timer_queue *tq, uint32_t i)
{
    struct heap_entry e = tq->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / HEAP_ARITY;
        if (!earlier(tq, &e, &tq->heap[parent]))
            break;
        heap_set(tq, i, tq->heap[parent]);
        i = parent;
    }
    heap_set(tq, i, e);
}

static void sift_down(struct timer_queue *tq, uint32_t i)
{
    struct heap_entry e = tq->heap[i];
    for (;;) {
        uint32_t first = HEAP_ARITY * i + 1;
        if (first >= tq->heap_len)
            break;
        uint32_t end = first + HEAP_ARITY;
        if (end > tq->heap_len)
            end = tq->heap_len;
        uint32_t best = first;
        for (uint32_t c = first + 1; c < end; c++)
            if (earlier(tq, &tq->heap[c], &tq->heap[best]))
                best = c;
        if (!earlier(tq, &tq->heap[best], &e))
            break;
        heap_set(tq, i, tq->heap[best]);
        i = best;
    }
    heap_set(tq, i, e);
}

/* The caller has made room (reserve_heap). */
static void heap_push(struct timer_queue *tq, uint32_t slot)
{
    ASSERT(tq->heap_len < tq->heap_capacity);
    uint32_t i = tq->heap_len++;
    tq->heap[i] = (struct heap_entry){tq->cold[slot].when, slot};
    sift_up(tq, i);
}

static void heap_remove(struct timer_queue *tq, uint32_t i)
{
    struct heap_entry last = tq->heap[--tq->heap_len];
    if (i == tq->heap_len)
        return;
    heap_set(tq, i, last);
    if (i > 0 && earlier(tq, &last, &tq->heap[(i - 1) / HEAP_ARITY]))
        sift_up(tq, i);
    else
        sift_down(tq, i);
}

/* --- storage ------------------------------------------------------------ */

/* The array doubled, with *capacity updated; or NULL, with the array and
 * *capacity untouched. */
static void *grow_array(void *array, uint32_t *capacity, size_t item_size)
{
    uint32_t n = *capacity == 0 ? 64 : *capacity * 2;
    if (n <= *capacity)
        return NULL;
    void *bigger = realloc(array, (size_t)n * item_size);
    if (bigger != NULL)
        *capacity = n;
    return bigger;
}

/* Room for one more heap entry, counting every timer of the batch being
 * run as one that may go back into the heap: then putting repeating timers
 * back after the batch never needs memory, and cannot fail. */
static int reserve_heap(struct timer_queue *tq)
{
    if (tq->heap_len + tq->batch_len < tq->heap_capacity)
        return 0;
    struct heap_entry *heap =
        grow_array(tq->heap, &tq->heap_capacity, sizeof *heap);
    if (heap == NULL)
        return -ENOMEM;
    tq->heap = heap;
    return 0;
}

static int alloc_slot(struct timer_queue *tq, uint32_t *slot)
{
    if (tq->free_head == UINT32_MAX) {
        uint32_t old = tq->capacity, n = old == 0 ? 64 : old * 2;
        if (n <= old)
            return -ENOMEM;
        /* Both arrays must grow before the capacity says so. */
        struct timer_hot *hot = realloc(tq->hot, (size_t)n * sizeof *hot);
        if (hot == NULL)
            return -ENOMEM;
        tq->hot = hot;
        struct timer_cold *cold = realloc(tq->cold, (size_t)n * sizeof *cold);
        if (cold == NULL)
            return -ENOMEM;
        tq->cold = cold;
        tq->capacity = n;
        for (uint32_t i = n; i-- > old;) { /* chain the new slots */
            tq->hot[i].state = TIMER_FREE;
            tq->hot[i].link = tq->free_head;
            tq->free_head = i;
        }
    }
    *slot = tq->free_head;
    tq->free_head = tq->hot[*slot].link;
    return 0;
}

static void free_slot(struct timer_queue *tq, uint32_t slot)
{
    tq->hot[slot].state = TIMER_FREE;
    tq->hot[slot].link = tq->free_head;
    tq->free_head = slot;
}

/* --- finding a timer by id ---------------------------------------------------
 *
 * Ids are consecutive, so the primary index is a plain array addressed by
 * the id's low bits: timers made together sit in neighbouring entries, and
 * a lookup is one array read plus a check of the record's id. Two live
 * timers whose ids share those low bits (one outlived index_capacity newer
 * timers) cannot both be there: the newer one goes to the overflow hash
 * map. The array has at least twice as many entries as there are timers,
 * so the overflow stays small, and it is rebuilt when the array grows. */

#define NO_SLOT UINT32_MAX

static uint32_t find_slot(const struct timer_queue *tq, uint64_t id)
{
    const struct id_index *ix = &tq->index;
    if (ix->capacity == 0 || id == 0)
        return NO_SLOT;
    uint32_t slot = ix->slots[id & (ix->capacity - 1)];
    if (slot != NO_SLOT && tq->hot[slot].id == id)
        return slot;
    if (ix->overflow.len > 0 && id_map_get(&ix->overflow, id, &slot))
        return slot;
    return NO_SLOT;
}

/* Makes id findable in ix; fails (-ENOMEM) only when the overflow map
 * cannot grow. */
static int index_put(struct id_index *ix, uint64_t id, uint32_t slot)
{
    uint32_t *entry = &ix->slots[id & (ix->capacity - 1)];
    if (*entry == NO_SLOT) {
        *entry = slot;
        return 0;
    }
    return id_map_put(&ix->overflow, id, slot);
}

static void index_remove(struct timer_queue *tq, uint64_t id, uint32_t slot)
{
    uint32_t *entry = &tq->index.slots[id & (tq->index.capacity - 1)];
    if (*entry == slot)
        *entry = NO_SLOT;
    else
        id_map_remove(&tq->index.overflow, id);
    tq->indexed--;
}

static void index_destroy(struct id_index *ix)
{
    free(ix->slots);
    id_map_destroy(&ix->overflow);
}

/* Room to index one more timer: keeps the array at least twice as large
 * as the number of timers. When it must double, the new index is built
 * on the side and replaces the old one only once it is complete, so that
 * running out of memory changes nothing. */
static int reserve_index(struct timer_queue *tq)
{
    if (tq->indexed + 1 <= tq->index.capacity / 2)
        return 0;
    struct id_index fresh = {.capacity = tq->index.capacity == 0
                                             ? 64
                                             : tq->index.capacity * 2};
    id_map_init(&fresh.overflow);
    fresh.slots = fresh.capacity > tq->index.capacity
                      ? malloc((size_t)fresh.capacity * sizeof *fresh.slots)
                      : NULL;
    if (fresh.slots == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < fresh.capacity; i++)
        fresh.slots[i] = NO_SLOT;
    for (uint32_t slot = 0; slot < tq->capacity; slot++) {
        const struct timer_hot *t = &tq->hot[slot];
        if ((t->state == TIMER_PENDING || t->state == TIMER_RUNNING) &&
            index_put(&fresh, t->id, slot) != 0) {
            index_destroy(&fresh);
            return -ENOMEM;
        }
    }
    index_destroy(&tq->index);
    tq->index = fresh;
    return 0;
}

/* --- adding and cancelling ------------------------------------------------ */

uint64_t timer_queue_add(struct timer_queue *tq, int64_t when_us,
                         int64_t interval_us, event_loop_timer_fn *fn,
                         void *ctx)
{
    uint32_t slot;
    /* Reserve first: once the slot and the id are taken, only the
     * overflow map can still fail. */
    if (reserve_heap(tq) != 0 || reserve_index(tq) != 0 ||
        alloc_slot(tq, &slot) != 0) {
        errno = ENOMEM;
        return 0;
    }
    uint64_t id = tq->next_id;
    if (index_put(&tq->index, id, slot) != 0) {
        free_slot(tq, slot);
        errno = ENOMEM;
        return 0;
    }
    tq->indexed++;
    tq->next_id++;
    tq->hot[slot] = (struct timer_hot){.id = id, .state = TIMER_PENDING};
    tq->cold[slot] = (struct timer_cold){
        .when = when_us,
        .interval = interval_us > 0 ? interval_us : 0,
        .fn = fn,
        .ctx = ctx,
    };
    heap_push(tq, slot);
    return id;
}

void timer_queue_cancel(struct timer_queue *tq, uint64_t id)
{
    uint32_t slot = find_slot(tq, id);
    if (slot == NO_SLOT)
        return; /* fired, cancelled already, or never existed */
    index_remove(tq, id, slot);
    struct timer_hot *t = &tq->hot[slot];
    if (t->state == TIMER_PENDING) {
        heap_remove(tq, t->link);
        free_slot(tq, slot);
    } else {
        /* In the batch being run: the batch frees it when it is done. */
        ASSERT(t->state == TIMER_RUNNING);
        t->state = TIMER_CANCELLED;
    }
}

int timer_queue_expiration(const struct timer_queue *tq, uint64_t id,
                           int64_t *when_us)
{
    uint32_t slot = find_slot(tq, id);
    if (slot == NO_SLOT)
        return -ENOENT;
    *when_us = tq->cold[slot].when;
    return 0;
}

size_t timer_queue_size(const struct timer_queue *tq)
{
    size_t n = tq->heap_len;
    for (uint32_t i = 0; i < tq->batch_len; i++) {
        uint32_t slot = tq->batch[i];
        /* repeating ones come back; one-shots only if still to run */
        n += tq->hot[slot].state == TIMER_RUNNING &&
             (tq->cold[slot].interval > 0 || i >= tq->batch_next);
    }
    return n;
}

/* --- expiry -------------------------------------------------------------- */

/* The next expiration of a repeating timer: its previous expiration plus
 * the interval, so that it does not drift; if that is already past (the
 * loop was busy), the first slot after now, rather than a burst. */
static int64_t next_expiration(const struct timer_cold *t, int64_t now)
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

/* Moves every timer due at @p now from the heap into the batch, in order.
 * If the batch cannot grow, the rest stay in the heap: the timerfd is
 * re-armed to a past time and they run next round.
 *
 * Timers added in this round, by a callback of an fd that was ready in
 * the same batch as the timerfd (epoll may list it first), are due too if
 * their time is past; but like every timer added from a callback they
 * wait for the next round, so they go back into the heap (which has room:
 * they just left it). */
static void collect_expired(struct timer_queue *tq, int64_t now)
{
    while (tq->heap_len > 0 && tq->heap[0].when <= now) {
        if (tq->batch_len == tq->batch_capacity) {
            uint32_t *batch =
                grow_array(tq->batch, &tq->batch_capacity, sizeof *batch);
            if (batch == NULL) {
                log_error("timer batch cannot grow; the rest run next round");
                break;
            }
            tq->batch = batch;
        }
        tq->batch[tq->batch_len++] = tq->heap[0].slot;
        heap_remove(tq, 0);
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < tq->batch_len; i++) {
        uint32_t slot = tq->batch[i];
        if (tq->hot[slot].id >= tq->round_first_id) {
            heap_push(tq, slot); /* added in this round: next round */
        } else {
            tq->hot[slot].state = TIMER_RUNNING;
            tq->batch[kept++] = slot;
        }
    }
    tq->batch_len = kept;
}

/* Puts repeating timers back and frees the others. Runs after the whole
 * batch, so a repeating timer never runs twice in one batch; @p now is read
 * after the callbacks, so time they spent counts as past. */
static void finish_batch(struct timer_queue *tq, int64_t now)
{
    for (uint32_t i = 0; i < tq->batch_len; i++) {
        uint32_t slot = tq->batch[i];
        struct timer_hot *t = &tq->hot[slot];
        struct timer_cold *c = &tq->cold[slot];
        if (t->state == TIMER_RUNNING && c->interval > 0) {
            c->when = next_expiration(c, now);
            t->state = TIMER_PENDING;
            heap_push(tq, slot); /* room guaranteed by reserve_heap() */
            continue;
        }
        if (t->state == TIMER_RUNNING) /* a one-shot that ran */
            index_remove(tq, t->id, slot);
        free_slot(tq, slot);
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

    int64_t now = timestamp_mono_us();
    collect_expired(tq, now);
    for (uint32_t i = 0; i < tq->batch_len; i++) {
        tq->batch_next = i + 1;
        /* A callback may add timers (the slab may move: index it afresh
         * each time) or cancel any timer, including later ones of this
         * batch, which are then skipped. */
        uint32_t slot = tq->batch[i];
        if (tq->hot[slot].state == TIMER_RUNNING)
            tq->cold[slot].fn(tq->loop, tq->hot[slot].id, tq->cold[slot].ctx);
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
    tq->timerfd =
        timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tq->timerfd < 0) {
        int err = errno;
        free(tq);
        errno = err;
        return NULL;
    }
    tq->loop = loop;
    tq->armed_when = NOT_ARMED;
    tq->slack_us = TIMER_QUEUE_DEFAULT_SLACK_US;
    tq->free_head = UINT32_MAX;
    tq->next_id = 1;
    id_map_init(&tq->index.overflow);
    channel_init(&tq->channel, loop, tq->timerfd, tq);
    channel_set_read_fn(&tq->channel, on_timerfd_readable);
    int err = channel_enable_reading(&tq->channel);
    if (err != 0) {
        channel_destroy(&tq->channel);
        close(tq->timerfd);
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
    index_destroy(&tq->index);
    free(tq->hot);
    free(tq->cold);
    free(tq->heap);
    free(tq->batch);
    free(tq);
}
