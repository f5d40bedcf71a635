/**
 * @file log.h
 * @brief The logger front end: levels, one formatted line per call, and a
 * replaceable sink.
 *
 * Contract
 * - Every function and macro here is thread-safe. A line is formatted on the
 *   caller's stack and handed to the sink in one call, so lines from
 *   different threads never interleave inside a line.
 * - Line format (one line, UTC):
 *   `2026-11-25 08:50:31.123456 12345 INFO  event_loop.c:42 message\n`
 *   (date and time, thread id, level, source file basename and line).
 * - The default sink writes each line to stderr with one write(2). A sink
 *   set with log_set_sink() must outlive every thread that may log.
 * - The level starts at LOG_LEVEL_INFO, or at the value of the environment
 *   variable MUDUO_LOG_LEVEL (trace, debug, info, warn, error) read on the
 *   first log call. A message below the level costs one atomic load; its
 *   arguments are not evaluated.
 * - log_fatal() writes the line, flushes the sink and calls abort(). The
 *   library uses it only for broken invariants (see ASSERT in assertion.h).
 */
#ifndef MUDUO_BASE_LOG_H
#define MUDUO_BASE_LOG_H

#include <stddef.h>

/** @brief Severity of a log line, in increasing order. */
enum log_level {
    LOG_LEVEL_TRACE, /**< Every step; very verbose. */
    LOG_LEVEL_DEBUG, /**< Details useful when debugging. */
    LOG_LEVEL_INFO,  /**< Normal but noteworthy events. */
    LOG_LEVEL_WARN,  /**< Something unusual that the library handled. */
    LOG_LEVEL_ERROR, /**< A failed operation the caller will hear about. */
    LOG_LEVEL_FATAL, /**< A broken invariant; the process aborts. */
};

/** @brief Longest line the front end formats, newline included; longer
 * messages are cut and end in "...". */
#define LOG_LINE_MAX 4096

/** @brief Receives one complete line (ending in '\n', not NUL-terminated).
 */
typedef void log_output_fn(const char *line, size_t len, void *ctx);

/** @brief Pushes out whatever the sink has buffered. */
typedef void log_flush_fn(void *ctx);

/** @brief Where lines go: an output function, an optional flush function
 * (NULL when output is unbuffered) and their context. */
struct log_sink {
    log_output_fn *output; /**< Called once per line. */
    log_flush_fn *flush;   /**< Called before abort and by log_flush(). */
    void *ctx;             /**< Passed to both. */
};

/** @brief Sets the minimum level that is written. */
void log_set_level(enum log_level level);

/** @brief The current minimum level. */
enum log_level log_get_level(void);

/**
 * @brief Sends every later line to @p sink; NULL restores stderr.
 *
 * The sink is used by pointer and must stay valid while any thread may
 * log. Lines already handed to the previous sink stay there.
 */
void log_set_sink(const struct log_sink *sink);

/** @brief The current sink (the stderr sink when none was set). */
const struct log_sink *log_get_sink(void);

/** @brief Flushes the current sink. */
void log_flush(void);

/** @brief Formats and writes one line; use the log_* macros instead. */
void log_write(enum log_level level, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** @brief Like log_write, then flushes and aborts. */
void log_write_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/** @brief A thread-safe description of an errno value (positive). */
const char *log_strerror(int err);

/** @cond INTERNAL */
#define LOG_AT_LEVEL_(level, ...)                                              \
    do {                                                                       \
        if ((level) >= log_get_level())                                        \
            log_write((level), __FILE__, __LINE__, __VA_ARGS__);               \
    } while (0)
/** @endcond */

/** @brief Logs a printf-style message at TRACE level. */
#define log_trace(...) LOG_AT_LEVEL_(LOG_LEVEL_TRACE, __VA_ARGS__)
/** @brief Logs a printf-style message at DEBUG level. */
#define log_debug(...) LOG_AT_LEVEL_(LOG_LEVEL_DEBUG, __VA_ARGS__)
/** @brief Logs a printf-style message at INFO level. */
#define log_info(...) LOG_AT_LEVEL_(LOG_LEVEL_INFO, __VA_ARGS__)
/** @brief Logs a printf-style message at WARN level. */
#define log_warn(...) LOG_AT_LEVEL_(LOG_LEVEL_WARN, __VA_ARGS__)
/** @brief Logs a printf-style message at ERROR level. */
#define log_error(...) LOG_AT_LEVEL_(LOG_LEVEL_ERROR, __VA_ARGS__)
/** @brief Logs at FATAL level, flushes the sink and aborts. */
#define log_fatal(...) log_write_fatal(__FILE__, __LINE__, __VA_ARGS__)

#endif /* MUDUO_BASE_LOG_H */
