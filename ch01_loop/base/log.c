#include "base/log.h"

#include "base/current_thread.h"
#include "base/timestamp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* -1 until the first log call has read MUDUO_LOG_LEVEL. */
static atomic_int g_level = -1;

/* NULL means the default sink (stderr). A pointer, so that a sink is
 * switched atomically as one unit: output, flush and ctx together. */
static _Atomic(const struct log_sink *) g_sink;

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO ",
                                          "WARN ", "ERROR", "FATAL"};

static int level_from_env(void)
{
    static const char *const names[] = {"trace", "debug", "info", "warn",
                                        "error"};
    const char *value = getenv("MUDUO_LOG_LEVEL");
    if (value != NULL) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcasecmp(value, names[i]) == 0)
                return (int)i;
    }
    return LOG_LEVEL_INFO;
}

enum log_level log_get_level(void)
{
    int level = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (__builtin_expect(level < 0, 0)) {
        int expected = -1;
        level = level_from_env();
        /* Another thread (or log_set_level) may have won: keep its value. */
        if (!atomic_compare_exchange_strong(&g_level, &expected, level))
            level = expected;
    }
    return (enum log_level)level;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

static void stderr_output(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* Nowhere left to report the failure to. */
        line += n;
        len -= (size_t)n;
    }
}

static const struct log_sink stderr_sink = {stderr_output, NULL, NULL};

static const struct log_sink *current_sink(void)
{
    const struct log_sink *sink =
        atomic_load_explicit(&g_sink, memory_order_acquire);
    return sink != NULL ? sink : &stderr_sink;
}

void log_set_sink(const struct log_sink *sink)
{
    atomic_store_explicit(&g_sink, sink, memory_order_release);
}

void log_flush(void)
{
    const struct log_sink *sink = current_sink();
    if (sink->flush != NULL)
        sink->flush(sink->ctx);
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Longest source file name kept in a line (longer ones are cut), so that
 * the header always leaves room for the message. */
#define LOG_FILE_NAME_MAX 128

/* Writes "YYYY-MM-DD HH:MM:SS.uuuuuu TID LEVEL file:line " into out, which
 * has room for LOG_LINE_MAX bytes; returns its length (a few hundred bytes
 * at most). */
static size_t format_header(char *out, enum log_level level, const char *file,
                            int lineno)
{
    char when[TIMESTAMP_FORMAT_LEN];
    int n = snprintf(out, LOG_LINE_MAX, "%s %d %s %.*s:%d ",
                     timestamp_format(timestamp_wall_us(), when),
                     (int)current_thread_tid(), level_names[level],
                     LOG_FILE_NAME_MAX, basename_of(file), lineno);
    return n > 0 ? (size_t)n : 0;
}

/* Formats into line[LOG_LINE_MAX]: at most LOG_LINE_MAX - 1 characters of
 * text, then '\n' over the NUL that vsnprintf left after them. */
static size_t format_line(char *line, enum log_level level, const char *file,
                          int lineno, const char *fmt, va_list *ap)
{
    const size_t cap = LOG_LINE_MAX; /* text + NUL */
    size_t len = format_header(line, level, file, lineno);
    /* The analyzer loses track of va_start across the call from
     * log_write_fatal(); every caller has started ap. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int m = vsnprintf(line + len, cap - len, fmt, *ap);
    if (m > 0 && (size_t)m >= cap - len) {
        len = cap - 1; /* cut: vsnprintf left a NUL at line[cap - 1] */
        line[len - 3] = line[len - 2] = line[len - 1] = '.';
    } else if (m > 0) {
        len += (size_t)m;
    }
    line[len++] = '\n';
    return len;
}

static void write_line(enum log_level level, const char *file, int lineno,
                       const char *fmt, va_list *ap)
{
    char line[LOG_LINE_MAX];
    size_t len = format_line(line, level, file, lineno, fmt, ap);
    const struct log_sink *sink = current_sink();
    sink->output(line, len, sink->ctx);
}

void log_write(enum log_level level, const char *file, int line,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, file, line, fmt, &ap);
    va_end(ap);
}

void log_write_fatal(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(LOG_LEVEL_FATAL, file, line, fmt, &ap);
    va_end(ap);
    log_flush();
    abort();
}

const char *log_strerror(int err)
{
    const char *text = strerrordesc_np(err);
    return text != NULL ? text : "Unknown error";
}
