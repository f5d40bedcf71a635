/**
 * @file log_file.h
 * @brief An append-only log file that rolls over by size and by day.
 *
 * Contract
 * - Files are named "<basename>.<YYYYmmdd-HHMMSS>.<pid>.<n>.log" (UTC,
 *   n counting files from 1), so that rolling twice in one second never
 *   overwrites anything.
 * - A new file is started when the current one would pass roll_size bytes,
 *   and at the first append after midnight (UTC).
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

/** @brief Appends @p len bytes, rolling first if needed.
 * @return 0 or a negative errno (the bytes are then lost). */
int log_file_append(struct log_file *f, const char *data, size_t len);

/** @brief Writes out what is buffered. */
void log_file_flush(struct log_file *f);

/** @brief Files started so far (1 after open). */
uint64_t log_file_count(const struct log_file *f);

/** @brief Flushes and closes the current file, frees @p f. */
void log_file_close(struct log_file *f);

#endif /* MUDUO_BASE_LOG_FILE_H */
