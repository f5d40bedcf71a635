#include "net/event_loop.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/current_thread.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/buffer.h"
#include "net/channel.h"
#include "net/event_loop_internal.h"
#include "net/poller.h"
#include "net/timer_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
    int wakeup_fd; /* an eventfd: writing to it makes the poller return */
    struct channel wakeup_channel;

    /* Any thread. */
    atomic_bool quit;

    /* Guarded by mutex. Lock order: mutex is a leaf; nothing else is
     * locked while it is held, and functors run after it is released. */
    pthread_mutex_t mutex;
    struct call_queue pending; /* queued, to run after this batch */
    bool wakeup_pending;       /* the eventfd was written, not yet read */
    bool closed;               /* being freed: the queue takes no more */

    /* Loop thread only. */
    bool running;
    uint64_t iterations;
    int64_t poll_return_us;
    struct channel **ready;      /* the current batch; removed entries NULL */
    size_t ready_capacity;
    struct channel *dispatching; /* whose callbacks are running, or NULL */
    struct call_queue running_calls; /* being run right now */
    struct buffer read_buffer; /* lent for one read: event_loop_read_buffer() */
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

/* Another thread queued work or asked to quit: drain the counter; waking
 * up was the point. Under the mutex, like the write, so that
 * wakeup_pending is true exactly while the counter is unread. */
static void on_wakeup(struct channel *ch, int64_t receive_time_us, void *ctx)
{
    struct event_loop *loop = ch->loop;
    (void)receive_time_us;
    (void)ctx;
    uint64_t count;
    pthread_mutex_lock(&loop->mutex);
    int err = read(ch->fd, &count, sizeof count) < 0 ? errno : 0;
    loop->wakeup_pending = false;
    pthread_mutex_unlock(&loop->mutex);
    /* Logged after the unlock: the mutex stays a leaf even when the log
     * sink takes locks of its own. */
    if (err != 0 && err != EAGAIN)
        log_error("read eventfd: %s", log_strerror(err));
}

/* Wakes the loop; the caller holds the mutex. One write per round at
 * most: while a wake-up is unread, another would add nothing. The write
 * is made under the mutex because event_loop_free() closes the eventfd
 * under it: a thread that quits the loop and then wakes it can never
 * write to a closed (or reused) fd, even if the loop sees the quit, ends
 * and is being freed in between. */
static void wakeup_locked(struct event_loop *loop)
{
    if (loop->wakeup_pending || loop->wakeup_fd < 0)
        return;
    uint64_t one = 1;
    /* Only fails if the counter would overflow, which it cannot. */
    (void)!write(loop->wakeup_fd, &one, sizeof one);
    loop->wakeup_pending = true;
}

static int add_wakeup_channel(struct event_loop *loop)
{
    loop->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakeup_fd < 0)
        return -errno;
    channel_init(&loop->wakeup_channel, loop, loop->wakeup_fd, NULL);
    channel_set_read_fn(&loop->wakeup_channel, on_wakeup);
    return channel_enable_reading(&loop->wakeup_channel);
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
    buffer_init(&loop->read_buffer);
    pthread_mutex_init(&loop->mutex, NULL);
    loop->wakeup_fd = -1;
    t_loop = loop;
    /* The wake-up channel and the timer queue register channels, so the
     * loop must exist first. */
    int err = add_wakeup_channel(loop);
    if (err == 0) {
        loop->timers = timer_queue_new(loop);
        err = loop->timers == NULL ? -errno : 0;
    }
    if (err != 0) {
        event_loop_free(loop);
        errno = -err;
        return NULL;
    }
    log_debug("event loop %p created (%s)", (void *)loop,
              loop->poller->ops->name);
    return loop;
}

/* Runs the functors queued so far. The batch is swapped out under the
 * lock and run without it: a functor may queue more (those go into the
 * other array and wait for the next round), other threads are never held
 * up by a long functor, and the lock is not held while user code runs. */
static void run_pending(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->mutex);
    struct call_queue batch = loop->pending;
    loop->pending = loop->running_calls;
    pthread_mutex_unlock(&loop->mutex);
    for (size_t i = 0; i < batch.len; i++)
        batch.calls[i].fn(loop, batch.calls[i].ctx);
    batch.len = 0;
    loop->running_calls = batch;
}

static bool has_pending(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->mutex);
    bool any = loop->pending.len > 0;
    pthread_mutex_unlock(&loop->mutex);
    return any;
}

