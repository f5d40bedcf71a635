/**
 * @file event_loop_thread.h
 * @brief A thread that owns and runs one event loop.
 *
 * Contract
 * - event_loop_thread_new() starts a thread that creates its own loop,
 *   calls the optional init callback in that thread, and runs the loop.
 *   It returns only once the loop exists (a count-down latch), so the
 *   caller can hand it work at once (event_loop_queue() is thread-safe).
 * - event_loop_thread_free() quits the loop from the calling thread, joins
 *   the thread (which frees its loop, running what is still queued), and
 *   frees the handle. Call it from any thread but the loop's own.
 * - The loop pointer is valid from new until free returns. The thread
 *   runs its loop until then: event_loop_quit() from elsewhere ends one
 *   run and the thread starts the next; a poller failure is logged, the
 *   thread says so (event_loop_thread_failed()) and waits for free.
 */
#ifndef MUDUO_NET_EVENT_LOOP_THREAD_H
#define MUDUO_NET_EVENT_LOOP_THREAD_H

#include <stdbool.h>

#include "net/callbacks.h"

struct event_loop;
struct event_loop_thread;

/**
 * @brief Starts a loop thread.
 * @param init called in the new thread before the loop runs; may be NULL.
 * @param ctx  passed to @p init.
 * @return the handle, or NULL with errno set (thread or loop creation).
 */
struct event_loop_thread *
event_loop_thread_new(event_loop_thread_init_fn *init, void *ctx);

/** @brief The loop the thread runs. */
struct event_loop *event_loop_thread_loop(const struct event_loop_thread *t);

/** @brief True once the loop's poller has failed: the thread no longer
 * runs its loop (what is queued to it waits for event_loop_thread_free()).
 * Thread-safe. */
bool event_loop_thread_failed(const struct event_loop_thread *t);

/** @brief Quits the loop, joins the thread and frees the handle. */
void event_loop_thread_free(struct event_loop_thread *t);

#endif /* MUDUO_NET_EVENT_LOOP_THREAD_H */
