/**
 * @file debounce.h
 * @brief A debouncer: folds a burst of pokes into one call, made once
 * the pokes have stopped for a quiet period.
 *
 * Contract
 * - debounce_poke() (re)starts the quiet period: the callback runs
 *   @p quiet_us after the last poke, never sooner, and once for all the
 *   pokes since the previous call, whose number it receives.
 * - A poke from inside the callback starts a new period: the callback
 *   runs again, a quiet period later.
 * - debounce_pending() is true from a poke until its call starts.
 * - The caller owns the debouncer and frees it with debounce_free(): a
 *   pending call never happens. Not from inside its own callback (the
 *   debouncer is still in use there: defer it with event_loop_queue()).
 * - The debouncer never touches @p ctx. Loop thread only.
 */
#ifndef EXERCISES_CH02_DEBOUNCE_H
#define EXERCISES_CH02_DEBOUNCE_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct debounce;

/** @brief The call for @p pokes pokes (at least 1; at most INT_MAX: the
 * count stops there). */
typedef void debounce_fn(struct debounce *d, int pokes, void *ctx);

/**
 * @brief Creates a debouncer with a quiet period of @p quiet_us.
 * @return the debouncer, or NULL with errno set: EINVAL when @p quiet_us
 * is not positive or @p fn is NULL, ENOMEM.
 */
struct debounce *debounce_new(struct event_loop *loop, int64_t quiet_us,
                              debounce_fn *fn, void *ctx);

/**
 * @brief A poke: the call comes a quiet period from now, unless another
 * poke comes first.
 * @return 0, or -ENOMEM (then the call stays as it was before the poke).
 */
int debounce_poke(struct debounce *d);

/** @brief True when a call will come: poked since the last call started. */
bool debounce_pending(const struct debounce *d);

/** @brief Frees the debouncer; a pending call never happens. NULL is a
 * no-op. */
void debounce_free(struct debounce *d);

#endif /* EXERCISES_CH02_DEBOUNCE_H */
