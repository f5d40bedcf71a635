/**
 * @file loop_call.h
 * @brief Runs a function in a loop's thread and waits until it has run:
 * the synchronous door into another thread's loop.
 *
 * Contract
 * - loop_call() hands fn(loop, ctx) to @p loop's thread and returns only
 *   after fn has returned there, so the caller sees everything fn wrote
 *   (the hand-over and the wait order the two threads; no atomics are
 *   needed in ctx).
 * - Thread-safe: any thread may call it, for any loop. Called in the
 *   loop's own thread, fn runs at once (the loop cannot run a queued
 *   functor while its own thread waits for it).
 * - The loop must be running, or run later: a call from another thread
 *   waits for the loop's thread to get to it. It does not wait if fn
 *   could not be handed over (the loop is being freed, or no memory);
 *   fn has then not run, and never will.
 * - Calls from one thread run in the order that thread made them (each
 *   waits for the previous one anyway).
 * - Nothing is owned: ctx stays the caller's, and fn may keep nothing of
 *   loop_call's beyond its own return.
 */
#ifndef EXERCISES_CH04_LOOP_CALL_H
#define EXERCISES_CH04_LOOP_CALL_H

#include "net/callbacks.h"

struct event_loop;

/**
 * @brief Runs @p fn(@p loop, @p ctx) in the loop's thread; returns when it
 * has returned.
 * @return 0 once fn has run; or the negative errno of event_loop_queue()
 * (-ENOMEM, -ESHUTDOWN) when it could not be handed over, and fn did not
 * run.
 */
int loop_call(struct event_loop *loop, event_loop_fn *fn, void *ctx);

#endif /* EXERCISES_CH04_LOOP_CALL_H */
