/* Exercise 04.2, log_ring: a log sink that keeps the newest lines whole,
 * from every thread in each thread's order; dumps that run while threads
 * log, and that never make them wait for the fd; the stderr sink given
 * back when the ring goes. The lines go through the real front end
 * (log_info), as a program's would. */
#include "test_support.h"

#include "log_ring.h"

#include "base/log.h"
#include "base/timestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Sanitizer builds are several times slower: the hang guards grow with
 * them (they only turn a hang into a message; nothing here is timed). */
#if defined(__SANITIZE_THREAD__)
#define SLOWDOWN 5
#else
#define SLOWDOWN 1
#endif
#define HANG_GUARD_MS (3000 * SLOWDOWN)
#define TEST_TIMEOUT_S (10 * SLOWDOWN)

static int hang_guard_ms(void)
{
    return test_under_valgrind() ? 10 * HANG_GUARD_MS : HANG_GUARD_MS;
}

static struct log_ring *new_ring(size_t capacity)
{
    struct log_ring *ring = log_ring_new(capacity);
    ck_assert_msg(ring != NULL, "log_ring_new(%zu): %s", capacity,
                  strerror(errno));
    return ring;
}

/* Every line the tests log carries this, then its thread and number. */
#define MARK "ring-test"

static void log_numbered(int thread, int n)
{
    log_info(MARK " t=%d n=%d", thread, n);
}

/* --- reading a dump ------------------------------------------------------- */

/* The bytes of a dump, through a memfd. */
struct dump {
    char *bytes;
    size_t len;
    int result;
};

static void take_dump(struct log_ring *ring, struct dump *d)
{
    int fd = memfd_create("log_ring dump", MFD_CLOEXEC);
    ck_assert_msg(fd >= 0, "memfd_create: %s", strerror(errno));
    d->result = log_ring_dump(ring, fd);
    off_t end = lseek(fd, 0, SEEK_END);
    ck_assert(end >= 0);
    d->len = (size_t)end;
    d->bytes = malloc(d->len + 1);
    ck_assert_ptr_nonnull(d->bytes);
    ck_assert_int_eq(pread(fd, d->bytes, d->len, 0), (ssize_t)d->len);
    d->bytes[d->len] = '\0';
    test_close(fd);
}

#define MAX_THREADS 16

/* What a dump holds: whole lines of the front end, each thread's
 * numbers consecutive. No Check calls: the first problem goes to why. */
struct census {
    int lines;
    int count[MAX_THREADS];
    int first[MAX_THREADS], last[MAX_THREADS];
    int longest;
    char why[256];
};

static bool read_census(const struct dump *d, struct census *c)
{
    memset(c, 0, sizeof *c);
    if (d->result != 0) {
        snprintf(c->why, sizeof c->why, "log_ring_dump returned %d (%s)",
                 d->result, strerror(-d->result));
        return false;
    }
    if (d->len > 0 && d->bytes[d->len - 1] != '\n') {
        snprintf(c->why, sizeof c->why,
                 "the dump ends in the middle of a line");
        return false;
    }
    for (size_t at = 0; at < d->len;) {
        const char *line = d->bytes + at;
        const char *eol = memchr(line, '\n', d->len - at);
        size_t len = (size_t)(eol - line) + 1;
        at += len;
        const char *mark = memmem(line, len, MARK " t=", strlen(MARK) + 3);
        int t, n;
        /* A whole line starts with the front end's date: "2026-". */
        bool starts =
            len > 5 && line[0] >= '0' && line[0] <= '9' && line[4] == '-';
        if (mark == NULL || !starts ||
            sscanf(mark, MARK " t=%d n=%d", &t, &n) != 2 || t < 0 ||
            t >= MAX_THREADS) {
            snprintf(c->why, sizeof c->why,
                     "line %d of the dump is not a whole line that was "
                     "logged: \"%.*s\"",
                     c->lines + 1, (int)(len - 1 > 120 ? 120 : len - 1), line);
            return false;
        }
        if (c->count[t] > 0 && n != c->last[t] + 1) {
            snprintf(c->why, sizeof c->why,
                     "thread %d: line n=%d follows n=%d: each thread's "
                     "lines must stay in order, none missing in between",
                     t, n, c->last[t]);
            return false;
        }
        if (c->count[t]++ == 0)
            c->first[t] = n;
        c->last[t] = n;
        c->lines++;
        if ((int)len > c->longest)
            c->longest = (int)len;
    }
    return true;
}

/* --- every thread, in order --------------------------------------------- */

#define LOGGERS 4
#define LINES_PER_LOGGER 500

static void *log_lines(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_LOGGER; i++)
        log_numbered(t, i);
    return NULL;
}

