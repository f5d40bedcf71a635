/**
 * @file fanout.h
 * @brief Copies what one source fd produces to every one of its sinks: a
 * broadcast, the smallest publish/subscribe, on one loop.
 *
 * Contract
 * - Every chunk read from the source (at most FANOUT_CHUNK bytes per
 *   round) is sent whole to every sink. A broadcast keeps no backlog per
 *   sink: a sink that cannot take the whole chunk at once is too slow and
 *   is dropped, as is a sink whose peer hung up or failed. A dropped
 *   sink's fd is closed at once (its peer sees the end of the stream).
 * - A sink is watched even when nothing is being sent to it, so that its
 *   peer going away is noticed at once: it reads nothing, writes only when
 *   the source has data, and listens for hang-ups and errors alone
 *   (channel_enable_hang_up()).
 * - When the source ends (end of file, or an error), the fanout ends:
 *   every fd is closed, done(status, ctx) is called once, and the fanout
 *   frees itself. From the moment done is called, the caller's pointer
 *   to it is invalid.
 * - Lifetimes. All of this happens inside callbacks of the loop: a sink
 *   is dropped from its own callback (its peer hung up) or from the
 *   source's (a send failed), and the fanout ends from the source's. A
 *   channel may be removed at any time (the loop then skips what was left
 *   of its events in the batch), but its memory may not be freed while
 *   its own callback is still running: channel_destroy() asserts that.
 *   Such a free waits for the end of the batch (event_loop_queue()).
 *   Several of these can happen in one batch: the source ending while
 *   sinks hang up, all of them at once.
 * - Owns the source fd from fanout_new() on, and every sink fd from a
 *   successful fanout_add_sink() on; closes each once, after removing its
 *   channel. Sinks are non-blocking stream sockets (sent to with
 *   MSG_NOSIGNAL); the source, any non-blocking fd that a channel can
 *   read.
 * - Loop thread only. done may quit the loop, and may do anything but
 *   touch the fanout.
 */
#ifndef EXERCISE_FANOUT_H
#define EXERCISE_FANOUT_H

/** @brief The most sinks a fanout has at a time. */
#define FANOUT_MAX_SINKS 64

/** @brief The most bytes read from the source in one round, and so the
 * largest chunk sent to the sinks. */
#define FANOUT_CHUNK 4096

struct event_loop;
struct fanout;

/**
 * @brief Called once when the source ended, after every fd was closed.
 * @param status 0 at the source's end of file, or the negative errno
 *               that ended it.
 * @param ctx    the ctx given to fanout_new().
 */
typedef void fanout_done_fn(int status, void *ctx);

/**
 * @brief Starts reading @p source_fd, with no sink yet.
 * @return the fanout, or NULL with errno set (ENOMEM, or the poller's
 * error); @p source_fd is then still the caller's.
 */
struct fanout *fanout_new(struct event_loop *loop, int source_fd,
                          fanout_done_fn *done, void *ctx);

/**
 * @brief Adds a sink: every chunk from now on is sent to @p fd, which the
 * fanout owns from now on.
 * @return 0; or -ENOSPC when FANOUT_MAX_SINKS sinks are attached,
 * -ENOMEM, or the poller's error, and @p fd is then still the caller's.
 */
int fanout_add_sink(struct fanout *f, int fd);

/** @brief How many sinks are attached (not dropped). */
int fanout_sinks(const struct fanout *f);

/**
 * @brief Ends the fanout before its source does: closes every fd and
 * frees it, without calling done. Call it while the loop is not running,
 * or from a callback of another object; never from done (by then the
 * fanout has ended and frees itself).
 */
void fanout_free(struct fanout *f);

#endif /* EXERCISE_FANOUT_H */
