#include "net/event_loop.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/current_thread.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/channel.h"
#include "net/event_loop_internal.h"
#include "net/poller.h"
#include "net/timer_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First size of the ready list; it doubles whenever a batch fills it. */
#define READY_INITIAL_CAPACITY ARRAY_MIN_CAPACITY

struct pending_call {
    event_loop_fn *fn;
    void *ctx;
};

/* A growable array of calls. Two of them swap roles every round, so the
 * steady state allocates nothing. */
struct call_queue {
    struct pending_call *calls;
    size_t len;
    size_t capacity;
};

struct event_loop {
    /* Immutable after event_loop_new(). */
    pid_t owner_tid;
    struct poller *poller;
    struct timer_queue *timers;

    /* Loop thread only. */
    bool running;
    bool quit;
    uint64_t iterations;
    int64_t poll_return_us;
    struct channel **ready;      /* the current batch; removed entries NULL */
    size_t ready_capacity;
    struct channel *dispatching; /* whose callbacks are running, or NULL */
    struct call_queue pending;   /* queued, to run after this batch */
    struct call_queue running_calls; /* being run right now */
};

/* The loop this thread owns: enforces one loop per thread. */
static __thread struct event_loop *t_loop;

static int backend_from_env(enum poller_kind *kind)
{
    const char *name = getenv("MUDUO_POLLER");
    if (name == NULL || *name == '\0' || strcmp(name, "epoll") == 0) {
        *kind = POLLER_EPOLL;
    } else if (strcmp(name, "poll") == 0) {
        *kind = POLLER_POLL;
    } else {
        log_error("MUDUO_POLLER=%s names no backend (use epoll or poll)",
                  name);
        return -EINVAL;
    }
    return 0;
}

struct event_loop *event_loop_new(void)
{
    return event_loop_new_with_poller(POLLER_DEFAULT);
}

struct event_loop *event_loop_new_with_poller(enum poller_kind kind)
{
    if (t_loop != NULL)
        log_fatal("thread %d already owns event loop %p; one loop per thread",
                  (int)current_thread_tid(), (void *)t_loop);
    if (kind == POLLER_DEFAULT) {
        int err = backend_from_env(&kind);
        if (err != 0) {
            errno = -err;
            return NULL;
        }
    }
    struct event_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    loop->ready = array_reserve(NULL, &loop->ready_capacity,
                                READY_INITIAL_CAPACITY,
                                sizeof(struct channel *));
    loop->poller =
        kind == POLLER_POLL ? poller_poll_new() : poller_epoll_new();
    if (loop->ready == NULL || loop->poller == NULL) {
        int err = loop->ready == NULL ? ENOMEM : errno;
        if (loop->poller != NULL)
            loop->poller->ops->free(loop->poller);
        free(loop->ready);
        free(loop);
        errno = err;
        return NULL;
    }
    loop->owner_tid = current_thread_tid();
    t_loop = loop;
    /* The timer queue registers a channel, so the loop must exist. */
    loop->timers = timer_queue_new(loop);
    if (loop->timers == NULL) {
        int err = errno;
        event_loop_free(loop);
        errno = err;
        return NULL;
    }
    log_debug("event loop %p created (%s)", (void *)loop,
              loop->poller->ops->name);
    return loop;
}

/* Runs the functors queued so far. Anything they queue goes into the
 * other array and waits for the next round. */
static void run_pending(struct event_loop *loop)
{
    struct call_queue batch = loop->pending;
    loop->pending = loop->running_calls;
    for (size_t i = 0; i < batch.len; i++)
        batch.calls[i].fn(loop, batch.calls[i].ctx);
    batch.len = 0;
    loop->running_calls = batch;
}

void event_loop_free(struct event_loop *loop)
{
    if (loop == NULL)
        return;
    event_loop_assert_in_loop_thread(loop);
    ASSERT(!loop->running);
    /* Queued functors are often deferred frees: run them, and what they
     * queue in turn, so that nothing leaks. */
    while (loop->pending.len > 0)
        run_pending(loop);
    timer_queue_free(loop->timers);
    if (loop->poller->channels != 0)
        log_fatal("event loop %p freed with %d channel(s) still registered",
                  (void *)loop, loop->poller->channels);
    loop->poller->ops->free(loop->poller);
    free(loop->pending.calls);
    free(loop->running_calls.calls);
    free(loop->ready);
    t_loop = NULL;
    free(loop);
}

/* Hands each ready channel its events. A callback may remove another
 * channel of this batch; event_loop_remove_channel() then clears that
 * channel's entry, so it is skipped here and never touched again. */
static void dispatch(struct event_loop *loop, int n)
{
    for (int i = 0; i < n; i++)
        loop->ready[i]->active_slot = i;
    for (int i = 0; i < n; i++) {
        struct channel *ch = loop->ready[i];
        if (ch == NULL)
            continue;
        loop->dispatching = ch;
        channel_handle_event(ch, loop->poll_return_us);
        /* Still valid even if removed: channel_destroy() refuses to run
         * while loop->dispatching == ch. */
        ch->active_slot = -1;
        loop->ready[i] = NULL;
    }
    loop->dispatching = NULL;
}

/* A batch that filled the ready list suggests more was ready: double it.
 * Nothing is lost meanwhile, nor if it cannot grow: level-triggered
 * events come back next round. */
static void grow_ready(struct event_loop *loop)
{
    struct channel **bigger =
        array_reserve(loop->ready, &loop->ready_capacity,
                      loop->ready_capacity + 1, sizeof(struct channel *));
    if (bigger != NULL)
        loop->ready = bigger;
}

