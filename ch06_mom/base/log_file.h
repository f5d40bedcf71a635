/**
 * @file log_file.h
 * @brief An append-only log file that rolls over by size and by day.
 *
 * Contract
 * - Files are named "<basename>.<YYYYmmdd-HHMMSS>.<pid>.<n>.log" (UTC;
 *   n counts up from 1 for each file started). A file is always new: it
 *   is created with O_EXCL, and when a name is taken (two log files with
 *   one basename, or a restart within the same second) n moves on. So no
 *   two writers ever share a file, and sorting one writer's files by n
 *   gives the order they were written in.
 * - Files are cut at line ends: a new file is started before the line
 *   that would take the current one past roll_size bytes (a line longer
 *   than roll_size gets a file of its own), and at the first append after
 *   midnight (UTC).
 * - When a new file cannot be opened, writing goes on in the current one,
 *   which says so in a line of its own; the next roll is tried again.
 * - Each append goes to the file with write(2), unbuffered: its callers
 *   (the async logger's back end) hand over large blocks already, and a
 *   failed write is then known at once and to the byte.
 * - When a write fails (a full disk, a file size limit), the file is cut
 *   back to its last line end: it holds whole lines only, and the append
 *   says how many bytes it kept.
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
 * @return how many of the bytes are in the file: @p len, or fewer when a
 * write failed (the rest is lost; the caller counts it). */
size_t log_file_append(struct log_file *f, const char *data, size_t len);

/** @brief Files started so far (1 after open). */
uint64_t log_file_count(const struct log_file *f);

/** @brief Closes the current file, frees @p f. */
void log_file_close(struct log_file *f);

#endif /* MUDUO_BASE_LOG_FILE_H */