START_TEST(keeps_the_lines_of_every_thread_whole_and_in_order)
{
    struct log_ring *ring = new_ring(1024 * 1024); /* room for them all */
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(log_ring_sink(ring));
    pthread_t threads[LOGGERS];
    for (intptr_t t = 0; t < LOGGERS; t++)
        ck_assert_int_eq(
            pthread_create(&threads[t], NULL, log_lines, (void *)t), 0);
    for (int t = 0; t < LOGGERS; t++)
        ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    log_set_sink(NULL);
    struct dump d;
    take_dump(ring, &d);
    struct census c;
    bool whole = read_census(&d, &c);
    size_t size = log_ring_size(ring);
    log_ring_free(ring);
    free(d.bytes);
    ck_assert_msg(whole, "%s", c.why);
    for (int t = 0; t < LOGGERS; t++)
        ck_assert_msg(c.count[t] == LINES_PER_LOGGER && c.first[t] == 0,
                      "thread %d logged %d lines; the dump holds %d of them, "
                      "from n=%d",
                      t, LINES_PER_LOGGER, c.count[t], c.first[t]);
    ck_assert_msg(size == d.len,
                  "log_ring_size() says %zu bytes, the dump has %zu", size,
                  d.len);
}
END_TEST

/* --- full ------------------------------------------------------------------
 */

#define MANY_LINES 1000

START_TEST(keeps_only_the_newest_lines_once_full)
{
    struct log_ring *ring = new_ring(LOG_RING_MIN);
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(log_ring_sink(ring));
    for (int i = 0; i < MANY_LINES; i++)
        log_numbered(0, i);
    log_set_sink(NULL);
    /* Lines it must not keep, and that must not disturb the others. */
    static char longer_than_the_ring[LOG_RING_MIN + 2];
    memset(longer_than_the_ring, 'x', sizeof longer_than_the_ring);
    longer_than_the_ring[sizeof longer_than_the_ring - 1] = '\n';
    log_ring_append(ring, longer_than_the_ring, sizeof longer_than_the_ring);
    log_ring_append(ring, "no end of line", 14);
    uint64_t dropped = log_ring_dropped(ring);
    struct dump d;
    take_dump(ring, &d);
    struct census c;
    bool whole = read_census(&d, &c);
    log_ring_free(ring);
    free(d.bytes);
    ck_assert_msg(whole, "%s", c.why);
    ck_assert_msg(c.count[0] > 0 && c.last[0] == MANY_LINES - 1,
                  "the newest line kept is n=%d, expected n=%d (the last "
                  "one logged)",
                  c.last[0], MANY_LINES - 1);
    ck_assert_msg(d.len <= LOG_RING_MIN, "a ring of %d bytes dumped %zu bytes",
                  LOG_RING_MIN, d.len);
    ck_assert_msg(d.len + (size_t)c.longest > LOG_RING_MIN,
                  "a ring of %d bytes kept only %zu bytes of lines: one more "
                  "line would have fit",
                  LOG_RING_MIN, d.len);
    ck_assert_msg(dropped == 2,
                  "log_ring_dropped() is %llu after a line longer than the "
                  "ring and one without its '\\n'; expected 2",
                  (unsigned long long)dropped);
}
END_TEST

/* --- a dump stuck on its fd ----------------------------------------------- */

struct dump_call {
    struct log_ring *ring;
    int fd;
    int result;
    atomic_bool done;
};

static void *dump_to_fd(void *arg)
{
    struct dump_call *call = arg;
    call->result = log_ring_dump(call->ring, call->fd);
    atomic_store(&call->done, true);
    return NULL;
}

struct burst {
    atomic_bool done;
};

static void *log_burst(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < MANY_LINES; i++)
        log_numbered(1, i);
    atomic_store(&b->done, true);
    return NULL;
}

static bool wait_until(atomic_bool *flag)
{
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    while (!atomic_load(flag) && timestamp_mono_us() < deadline)
        usleep(1000);
    return atomic_load(flag);
}

