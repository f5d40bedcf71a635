/**
 * @file event_loop.h
 * @brief The reactor: waits for events on many fds and dispatches them.
 *
 * Contract
 * - One loop per thread. The thread that calls event_loop_new() owns the
 *   loop; creating a second loop in a thread that already has one is a
 *   programming error (asserted). Every function here is loop thread only
 *   (asserted), unless its comment says "Thread-safe": event_loop_queue(),
 *   event_loop_run_in_loop(), event_loop_quit(), event_loop_wakeup(),
 *   event_loop_queue_size() and event_loop_is_in_loop_thread().
 * - Other threads hand work to a loop through its pending queue: append
 *   under the loop's mutex, then wake the loop through its eventfd, whose
 *   channel the loop registers when it is created. The loop swaps the queue
 *   out under the mutex and runs it without holding it.
 * - One round of event_loop_run(): wait in the poller, dispatch every ready
 *   channel of the batch, then run the functors queued with
 *   event_loop_queue(). event_loop_quit() ends the loop after the round in
 *   which it was called.
 * - The pending queue is how objects defer work, above all their own
 *   destruction, until no channel of the current batch can refer to them.
 *   Functors run in FIFO order; a functor queued by a functor runs in the
 *   next round, so a functor that re-queues itself cannot starve the poller.
 * - The loop owns its poller and its timer queue, nothing else: channels
 *   belong to their owners, and every channel must be removed before
 *   event_loop_free().
 * - Timers (event_loop_run_at/after/every) run from the loop, during the
 *   dispatch of the timer queue's timerfd. They are named by 64-bit ids,
 *   never pointers; see timer_queue.h for their ordering and cancel rules.
 *
 * Poller backends: epoll (level-triggered) by default, or poll(2). The
 * environment variable MUDUO_POLLER ("epoll" or "poll") chooses for
 * event_loop_new(); event_loop_new_with_poller() chooses in code.
 */
#ifndef MUDUO_NET_EVENT_LOOP_H
#define MUDUO_NET_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/callbacks.h"

struct event_loop;

/** @brief The demultiplexer a loop waits in. */
enum poller_kind {
    POLLER_DEFAULT, /**< MUDUO_POLLER from the environment, else epoll. */
    POLLER_EPOLL,   /**< epoll(7), level-triggered. */
    POLLER_POLL,    /**< poll(2). */
};

/**
 * @brief Creates a loop owned by the calling thread, with the poller named
 * by MUDUO_POLLER (epoll when unset).
 * @return the loop, or NULL with errno set: EINVAL when MUDUO_POLLER names
 * no backend, or the error of epoll_create1()/malloc().
 */
struct event_loop *event_loop_new(void);

/** @brief Like event_loop_new() with an explicit backend. */
struct event_loop *event_loop_new_with_poller(enum poller_kind kind);

/**
 * @brief Frees a loop that is not running. Functors still queued run
 * first (they may be deferred destructions), and so do the functors they
 * queue: a functor that always re-queues itself keeps this from ending.
 * Once the queue is empty it is closed: event_loop_queue() from another
 * thread then fails with -ESHUTDOWN until the loop is gone (after that,
 * any use of the loop is an error). Asserts that no channel is still
 * registered.
 */
void event_loop_free(struct event_loop *loop);

/**
 * @brief Runs rounds until event_loop_quit(). Not reentrant.
 * @return 0 after a quit, or a negative errno if the poller failed.
 */
int event_loop_run(struct event_loop *loop);

/**
 * @brief Ends event_loop_run() after the current round (immediately if it
 * is not running: the next run returns before it polls). Thread-safe: from
 * another thread it also wakes the loop. Quits do not add up: the run
 * that ends consumes them all, including one that arrives while that run
 * is already on its way out.
 */
void event_loop_quit(struct event_loop *loop);

/**
 * @brief Queues @p fn(loop, ctx) to run in the loop's thread after the
 * current batch of events has been dispatched (or in the next round, when
 * called from a functor). Thread-safe: functors queued by one thread run
 * in the order it queued them.
 * @return 0, -ENOMEM, or -ESHUTDOWN while event_loop_free() runs.
 */
