/**
 * @file async_log.h
 * @brief The asynchronous back end of the logger: double buffering and
 * one writer thread.
 *
 * Contract
 * - Plugs into log.h as a sink (log_set_sink(async_log_sink(al))); the
 *   front end (the log_* macros) does not change.
 * - Front ends in any thread append their line to the current buffer under
 *   one mutex: a memcpy, no system call. When the buffer is full it moves
 *   to the list of full buffers, a spare takes its place, and the back-end
 *   thread is woken.
 * - The back-end thread wakes when a buffer fills, on log_flush(), and at
 *   least every flush interval; it swaps the full buffers out under the
 *   lock (giving back empty ones) and writes them to a log_file (rolling
 *   by size and by day) without holding it.
 * - Backlog bound: when more than max_backlog buffers wait, the back end
 *   keeps the first two, drops the rest and writes a line saying how much
 *   it dropped. Apart from that, bytes are lost only when memory or the
 *   disk fails, or when one line is longer than a buffer;
 *   async_log_dropped_bytes() counts them all.
 * - Nothing is lost on a normal exit: async_log_free() writes everything.
 *   Call it only when no thread logs through its sink any more; if its sink
 *   is the current one, stderr becomes the sink again first.
 * - log_flush() (and log_fatal(), before it aborts) waits until everything
 *   logged so far is written to the file (or counted as dropped).
 * - After fork(), the back-end thread exists in the parent only. In the
 *   child, the logger's sink writes each line straight to stderr (one
 *   write(2), nothing buffered), log_flush() and log_fatal() wait for
 *   nothing, and async_log_free() frees the child's copy without writing
 *   anything (or leaves it, if another thread was changing it at the
 *   fork): what was buffered before the fork is the parent's to write.
 */
#ifndef MUDUO_BASE_ASYNC_LOG_H
#define MUDUO_BASE_ASYNC_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

struct async_log;

/** @brief Settings; zero fields take the defaults below. */
struct async_log_options {
    const char *basename;    /**< Log file prefix (required). */
    size_t roll_size;        /**< Default ASYNC_LOG_DEFAULT_ROLL_SIZE. */
    int flush_interval_ms;   /**< Default ASYNC_LOG_DEFAULT_FLUSH_MS. */
    size_t buffer_size;      /**< Default ASYNC_LOG_DEFAULT_BUFFER_SIZE;
                                  at least LOG_LINE_MAX, at most
                                  ASYNC_LOG_MAX_BUFFER_SIZE. */
    int max_backlog;         /**< Default ASYNC_LOG_DEFAULT_MAX_BACKLOG. */
};

/** @brief Default size at which log files roll: 64 MiB. */
#define ASYNC_LOG_DEFAULT_ROLL_SIZE ((size_t)64 * 1024 * 1024)
/** @brief Default longest time between flushes: 3 s. */
#define ASYNC_LOG_DEFAULT_FLUSH_MS 3000
/** @brief Default size of one buffer: 4 MiB. */
#define ASYNC_LOG_DEFAULT_BUFFER_SIZE ((size_t)4 * 1024 * 1024)
/** @brief Largest buffer accepted: 1 GiB. */
#define ASYNC_LOG_MAX_BUFFER_SIZE ((size_t)1 << 30)
/** @brief Default most full buffers waiting before some are dropped. */
#define ASYNC_LOG_DEFAULT_MAX_BACKLOG 25

/** @brief Opens the first log file and starts the back-end thread.
 * @return the logger, or NULL with errno set. */
struct async_log *async_log_new(const struct async_log_options *options);

/** @brief The sink to pass to log_set_sink(). Valid until
 * async_log_free(). */
const struct log_sink *async_log_sink(struct async_log *al);

/** @brief Appends one line (the sink's output function). Thread-safe. */
void async_log_append(struct async_log *al, const char *line, size_t len);

/** @brief Bytes dropped so far: the backlog bound, failed allocations
 * and writes, and lines longer than a buffer. */
uint64_t async_log_dropped_bytes(struct async_log *al);

/** @brief Log files started so far. */
uint64_t async_log_file_count(struct async_log *al);

/** @brief Writes everything, stops the thread, closes the file and frees
 * @p al (NULL is ignored). */
void async_log_free(struct async_log *al);

#endif /* MUDUO_BASE_ASYNC_LOG_H */
