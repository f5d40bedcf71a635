/**
 * @file log_file.h
 * @brief An append-only log file that rolls over by size and by day.
 *
 * Contract
 * - Files are named "<basename>.<YYYYmmdd-HHMMSS>.<pid>.<n>.log" (UTC,
 *   n counting files from 1), so that rolling twice in one second never
 *   overwrites anything.
 * - Files are cut at line ends: a new file is started before the line
 *   that would take the current one past roll_size bytes (a line longer
 *   than roll_size gets a file of its own), and at the first append after
 *   midnight (UTC).
 * - When a new file cannot be opened, writing goes on in the current one,
 *   which says so in a line of its own; the next roll is tried again.
 * - Writes are buffered (stdio, 64 KiB); log_file_flush() pushes them out.
 * - Not thread-safe: one writer (the async logger's back-end thread).
 */
#ifndef MUDUO_BASE_LOG_FILE_H
#define MUDUO_BASE_LOG_FILE_H

#include <stddef.h>
#include <stdint.h>

struct log_file;

/**
 * @brief Opens the first file.
 * @param basename path prefix, e.g. "/var/log/app" (its directory must
 *                 exist).
 * @param roll_size start a new file beyond this many bytes (> 0).
 * @return the log file, or NULL with errno set.
 */
struct log_file *log_file_open(const char *basename, size_t roll_size);

/** @brief Appends @p len bytes, rolling at line ends as needed.
 * @return 0, or -EIO when the bytes could not all be written. */
int log_file_append(struct log_file *f, const char *data, size_t len);

/** @brief Writes out what is buffered. */
void log_file_flush(struct log_file *f);

/** @brief Files started so far (1 after open). */
uint64_t log_file_count(const struct log_file *f);

/** @brief Flushes and closes the current file, frees @p f. */
void log_file_close(struct log_file *f);

#endif /* MUDUO_BASE_LOG_FILE_H */
