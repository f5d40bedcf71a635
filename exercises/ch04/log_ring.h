/**
 * @file log_ring.h
 * @brief A flight recorder for the logger: a sink that keeps the most
 * recent lines in memory, to be written out (dumped) when something goes
 * wrong.
 *
 * Contract
 * - Plugs into log.h as a sink: log_set_sink(log_ring_sink(ring)). Every
 *   thread may then log through it at once. A line is kept whole or not
 *   at all; the oldest lines make room for a new one. The memory is
 *   allocated once, by log_ring_new(): logging a line costs a copy under
 *   one mutex, never an allocation nor a system call.
 * - A line ends in '\n', as the front end's do. One that does not, or
 *   that is longer than the whole ring, is not kept (log_ring_dropped()).
 * - log_ring_dump() writes the lines held, oldest first, to an fd. It may
 *   run while other threads log: it takes a copy under the mutex and
 *   writes it without holding it, so a logging thread waits for a copy,
 *   never for the fd (a pipe nobody reads, a slow disk).
 * - log_ring_free() first restores the stderr sink if the ring's sink is
 *   the current one; the caller makes sure that no thread is still in the
 *   middle of logging through it.
 * - Thread-safe: every function but log_ring_new() and log_ring_free().
 */
#ifndef EXERCISES_CH04_LOG_RING_H
#define EXERCISES_CH04_LOG_RING_H

#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

struct log_ring;

/** @brief Smallest ring: one line of the front end fits. */
#define LOG_RING_MIN LOG_LINE_MAX
/** @brief Largest ring: 64 MiB. */
#define LOG_RING_MAX ((size_t)64 * 1024 * 1024)

/**
 * @brief Creates a ring that holds up to @p capacity bytes of lines
 * (LOG_RING_MIN to LOG_RING_MAX).
 * @return the ring, or NULL with errno set (EINVAL, ENOMEM).
 */
struct log_ring *log_ring_new(size_t capacity);

/** @brief The sink to pass to log_set_sink(). Valid until
 * log_ring_free(). */
const struct log_sink *log_ring_sink(struct log_ring *ring);

/** @brief Keeps one line of @p len bytes, ending in '\n' (the sink's
 * output function). */
void log_ring_append(struct log_ring *ring, const char *line, size_t len);

/**
 * @brief Writes the lines held now, oldest first, to @p fd (a blocking
 * fd: it waits until all is written). The lines stay in the ring.
 * @return 0, or a negative errno (-ENOMEM for the copy, or the error of
 * write(2)).
 */
int log_ring_dump(struct log_ring *ring, int fd);

/** @brief Bytes of lines held now. */
size_t log_ring_size(struct log_ring *ring);

/** @brief Lines not kept: without their '\n', or longer than the ring. */
uint64_t log_ring_dropped(struct log_ring *ring);

/** @brief Restores stderr if the ring's sink is current, and frees the
 * ring (NULL is ignored). */
void log_ring_free(struct log_ring *ring);

#endif /* EXERCISES_CH04_LOG_RING_H */
