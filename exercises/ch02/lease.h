/**
 * @file lease.h
 * @brief A lease: something held until a time, with a warning before it
 * ends, that its holder may renew or drop at any moment, its own
 * callbacks included.
 *
 * Contract
 * - Times are absolute, on the monotonic clock (timestamp_mono_us()),
 *   like event_loop_run_at(); a time already past is due at once (in the
 *   next round).
 * - A term runs from lease_new() or lease_renew() to its expiration. In
 *   each term, the warning callback runs once, at the expiration minus
 *   @p warn_before_us (saturated at the earliest time); then, unless the
 *   lease was renewed or freed meanwhile, the expiry callback runs once,
 *   at the expiration, and the lease has expired.
 * - A term's warning always comes before its expiry, even when both are
 *   due in the same batch of timers (and when @p warn_before_us is 0).
 * - lease_renew() starts a new term: the current term's warning (if not
 *   run yet) and expiry never run, even when they are due in the batch
 *   being run. It may be called from the warning callback. Once the
 *   lease has expired (from the start of its expiry callback), renewing
 *   is refused.
 * - The caller owns the lease. lease_free() may be called at any time
 *   from the loop thread, from the lease's own callbacks too: after it,
 *   neither callback runs, even when due in the batch being run.
 * - The lease never touches @p ctx. Loop thread only.
 */
#ifndef EXERCISES_CH02_LEASE_H
#define EXERCISES_CH02_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct lease;

/** @brief A lease's warning or expiry callback. */
typedef void lease_fn(struct lease *lease, void *ctx);

/**
 * @brief Takes a lease until @p expires_at_us.
 * @return the lease, or NULL with errno set: EINVAL when a callback is
 * NULL or @p warn_before_us is negative, ENOMEM.
 */
struct lease *lease_new(struct event_loop *loop, int64_t expires_at_us,
                        int64_t warn_before_us, lease_fn *on_warn,
                        lease_fn *on_expire, void *ctx);

/**
 * @brief Renews the lease until @p expires_at_us (earlier or later than
 * now): a new term, with its own warning.
 * @return 0; -ETIMEDOUT when the lease has expired; -ENOMEM, and then the
 * lease is as it was.
 */
int lease_renew(struct lease *lease, int64_t expires_at_us);

/** @brief The expiration of the current (or last) term. */
int64_t lease_expiration(const struct lease *lease);

/** @brief True from the start of the expiry callback on. */
bool lease_expired(const struct lease *lease);

/** @brief Drops the lease: no callback of it runs any more. NULL is a
 * no-op. */
void lease_free(struct lease *lease);

#endif /* EXERCISES_CH02_LEASE_H */
