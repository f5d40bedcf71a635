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

const struct log_sink *log_get_sink(void)
{
    return current_sink();
}

void log_flush(void)
{
    const struct log_sink *sink = current_sink();
    if (sink->flush != NULL)
        sink->flush(sink->ctx);
}

/* The "YYYY-MM-DD HH:MM:SS" part changes once a second; each thread keeps
 * the last one it formatted (by timestamp_format(), cut before the
 * fraction), so most lines format no date at all. */
static __thread int64_t t_cached_second = INT64_MIN; /* none yet */
static __thread char t_cached_date[TIMESTAMP_FORMAT_LEN];
static __thread size_t t_cached_date_len;

static const char *date_part(int64_t now_us, int64_t second, size_t *len)
{
    if (second != t_cached_second) {
        timestamp_format(now_us, t_cached_date);
        t_cached_date_len = strcspn(t_cached_date, ".");
        t_cached_second = second;
    }
    *len = t_cached_date_len;
    return t_cached_date;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Writes v in decimal; returns the number of digits. */
static size_t put_decimal(char *out, unsigned long v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* Longest source file name kept in a line (longer ones are cut), so that
 * the header always leaves room for the message. */
#define LOG_FILE_NAME_MAX 128

/* Writes "YYYY-MM-DD HH:MM:SS.uuuuuu TID LEVEL file:line " into out by
 * hand: the header is in every line, and with gmtime_r() and snprintf()
 * it made an asynchronous log call more than twice as slow (see "Making
 * it fast" in the chapter 4 guide). At most TIMESTAMP_FORMAT_LEN + 22 +
 * 6 + LOG_FILE_NAME_MAX + 23 bytes, far below LOG_LINE_MAX. */
static size_t format_header(char *out, enum log_level level, const char *file,
                            int lineno)
{
    int micros;
    int64_t now = timestamp_wall_us();
    int64_t second = timestamp_split(now, &micros);
    size_t date_len;
    const char *date = date_part(now, second, &date_len);
    char *p = out;
    memcpy(p, date, date_len);
    p += date_len;
    *p++ = '.';
    for (int i = 5; i >= 0; i--, micros /= 10)
        p[i] = (char)('0' + micros % 10);
    p += 6;
    *p++ = ' ';
    p += put_decimal(p, (unsigned long)current_thread_tid());
    *p++ = ' ';
    memcpy(p, level_names[level], 5);
    p += 5;
    *p++ = ' ';
    const char *name = basename_of(file);
    size_t name_len = strnlen(name, LOG_FILE_NAME_MAX);
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    p += put_decimal(p, (unsigned long)(lineno < 0 ? 0 : lineno));
    *p++ = ' ';
    return (size_t)(p - out);
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