int event_loop_run(struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    ASSERT(!loop->running);
    loop->running = true;
    int result = 0;
    while (!loop->quit) {
        /* Queued functors must not wait for an fd to become ready. */
        int timeout_ms = loop->pending.len > 0 ? 0 : -1;
        timer_queue_arm(loop->timers);
        int n = loop->poller->ops->poll(loop->poller, timeout_ms, loop->ready,
                                        (int)loop->ready_capacity);
        loop->poll_return_us = timestamp_mono_us();
        loop->iterations++;
        if (n == -EINTR) {
            n = 0;
        } else if (n < 0) {
            log_error("%s wait failed: %s", loop->poller->ops->name,
                      log_strerror(-n));
            result = n;
            break;
        }
        dispatch(loop, n);
        if (n > 0 && (size_t)n == loop->ready_capacity)
            grow_ready(loop);
        run_pending(loop);
    }
    loop->running = false;
    loop->quit = false;
    return result;
}

void event_loop_quit(struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    loop->quit = true;
}

int event_loop_queue(struct event_loop *loop, event_loop_fn *fn, void *ctx)
{
    event_loop_assert_in_loop_thread(loop);
    struct call_queue *q = &loop->pending;
    struct pending_call *calls =
        array_reserve(q->calls, &q->capacity, q->len + 1, sizeof *calls);
    if (calls == NULL)
        return -ENOMEM;
    q->calls = calls;
    q->calls[q->len++] = (struct pending_call){fn, ctx};
    return 0;
}

int event_loop_queue_size(const struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    return (int)loop->pending.len;
}

/* Now plus a delay (negative counts as 0), saturating: a delay too long
 * to represent means "never", not a time in the past. */
static int64_t time_after(int64_t delay_us)
{
    int64_t now = timestamp_mono_us();
    if (delay_us <= 0)
        return now;
    return delay_us > INT64_MAX - now ? INT64_MAX : now + delay_us;
}

uint64_t event_loop_run_at(struct event_loop *loop, int64_t when_us,
                           event_loop_timer_fn *fn, void *ctx)
{
    event_loop_assert_in_loop_thread(loop);
    if (fn == NULL) {
        errno = EINVAL;
        return 0;
    }
    return timer_queue_add(loop->timers, when_us, 0, fn, ctx);
}

uint64_t event_loop_run_after(struct event_loop *loop, int64_t delay_us,
                              event_loop_timer_fn *fn, void *ctx)
{
    return event_loop_run_at(loop, time_after(delay_us), fn, ctx);
}

uint64_t event_loop_run_every(struct event_loop *loop, int64_t interval_us,
                              event_loop_timer_fn *fn, void *ctx)
{
    event_loop_assert_in_loop_thread(loop);
    if (fn == NULL || interval_us <= 0) {
        errno = EINVAL;
        return 0;
    }
    return timer_queue_add(loop->timers, time_after(interval_us), interval_us,
                           fn, ctx);
}

void event_loop_cancel_timer(struct event_loop *loop, uint64_t timer_id)
{
    event_loop_assert_in_loop_thread(loop);
    timer_queue_cancel(loop->timers, timer_id);
}

int event_loop_timer_expiration(const struct event_loop *loop,
                                uint64_t timer_id, int64_t *when_us)
{
    event_loop_assert_in_loop_thread(loop);
    return timer_queue_expiration(loop->timers, timer_id, when_us);
}

int event_loop_set_timer_slack(struct event_loop *loop, int64_t slack_us)
{
    event_loop_assert_in_loop_thread(loop);
    if (slack_us < 0)
        return -EINVAL;
    timer_queue_set_slack(loop->timers, slack_us);
    return 0;
}

size_t event_loop_timer_count(const struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    return timer_queue_size(loop->timers);
}

bool event_loop_is_in_loop_thread(const struct event_loop *loop)
{
    return loop->owner_tid == current_thread_tid();
}

void event_loop_assert_in_loop_thread(const struct event_loop *loop)
{
    if (!event_loop_is_in_loop_thread(loop))
        log_fatal("event loop %p belongs to thread %d, used from thread %d",
                  (const void *)loop, (int)loop->owner_tid,
                  (int)current_thread_tid());
}

struct event_loop *event_loop_of_current_thread(void)
{
    return t_loop;
}

uint64_t event_loop_iterations(const struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    return loop->iterations;
}

int64_t event_loop_poll_return_time(const struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    return loop->poll_return_us;
}

const char *event_loop_poller_name(const struct event_loop *loop)
{
    return loop->poller->ops->name;
}

int event_loop_update_channel(struct event_loop *loop, struct channel *ch)
{
    event_loop_assert_in_loop_thread(loop);
    ASSERT(ch->loop == loop);
    return loop->poller->ops->update(loop->poller, ch);
}

void event_loop_remove_channel(struct event_loop *loop, struct channel *ch)
{
    event_loop_assert_in_loop_thread(loop);
    ASSERT(ch->loop == loop);
    if (ch->active_slot >= 0) { /* its event is later in this batch */
        ASSERT(loop->ready[ch->active_slot] == ch);
        loop->ready[ch->active_slot] = NULL;
        ch->active_slot = -1;
    }
    loop->poller->ops->remove(loop->poller, ch);
}

bool event_loop_is_dispatching(const struct event_loop *loop,
                               const struct channel *ch)
{
    return loop->dispatching == ch;
}
