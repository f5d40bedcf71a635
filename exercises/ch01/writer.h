/**
 * @file writer.h
 * @brief Sends bytes to a non-blocking stream socket without ever
 * blocking: what the socket cannot take now waits, and the loop sends it
 * when the socket has room again.
 *
 * Contract
 * - writer_send() first writes what the socket takes at once, so that a
 *   send to a socket with room costs no round of the loop. What is left
 *   waits in the writer, in order, behind anything already waiting, and
 *   the loop's write callback sends it as the peer reads.
 * - The loop is level-triggered: a socket with room in its send buffer is
 *   reported writable in every round. So write interest is enabled only
 *   while bytes wait, and dropped as soon as the last one is written. Left
 *   enabled, it would wake the loop in every round: the loop would spin,
 *   using a whole core to do nothing.
 * - At most WRITER_MAX_PENDING bytes wait. A send of more bytes than
 *   that, counting those already waiting, is refused whole (-ENOBUFS),
 *   whatever the socket could take right now: a peer that stops reading
 *   must not make the writer grow without bound, and the caller decides
 *   what to do (drop the peer, stop producing, ...).
 * - The first write error (the peer went away: -EPIPE, -ECONNRESET) ends
 *   the writer: the bytes waiting are dropped, write interest too, and
 *   every later writer_send() returns that error. Writes use send() with
 *   MSG_NOSIGNAL, so a peer that closed is an error, never a SIGPIPE.
 * - The fd is the caller's: it stays open, and the caller closes it after
 *   writer_free(). The loop is the caller's too. Loop thread only: every
 *   function here runs in the thread of the loop.
 */
#ifndef EXERCISE_WRITER_H
#define EXERCISE_WRITER_H

#include <stddef.h>

/** @brief The most bytes that may wait in a writer. */
#define WRITER_MAX_PENDING ((size_t)256 * 1024)

struct event_loop;
struct writer;

/**
 * @brief A writer for @p fd, a connected non-blocking stream socket.
 * @return the writer, or NULL with errno set (ENOMEM).
 */
struct writer *writer_new(struct event_loop *loop, int fd);

/**
 * @brief Sends @p len bytes of @p data: now what fits, the rest later.
 * @return 0 when every byte was sent or is waiting; -ENOBUFS when
 * writer_pending() + @p len exceeds WRITER_MAX_PENDING (nothing of @p data
 * is sent nor kept); the writer's error once it has one (writer_error());
 * or -ENOMEM when the rest cannot be kept, which ends the writer like a
 * write error (what was written stays written).
 */
int writer_send(struct writer *w, const void *data, size_t len);

/** @brief How many bytes wait to be written. */
size_t writer_pending(const struct writer *w);

/** @brief The error that ended the writer (a negative errno), or 0. */
int writer_error(const struct writer *w);

/**
 * @brief Drops what is still waiting and frees @p w (NULL is accepted);
 * the fd stays open, for the caller to close.
 */
void writer_free(struct writer *w);

#endif /* EXERCISE_WRITER_H */