/* True when nothing is queued; then the queue is closed in the same
 * critical section, so that no functor can slip in after the last check
 * and be lost with the loop. */
static bool close_queue_if_empty(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->mutex);
    bool empty = loop->pending.len == 0;
    if (empty)
        loop->closed = true;
    pthread_mutex_unlock(&loop->mutex);
    return empty;
}

void event_loop_free(struct event_loop *loop)
{
    if (loop == NULL)
        return;
    event_loop_assert_in_loop_thread(loop);
    ASSERT(!loop->running);
    /* Queued functors are often deferred frees: run them, and what they
     * queue in turn, so that nothing leaks. */
    while (!close_queue_if_empty(loop))
        run_pending(loop);
    timer_queue_free(loop->timers);
    if (loop->wakeup_fd >= 0) {
        channel_remove(&loop->wakeup_channel);
        channel_destroy(&loop->wakeup_channel);
        pthread_mutex_lock(&loop->mutex); /* see wakeup_locked() */
        close(loop->wakeup_fd);
        loop->wakeup_fd = -1;
        pthread_mutex_unlock(&loop->mutex);
    }
    if (loop->poller->channels != 0)
        log_fatal("event loop %p freed with %d channel(s) still registered",
                  (void *)loop, loop->poller->channels);
    loop->poller->ops->free(loop->poller);
    free(loop->pending.calls);
    free(loop->running_calls.calls);
    free(loop->ready);
    buffer_destroy(&loop->read_buffer);
    pthread_mutex_destroy(&loop->mutex);
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
    while (!atomic_load(&loop->quit)) {
        /* Queued functors must not wait for an fd to become ready. */
        int timeout_ms = has_pending(loop) ? 0 : -1;
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
    atomic_store(&loop->quit, false);
    return result;
}

void event_loop_wakeup(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->mutex);
    wakeup_locked(loop);
    pthread_mutex_unlock(&loop->mutex);
}

void event_loop_quit(struct event_loop *loop)
{
    pthread_mutex_lock(&loop->mutex);
    atomic_store(&loop->quit, true);
    if (!event_loop_is_in_loop_thread(loop))
        wakeup_locked(loop); /* it may be asleep in the poller */
    pthread_mutex_unlock(&loop->mutex);
}

int event_loop_queue(struct event_loop *loop, event_loop_fn *fn, void *ctx)
{
    pthread_mutex_lock(&loop->mutex);
    if (loop->closed) {
        pthread_mutex_unlock(&loop->mutex);
        return -ESHUTDOWN;
    }
    struct call_queue *q = &loop->pending;
    struct pending_call *calls =
        array_reserve(q->calls, &q->capacity, q->len + 1, sizeof *calls);
    if (calls == NULL) {
        pthread_mutex_unlock(&loop->mutex);
        return -ENOMEM;
    }
    q->calls = calls;
    q->calls[q->len++] = (struct pending_call){fn, ctx};
    /* Another thread: the loop may be asleep in the poller. Its own
     * thread needs no wake-up: the functor runs after the current batch,
     * or, queued by a functor, in the next round, whose wait does not
     * block because the queue is not empty (see event_loop_run()). */
    if (!event_loop_is_in_loop_thread(loop))
        wakeup_locked(loop);
    pthread_mutex_unlock(&loop->mutex);
    return 0;
}

int event_loop_run_in_loop(struct event_loop *loop, event_loop_fn *fn,
                           void *ctx)
{
    if (!event_loop_is_in_loop_thread(loop))
        return event_loop_queue(loop, fn, ctx);
    fn(loop, ctx);
    return 0;
}

int event_loop_queue_size(const struct event_loop *loop)
{
    /* Locking changes the mutex, not the loop: the one place where const
     * is cast away. */
    struct event_loop *l = (struct event_loop *)loop;
    pthread_mutex_lock(&l->mutex);
    int len = (int)l->pending.len;
    pthread_mutex_unlock(&l->mutex);
    return len;
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

struct buffer *event_loop_read_buffer(struct event_loop *loop)
{
    event_loop_assert_in_loop_thread(loop);
    ASSERT(buffer_readable(&loop->read_buffer) == 0); /* given back empty */
    if (buffer_ensure_writable(&loop->read_buffer, BUFFER_READ_EXTRA) != 0)
        return NULL;
    return &loop->read_buffer;
}

bool event_loop_is_dispatching(const struct event_loop *loop,
                               const struct channel *ch)
{
    return loop->dispatching == ch;
}
