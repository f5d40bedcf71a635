/**
 * @file backoff.h
 * @brief Retries with exponential back-off: attempts an operation until
 * it succeeds, waiting twice as long after each failure, up to a cap.
 *
 * Contract
 * - backoff_new() schedules attempt 1 for the next round of the loop
 *   (not from inside backoff_new(): the caller has no backoff yet).
 * - An attempt that fails (its callback returns false) schedules the
 *   next one, counted from the end of the failed attempt: the first
 *   wait is @p first_delay_us, each later one twice the one before, but
 *   never more than @p max_delay_us. Doubling saturates at the cap, so
 *   a cap of INT64_MAX ("wait forever") is fine.
 * - The retries end once: at the first attempt that succeeds (status 0),
 *   or when attempt @p max_attempts fails (-ETIMEDOUT), or when the next
 *   attempt cannot be scheduled (-ENOMEM). The done callback reports
 *   that, and is the last thing the backoff does: it may free the
 *   backoff. After it, the backoff has no timer in the loop.
 * - The caller owns the backoff; backoff_free() cancels a pending
 *   attempt. It may be called from outside the callbacks or from the
 *   done callback, not from an attempt (defer it with event_loop_queue()).
 * - The backoff never touches @p ctx. Loop thread only.
 */
#ifndef EXERCISES_CH02_BACKOFF_H
#define EXERCISES_CH02_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct backoff;

/** @brief Attempt number @p attempt (1 for the first); returns true when
 * it succeeded. */
typedef bool backoff_attempt_fn(struct backoff *b, int attempt, void *ctx);

/** @brief The end of the retries: 0 after a success, -ETIMEDOUT when every
 * attempt failed, -ENOMEM when the next could not be scheduled. */
typedef void backoff_done_fn(struct backoff *b, int status, void *ctx);

/**
 * @brief Starts retrying.
 * @return the backoff, or NULL with errno set: EINVAL when
 * @p first_delay_us is not positive, @p max_delay_us is less than it,
 * @p max_attempts is not positive or a callback is NULL; ENOMEM.
 */
struct backoff *backoff_new(struct event_loop *loop, int64_t first_delay_us,
                            int64_t max_delay_us, int max_attempts,
                            backoff_attempt_fn *attempt, backoff_done_fn *done,
                            void *ctx);

/** @brief The attempts started so far. */
int backoff_attempts(const struct backoff *b);

/** @brief The wait before the current attempt (during an attempt) or the
 * pending one (between attempts), or the last one (after the end): 0 for
 * attempt 1. */
int64_t backoff_wait(const struct backoff *b);

/** @brief Frees the backoff; a pending attempt never happens, nor does
 * the done callback. NULL is a no-op. */
void backoff_free(struct backoff *b);

#endif /* EXERCISES_CH02_BACKOFF_H */
