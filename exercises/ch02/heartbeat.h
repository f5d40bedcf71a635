/**
 * @file heartbeat.h
 * @brief A heartbeat: calls a function every interval, a fixed number of
 * times, then stops by itself.
 *
 * Contract
 * - heartbeat_new() starts it. Beat k (1, 2, ..., @p beats) is due k
 *   intervals after the call, on one grid: a beat that runs late does not
 *   push the later ones back (one repeating timer of the loop).
 * - Its last beat stops it: from that beat on, heartbeat_running() is
 *   false and the heartbeat has no timer left in the loop, so nothing
 *   wakes the loop for it again.
 * - heartbeat_stop() stops it early, from anywhere in the loop thread,
 *   its own callback included: no beat comes after it.
 * - The caller owns the heartbeat and frees it with heartbeat_free(),
 *   which stops it first. Not from inside its own callback: the
 *   heartbeat is still in use there (defer it with event_loop_queue()).
 * - The heartbeat never touches @p ctx. Loop thread only.
 */
#ifndef EXERCISES_CH02_HEARTBEAT_H
#define EXERCISES_CH02_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct heartbeat;

/** @brief Called for beat number @p beat (1 for the first). */
typedef void heartbeat_fn(struct heartbeat *hb, int beat, void *ctx);

/**
 * @brief Starts a heartbeat of @p beats beats, @p interval_us apart.
 * @return the heartbeat, or NULL with errno set: EINVAL when
 * @p interval_us or @p beats is not positive or @p fn is NULL, ENOMEM.
 */
struct heartbeat *heartbeat_new(struct event_loop *loop, int64_t interval_us,
                                int beats, heartbeat_fn *fn, void *ctx);

/** @brief Stops the heartbeat: no more beats. Harmless when stopped. */
void heartbeat_stop(struct heartbeat *hb);

/** @brief How many beats have started so far. */
int heartbeat_beats(const struct heartbeat *hb);

/** @brief True until the heartbeat stops: at its last beat, or when
 * stopped; already false while the last beat's callback runs. */
bool heartbeat_running(const struct heartbeat *hb);

/** @brief Stops and frees the heartbeat (NULL is a no-op). */
void heartbeat_free(struct heartbeat *hb);

#endif /* EXERCISES_CH02_HEARTBEAT_H */
