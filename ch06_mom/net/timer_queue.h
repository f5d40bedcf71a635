/**
 * @file timer_queue.h
 * @brief The timers of one event loop, on one timerfd.
 *
 * Contract
 * - Each loop owns one timer queue, created and freed with the loop. Users
 *   call the event_loop_run_at/after/every and event_loop_cancel_timer
 *   functions of event_loop.h, which forward here.
 * - Loop thread only.
 * - Time is CLOCK_MONOTONIC in microseconds (timestamp_mono_us()); the
 *   timerfd runs on the same clock with absolute expirations.
 * - A timer is named by its id, a 64-bit sequence number starting at 1,
 *   never reused and never a pointer: cancelling an id that fired, was
 *   cancelled or never existed is a harmless no-op.
 * - Order: the timers due when the timerfd fires run in (expiration, id)
 *   order, so ties run in creation order. A repeating timer is put back
 *   after the whole batch, at its previous expiration plus its interval,
 *   skipping to the first slot after now if that is already past.
 * - Cancelling a timer of the running batch, including the running one,
 *   stops it: a later timer of the batch does not run, a repeating one is
 *   not put back.
 * - The timerfd is armed lazily, by timer_queue_arm() just before the loop
 *   waits, to the earliest expiration plus the slack; so any number of
 *   changes in a round cost at most one timerfd_settime().
 * - Slack: the timerfd may fire up to slack_us after the earliest
 *   expiration (never before), so that timers due close together run in
 *   one batch. The default is Linux's own default timer slack for sleeping
 *   threads, 50 us; 0 arms the timerfd at the exact expiration.
 * - Costs, for n timers: adding O(log n); cancelling O(1) on average (the
 *   timer's heap entry is reclaimed later, in bulk); each timer that runs
 *   O(log n).
 * - The queue owns its timers (freed with it) and the timerfd; the ctx of
 *   a timer belongs to the caller.
 */
#ifndef MUDUO_NET_TIMER_QUEUE_H
#define MUDUO_NET_TIMER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "net/callbacks.h"

struct event_loop;
struct timer_queue;

/** @brief Creates the timer queue of @p loop, with its timerfd and channel.
 * @return NULL with errno set on failure. */
struct timer_queue *timer_queue_new(struct event_loop *loop);

/** @brief Removes the channel, closes the timerfd, frees every timer. */
void timer_queue_free(struct timer_queue *tq);

/**
 * @brief Adds a timer due at @p when_us, repeating every @p interval_us
 * when that is positive.
 * @return its id (> 0), or 0 with errno = ENOMEM.
 */
uint64_t timer_queue_add(struct timer_queue *tq, int64_t when_us,
                         int64_t interval_us, event_loop_timer_fn *fn,
                         void *ctx);

/** @brief Cancels timer @p id; a no-op for an unknown id. */
void timer_queue_cancel(struct timer_queue *tq, uint64_t id);

/** @brief The expiration of timer @p id in @p *when_us.
 * @return 0, or -ENOENT when no such timer is pending or running. */
int timer_queue_expiration(const struct timer_queue *tq, uint64_t id,
                           int64_t *when_us);

/** @brief Timers that will still run: the pending ones, and those of the
 * batch being run that were not cancelled, except one-shots that have
 * already run (or are running). O(batch). */
size_t timer_queue_size(const struct timer_queue *tq);

/** @brief Default slack: Linux's default timer slack for a thread. */
#define TIMER_QUEUE_DEFAULT_SLACK_US 50

/** @brief Sets how late (>= 0 us) the timerfd may fire after the earliest
 * expiration; takes effect at the next arming. */
void timer_queue_set_slack(struct timer_queue *tq, int64_t slack_us);

/** @brief The current slack, in microseconds. */
int64_t timer_queue_slack(const struct timer_queue *tq);

/** @brief Sets the timerfd to the earliest expiration plus the slack if
 * that changed since it was last set. Called by the loop before it waits;
 * it also marks the start of a round: timers added after it run in a
 * later round, even when they are due already. */
void timer_queue_arm(struct timer_queue *tq);

#endif /* MUDUO_NET_TIMER_QUEUE_H */