START_TEST(a_dump_never_makes_loggers_wait_for_its_fd)
{
    struct log_ring *ring = new_ring(64 * 1024);
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(log_ring_sink(ring));
    for (int i = 0; i < MANY_LINES; i++) /* more than 64 KiB: full */
        log_numbered(0, i);
    /* A blocking pipe with room for one page, which nobody reads yet:
     * the dump will be stuck writing to it. */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert(fcntl(p[1], F_SETPIPE_SZ, 4096) > 0);
    struct dump_call call = {.ring = ring, .fd = p[1]};
    pthread_t dumper, logger;
    ck_assert_int_eq(pthread_create(&dumper, NULL, dump_to_fd, &call), 0);
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    int queued = 0;
    while (queued == 0 && !atomic_load(&call.done) &&
           timestamp_mono_us() < deadline) {
        ck_assert_int_eq(ioctl(p[0], FIONREAD, &queued), 0);
        usleep(1000);
    }
    bool writing = queued > 0;
    /* Now log, while the dump waits for the pipe. */
    struct burst b = {0};
    ck_assert_int_eq(pthread_create(&logger, NULL, log_burst, &b), 0);
    bool logged_meanwhile = writing && wait_until(&b.done);
    /* Read the pipe empty, which lets the dump end, whatever happened. */
    ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    size_t got = 0;
    char last = '\n';
    for (;;) {
        char buf[4096];
        bool was_done = atomic_load(&call.done);
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n > 0) {
            got += (size_t)n;
            last = buf[n - 1];
        } else if (was_done) {
            break;
        } else {
            usleep(1000);
        }
    }
    ck_assert_int_eq(pthread_join(dumper, NULL), 0);
    ck_assert_int_eq(pthread_join(logger, NULL), 0);
    log_set_sink(NULL);
    test_close(p[0]);
    test_close(p[1]);
    log_ring_free(ring);
    ck_assert_msg(writing,
                  "log_ring_dump wrote nothing to the pipe within "
                  "%d ms",
                  hang_guard_ms());
    ck_assert_msg(logged_meanwhile,
                  "logging %d lines took more than %d ms while a dump was "
                  "stuck writing to a full pipe: does the dump hold the "
                  "ring's mutex while it writes?",
                  MANY_LINES, hang_guard_ms());
    ck_assert_msg(call.result == 0, "log_ring_dump returned %d (%s)",
                  call.result, strerror(-call.result));
    ck_assert_msg(got > 4096 && last == '\n',
                  "the dump wrote %zu bytes, the last one %s", got,
                  last == '\n' ? "an end of line" : "inside a line");
}
END_TEST

/* --- dumps while threads log ---------------------------------------------- */

#define BUSY_LOGGERS 3
#define BUSY_LINES 2000
#define DUMPS 30

static void *log_busy(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < BUSY_LINES; i++)
        log_numbered(t, i);
    return NULL;
}

START_TEST(dumps_while_threads_log_hold_only_whole_lines)
{
    struct log_ring *ring = new_ring(16 * 1024);
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(log_ring_sink(ring));
    pthread_t threads[BUSY_LOGGERS];
    for (intptr_t t = 0; t < BUSY_LOGGERS; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, log_busy, (void *)t),
                         0);
    int bad = -1;
    struct census c;
    for (int i = 0; i < DUMPS && bad < 0; i++) {
        struct dump d;
        take_dump(ring, &d);
        if (!read_census(&d, &c))
            bad = i;
        free(d.bytes);
    }
    for (int t = 0; t < BUSY_LOGGERS; t++)
        ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    log_set_sink(NULL);
    log_ring_free(ring);
    ck_assert_msg(bad < 0, "dump %d of %d, taken while %d threads log: %s",
                  bad + 1, DUMPS, BUSY_LOGGERS, c.why);
}
END_TEST

/* --- the ring goes -------------------------------------------------------- */

START_TEST(freeing_the_ring_gives_the_logger_back_to_stderr)
{
    const struct log_sink *stderr_sink = log_get_sink();
    struct log_ring *current = new_ring(LOG_RING_MIN);
    struct log_ring *other = new_ring(LOG_RING_MIN);
    log_set_sink(log_ring_sink(current));
    log_ring_free(other); /* not the current sink: leaves it alone */
    const struct log_sink *after_other = log_get_sink();
    bool still_current = after_other == log_ring_sink(current);
    log_ring_free(current);
    const struct log_sink *after_current = log_get_sink();
    log_set_sink(NULL);
    ck_assert_msg(still_current,
                  "freeing a ring that is not the current sink changed the "
                  "current sink");
    ck_assert_msg(after_current == stderr_sink,
                  "after log_ring_free() of the current sink, the logger "
                  "still writes through it");
    errno = 0;
    ck_assert_msg(log_ring_new(LOG_RING_MIN - 1) == NULL && errno == EINVAL,
                  "log_ring_new(LOG_RING_MIN - 1): expected NULL, EINVAL");
    errno = 0;
    ck_assert_msg(log_ring_new(LOG_RING_MAX + 1) == NULL && errno == EINVAL,
                  "log_ring_new(LOG_RING_MAX + 1): expected NULL, EINVAL");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 04.2 log_ring");
    TCase *tc = tcase_create("log_ring");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, keeps_the_lines_of_every_thread_whole_and_in_order);
    tcase_add_test(tc, keeps_only_the_newest_lines_once_full);
    tcase_add_test(tc, a_dump_never_makes_loggers_wait_for_its_fd);
    tcase_add_test(tc, dumps_while_threads_log_hold_only_whole_lines);
    tcase_add_test(tc, freeing_the_ring_gives_the_logger_back_to_stderr);
    suite_add_tcase(s, tc);
    return s;
}
