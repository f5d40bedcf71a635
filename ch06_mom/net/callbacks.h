/**
 * @file callbacks.h
 * @brief The callback types that several modules share.
 *
 * Contract
 * - Only types live here, so that a header that needs one of them (to
 *   declare a function that takes it) includes this small file instead
 *   of the whole API of the module that calls it.
 * - Every callback receives the object it is about and the ctx given when
 *   it was registered, which the library never touches.
 */
#ifndef MUDUO_NET_CALLBACKS_H
#define MUDUO_NET_CALLBACKS_H

#include <stdint.h>

struct event_loop;

/** @brief A functor for a loop's pending queue (event_loop_queue()). */
typedef void event_loop_fn(struct event_loop *loop, void *ctx);

/** @brief A timer callback: the loop, the timer's id, and its ctx. */
typedef void event_loop_timer_fn(struct event_loop *loop, uint64_t timer_id,
                                 void *ctx);

/** @brief Called in a new loop thread, with its loop, before it runs. */
typedef void event_loop_thread_init_fn(struct event_loop *loop, void *ctx);

#endif /* MUDUO_NET_CALLBACKS_H */