int event_loop_queue(struct event_loop *loop, event_loop_fn *fn, void *ctx);

/**
 * @brief Runs @p fn(loop, ctx) now when called in the loop's thread;
 * otherwise queues it (event_loop_queue()). Thread-safe.
 * @return 0, or an error of event_loop_queue() (only when it had to
 * queue).
 */
int event_loop_run_in_loop(struct event_loop *loop, event_loop_fn *fn,
                           void *ctx);

/** @brief Makes the loop's wait return now (through its eventfd).
 * Thread-safe. */
void event_loop_wakeup(struct event_loop *loop);

/** @brief Number of functors waiting in the pending queue. Thread-safe. */
int event_loop_queue_size(const struct event_loop *loop);

/**
 * @brief Runs @p fn(loop, id, ctx) once, at @p when_us on the monotonic
 * clock (timestamp_mono_us()); a time already past runs in the next round.
 * @return the timer's id (> 0), or 0 with errno set: EINVAL for a NULL
 * @p fn, ENOMEM.
 */
uint64_t event_loop_run_at(struct event_loop *loop, int64_t when_us,
                           event_loop_timer_fn *fn, void *ctx);

/** @brief Like event_loop_run_at(), @p delay_us from now (a negative delay
 * counts as 0). */
uint64_t event_loop_run_after(struct event_loop *loop, int64_t delay_us,
                              event_loop_timer_fn *fn, void *ctx);

/**
 * @brief Runs @p fn every @p interval_us, the first time one interval from
 * now, until cancelled.
 * @return the id, or 0 with errno set: EINVAL when @p interval_us <= 0 or
 * @p fn is NULL, ENOMEM.
 */
uint64_t event_loop_run_every(struct event_loop *loop, int64_t interval_us,
                              event_loop_timer_fn *fn, void *ctx);

/**
 * @brief Cancels timer @p timer_id: it will not run (again). A harmless
 * no-op for an id that already fired, was cancelled or never existed. A
 * repeating timer may cancel itself from its own callback.
 */
void event_loop_cancel_timer(struct event_loop *loop, uint64_t timer_id);

/**
 * @brief The expiration of a pending or running timer, in @p *when_us.
 * @return 0, or -ENOENT when @p timer_id names no such timer.
 */
int event_loop_timer_expiration(const struct event_loop *loop,
                                uint64_t timer_id, int64_t *when_us);

/**
 * @brief Sets the timer slack: timers may run up to @p slack_us late
 * (never early), so that timers due close together run in one batch and
 * the loop wakes less often. Default 50 us (Linux's default slack for any
 * sleeping thread); 0 makes the timerfd fire at each exact expiration.
 * @return 0, or -EINVAL for a negative slack.
 */
int event_loop_set_timer_slack(struct event_loop *loop, int64_t slack_us);

/** @brief Timers that will still run: a one-shot timer stops counting
 * when its callback starts; a repeating one counts until cancelled. */
size_t event_loop_timer_count(const struct event_loop *loop);

/** @brief True when the calling thread owns @p loop. Thread-safe. */
bool event_loop_is_in_loop_thread(const struct event_loop *loop);

/** @brief Asserts that the calling thread owns @p loop. Thread-safe. */
void event_loop_assert_in_loop_thread(const struct event_loop *loop);

/** @brief The loop the calling thread owns, or NULL. Thread-safe. */
struct event_loop *event_loop_of_current_thread(void);

/** @brief How many rounds the loop has completed (waits in the poller). */
uint64_t event_loop_iterations(const struct event_loop *loop);

/** @brief When the poller last returned (timestamp_mono_us()). */
int64_t event_loop_poll_return_time(const struct event_loop *loop);

/** @brief The backend's name: "epoll" or "poll". */
const char *event_loop_poller_name(const struct event_loop *loop);

#endif /* MUDUO_NET_EVENT_LOOP_H */
