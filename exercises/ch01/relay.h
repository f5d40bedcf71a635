/**
 * @file relay.h
 * @brief Copies everything read from one fd to another, until the input
 * ends: the heart of `cat`, a proxy or a pipe between two programs, on
 * one loop.
 *
 * Contract
 * - Two channels cooperate: one reads the input, one writes the output.
 *   Bytes read wait in a buffer of RELAY_BUFFER_SIZE bytes until the
 *   output takes them; writes may be partial, and the rest is written
 *   when the output has room again.
 * - Back-pressure: while the buffer is full the relay stops reading, so a
 *   slow output slows the input down instead of making the relay grow.
 *   With read interest left on, a full buffer and a readable input would
 *   also wake the loop in every round for nothing.
 * - The end: when the input reaches its end (read() returns 0; for a pipe,
 *   when its writer closed, possibly with bytes still to read) the relay
 *   stops watching it and closes it, writes what it still holds, then
 *   closes the output, so that whoever reads it sees the end too, and
 *   calls done(r, 0, ctx). A read or write error ends it at once with
 *   done(r, -errno, ctx); a reader of the output that went away is
 *   -EPIPE. done is called exactly once, and by then both fds are closed.
 * - Remove before close: an fd is closed only after its channel was
 *   removed from the loop. The poller must forget an fd while it is still
 *   the fd it was told about.
 * - Owns both fds from a successful relay_new() on (and closes them); on
 *   failure they stay the caller's. Both must be non-blocking, pipes or
 *   stream sockets. Writing to a pipe whose reader closed raises SIGPIPE:
 *   the caller ignores it (signal(SIGPIPE, SIG_IGN), as every server does)
 *   so that it comes back as -EPIPE.
 * - Loop thread only. done may quit the loop; it must not free the relay,
 *   whose callback is still running: free it after the loop returned, or
 *   from a functor that done queues with event_loop_queue().
 */
#ifndef EXERCISE_RELAY_H
#define EXERCISE_RELAY_H

#include <stddef.h>
#include <stdint.h>

/** @brief The most bytes a relay holds between its input and output. */
#define RELAY_BUFFER_SIZE ((size_t)16 * 1024)

struct event_loop;
struct relay;

/**
 * @brief Called once when the relay ended.
 * @param r      the relay; both its fds are closed.
 * @param status 0 when the input ended and every byte was written, or the
 *               negative errno that ended it.
 * @param ctx    the ctx given to relay_new().
 */
typedef void relay_done_fn(struct relay *r, int status, void *ctx);

/**
 * @brief Starts relaying from @p in_fd to @p out_fd, which it now owns.
 * @return the relay, or NULL with errno set (ENOMEM, or the poller's
 * error: EPERM for a regular file under epoll); the fds are then still
 * the caller's.
 */
struct relay *relay_new(struct event_loop *loop, int in_fd, int out_fd,
                        relay_done_fn *done, void *ctx);

/** @brief How many bytes have been written to the output so far. */
uint64_t relay_bytes(const struct relay *r);

/**
 * @brief Frees @p r (NULL is accepted), closing whatever fd it still
 * holds, without calling done. Not from inside the relay's callbacks, nor
 * from done.
 */
void relay_free(struct relay *r);

#endif /* EXERCISE_RELAY_H */
