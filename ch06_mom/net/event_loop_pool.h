/**
 * @file event_loop_pool.h
 * @brief A base loop and N loop threads, with a way to pick one.
 *
 * Contract
 * - Created, started, used and freed in the base loop's thread.
 * - event_loop_pool_next() picks loops round-robin; with no threads it is
 *   always the base loop, so a single-threaded program needs no special
 *   case. event_loop_pool_for_hash() always maps the same hash to the
 *   same loop, for callers that need affinity.
 * - A loop whose poller failed (event_loop_thread_failed(), which only a
 *   bug such as a closed epoll fd causes) gets no new work: both pickers
 *   pass over it, and fall back to the base loop when every thread has
 *   failed. What it already had waits until the pool is freed.
 * - event_loop_pool_free() stops and joins every thread; their loops run
 *   what was still queued to them before they are freed.
 */
#ifndef MUDUO_NET_EVENT_LOOP_POOL_H
#define MUDUO_NET_EVENT_LOOP_POOL_H

#include <stddef.h>

#include "net/callbacks.h"

struct event_loop_pool;

/** @brief Most threads a pool may have. */
#define EVENT_LOOP_POOL_MAX_THREADS 1024

/** @brief A pool around @p base with no threads yet.
 * @return NULL with errno = ENOMEM. */
struct event_loop_pool *event_loop_pool_new(struct event_loop *base);

/**
 * @brief Starts @p threads loop threads (0 to EVENT_LOOP_POOL_MAX_THREADS),
 * each calling @p init (may be NULL) in its thread; with 0 threads, @p init
 * is called once with the base loop. Once only.
 * @return 0, -EINVAL, or the error of a thread that did not start (the
 * ones that did are stopped again).
 */
int event_loop_pool_start(struct event_loop_pool *pool, int threads,
                          event_loop_thread_init_fn *init, void *ctx);

/** @brief The next loop, round-robin (the base loop with no threads). */
struct event_loop *event_loop_pool_next(struct event_loop_pool *pool);

/** @brief The loop for @p hash: the same hash, the same loop (as long as
 * no loop fails). */
struct event_loop *event_loop_pool_for_hash(const struct event_loop_pool *pool,
                                            size_t hash);

/** @brief Number of loop threads (0 when not started). */
int event_loop_pool_size(const struct event_loop_pool *pool);

/** @brief Stops and joins the threads, frees the pool. */
void event_loop_pool_free(struct event_loop_pool *pool);

#endif /* MUDUO_NET_EVENT_LOOP_POOL_H */
