/* The base pieces: growable arrays, intrusive list, timestamps, and the
 * logger front end. */
#include "test_support.h"

#include "base/array.h"
#include "base/current_thread.h"
#include "base/list.h"
#include "base/log.h"
#include "base/timestamp.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(array_reserve_doubles_and_keeps_contents)
{
    int *a = NULL;
    size_t capacity = 0;
    for (size_t len = 0; len < 1000; len++) {
        int *p = array_reserve(a, &capacity, len + 1, sizeof *a);
        ck_assert_ptr_nonnull(p);
        a = p;
        ck_assert_uint_ge(capacity, len + 1);
        /* Doubling from the minimum: a power of two times it. */
        ck_assert_uint_eq(capacity % ARRAY_MIN_CAPACITY, 0);
        ck_assert_uint_eq((capacity / ARRAY_MIN_CAPACITY) &
                              (capacity / ARRAY_MIN_CAPACITY - 1),
                          0);
        a[len] = (int)len;
    }
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(a[i], i);
    /* Room already: the same array, the same capacity. */
    size_t before = capacity;
    ck_assert_ptr_eq(array_reserve(a, &capacity, 10, sizeof *a), a);
    ck_assert_uint_eq(capacity, before);
    free(a);
}
END_TEST

START_TEST(array_reserve_failure_changes_nothing)
{
    int *a = NULL;
    size_t capacity = 0;
    a = array_reserve(a, &capacity, 3, sizeof *a);
    ck_assert_ptr_nonnull(a);
    a[2] = 42;
    size_t before = capacity;
    /* Sizes that overflow size_t must fail, not wrap to a small block. */
    ck_assert_ptr_null(array_reserve(a, &capacity, SIZE_MAX, sizeof *a));
    ck_assert_ptr_null(
        array_reserve(a, &capacity, SIZE_MAX / 2, sizeof(uint64_t)));
    ck_assert_uint_eq(capacity, before);
    ck_assert_int_eq(a[2], 42); /* still ours, still intact */
    free(a);
}
END_TEST

struct item {
    int value;
    struct list_node node;
};

START_TEST(list_push_remove_iterate)
{
    struct list_node head;
    list_init(&head);
    ck_assert(list_empty(&head));
    ck_assert_ptr_null(list_first(&head));
    struct item items[4];
    for (int i = 0; i < 4; i++) {
        items[i].value = i;
        list_init(&items[i].node);
        ck_assert(list_unlinked(&items[i].node));
        list_push_back(&head, &items[i].node);
    }
    list_remove(&items[1].node);
    ck_assert(list_unlinked(&items[1].node));
    int seen[4], n = 0;
    struct list_node *pos, *tmp;
    list_for_each(pos, &head)
        seen[n++] = container_of(pos, struct item, node)->value;
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(seen[0], 0);
    ck_assert_int_eq(seen[1], 2);
    ck_assert_int_eq(seen[2], 3);
    ck_assert_ptr_eq(list_first(&head), &items[0].node);
    list_for_each_safe(pos, tmp, &head) list_remove(pos);
    ck_assert(list_empty(&head));
}
END_TEST

START_TEST(timestamps_and_format)
{
    int64_t a = timestamp_mono_us(), b = timestamp_mono_us();
    ck_assert_int_ge(b, a);
    ck_assert_int_gt(timestamp_wall_us(), INT64_C(1600000000) * 1000000);
    char buf[TIMESTAMP_FORMAT_LEN];
    /* 2001-09-09 01:46:40 UTC is 1e9 seconds after the epoch. */
    ck_assert_str_eq(timestamp_format(INT64_C(1000000000) * 1000000 + 42, buf),
                     "2001-09-09 01:46:40.000042");
    /* Before the epoch, time counts back from it. */
    ck_assert_str_eq(timestamp_format(-1, buf), "1969-12-31 23:59:59.999999");
    ck_assert_str_eq(timestamp_format(-1500000, buf),
                     "1969-12-31 23:59:58.500000");
    /* The ends of int64_t fit, with their six-digit years. */
    ck_assert_str_eq(timestamp_format(INT64_MAX, buf),
                     "294247-01-10 04:00:54.775807");
    ck_assert_str_eq(timestamp_format(INT64_MIN, buf),
                     "-290308-12-21 19:59:05.224192");
}
END_TEST

/* A sink that keeps the lines in memory. */
struct capture {
    char text[16384];
    size_t len;
    int lines;
    int flushes;
};

static void capture_output(const char *line, size_t len, void *ctx)
{
    struct capture *c = ctx;
    ck_assert_msg(len > 0 && line[len - 1] == '\n', "line without newline");
    ck_assert_int_le(len, LOG_LINE_MAX);
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, line, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    c->lines++;
}

static void capture_flush(void *ctx)
{
    ((struct capture *)ctx)->flushes++;
}

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

START_TEST(log_line_format_and_levels)
{
    struct capture cap = {.len = 0};
    struct log_sink sink = {capture_output, capture_flush, &cap};
    log_set_sink(&sink);
    enum log_level saved = log_get_level();
    log_set_level(LOG_LEVEL_INFO);

    log_info("hello %d", 42);
    int line = __LINE__ - 1;
    ck_assert_int_eq(cap.lines, 1);
    /* "YYYY-MM-DD HH:MM:SS.uuuuuu TID INFO  test_base.c:LINE hello 42\n" */
    int year, mon, day, hh, mm, ss, us, tid, lineno;
    char level[8], file[64], msg[32];
    ck_assert_int_eq(sscanf(cap.text, "%d-%d-%d %d:%d:%d.%d %d %7s %63[^:]:%d %31[^\n]",
                            &year, &mon, &day, &hh, &mm, &ss, &us, &tid,
                            level, file, &lineno, msg),
                     12);
    ck_assert_int_ge(year, 2024);
    ck_assert_int_eq(tid, (int)current_thread_tid());
    ck_assert_str_eq(level, "INFO");
    ck_assert_str_eq(file, "test_base.c"); /* basename, not the path */
    ck_assert_int_eq(lineno, line);
    ck_assert_str_eq(msg, "hello 42");
    ck_assert_ptr_nonnull(strstr(cap.text, " INFO  test_base.c:"));

    evaluated = 0;
    log_debug("hidden %d", side_effect()); /* below the level */
    ck_assert_int_eq(cap.lines, 1);
    ck_assert_int_eq(evaluated, 0);
    log_warn("shown %d", side_effect());
    ck_assert_int_eq(cap.lines, 2);
    ck_assert_int_eq(evaluated, 1);
    ck_assert_ptr_nonnull(strstr(cap.text, " WARN  "));

    log_set_level(LOG_LEVEL_ERROR);
    log_warn("hidden");
    log_error("error");
    ck_assert_int_eq(cap.lines, 3);
    log_flush();
    ck_assert_int_eq(cap.flushes, 1);

    log_set_level(saved);
    log_set_sink(NULL);
}
END_TEST

START_TEST(log_long_message_is_cut)
{
    struct capture cap = {.len = 0};
    struct log_sink sink = {capture_output, NULL, &cap};
    log_set_sink(&sink);
    char *big = malloc(3 * LOG_LINE_MAX);
    memset(big, 'x', 3 * LOG_LINE_MAX - 1);
    big[3 * LOG_LINE_MAX - 1] = '\0';
    log_error("%s", big);
    free(big);
    log_set_sink(NULL);
    ck_assert_int_eq(cap.lines, 1);
    ck_assert_int_eq(cap.len, LOG_LINE_MAX); /* the newline included */
    ck_assert_int_eq(memcmp(cap.text + cap.len - 4, "...\n", 4), 0);
}
END_TEST

/* The child's sink: plain C, no Check calls (they would write to Check's
 * channel from a forked process); it forwards lines and flushes to a pipe. */
static int fatal_pipe = -1;

static void pipe_output(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    (void)!write(fatal_pipe, line, len);
}

static void pipe_flush(void *ctx)
{
    (void)ctx;
    (void)!write(fatal_pipe, "<flushed>", 9);
}

static void log_fatal_in_child(void *arg)
{
    fatal_pipe = *(int *)arg;
    static struct log_sink sink = {pipe_output, pipe_flush, NULL};
    log_set_sink(&sink);
    log_fatal("the end %d", 7); /* must abort */
}

/* Reads what a child wrote into a pipe, until it closes; @p text gets at
 * most @p cap - 1 bytes and a NUL. Closes @p fd. */
static void read_to_end(int fd, char *text, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, text + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    test_close(fd);
}

START_TEST(log_fatal_aborts)
{
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = test_fork_child(log_fatal_in_child, &fds[1], &fds[1], 1);
    test_close(fds[1]);
    char text[1024];
    read_to_end(fds[0], text, sizeof text);
    int status = test_wait_child(pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
    /* the line was written at FATAL level, then the sink flushed */
    ck_assert_msg(strstr(text, " FATAL test_base.c:") != NULL, "got: %s", text);
    const char *msg = strstr(text, "the end 7\n");
    ck_assert_msg(msg != NULL, "got: %s", text);
    ck_assert_str_eq(msg, "the end 7\n<flushed>");
}
END_TEST

static void *tid_of_thread(void *arg)
{
    *(pid_t *)arg = current_thread_tid();
    return NULL;
}

START_TEST(thread_ids_differ_per_thread)
{
    pid_t mine = current_thread_tid(), other = 0;
    ck_assert_int_eq(mine, getpid()); /* the main thread's tid is the pid */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, tid_of_thread, &other), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_ne(other, 0);
    ck_assert_int_ne(other, mine);
}
END_TEST

static void check_tid_in_child(void *arg)
{
    (void)arg;
    _exit(current_thread_tid() == getpid() ? 0 : 1);
}

START_TEST(forked_child_has_its_own_tid)
{
    (void)current_thread_tid(); /* cache it in the parent first */
    int status = test_run_in_child(check_tid_in_child, NULL);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* The thread id field of a log line: the third word. */
static long tid_in_line(const char *line)
{
    long tid = -1;
    char date[16], time[24];
    if (sscanf(line, "%15s %23s %ld ", date, time, &tid) != 3)
        return -1;
    return tid;
}

/* A sink that keeps the last line only; no Check calls, so that it may
 * run in another thread or a forked child. */
static char last_line[LOG_LINE_MAX + 1];

static void keep_last_line(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    memcpy(last_line, line, len);
    last_line[len] = '\0';
}

static void *log_in_thread(void *arg)
{
    *(pid_t *)arg = current_thread_tid();
    log_info("from a thread");
    return NULL;
}

static void log_in_child(void *arg)
{
    int fd = *(int *)arg;
    log_info("from a child"); /* the parent's thread had logged before */
    (void)!write(fd, last_line, strlen(last_line));
    close(fd);
    _exit(0);
}

/* A line names the thread that wrote it: another thread has another id,
 * and so has a forked child's main thread, though the parent's main
 * thread had logged (and cached its id) before the fork. */
START_TEST(log_lines_name_their_thread_also_after_fork)
{
    static const struct log_sink sink = {keep_last_line, NULL, NULL};
    log_set_sink(&sink);
    log_info("from the main thread");
    ck_assert_int_eq(tid_in_line(last_line), current_thread_tid());

    pid_t other = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, log_in_thread, &other), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(tid_in_line(last_line), other);

    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = test_fork_child(log_in_child, &fds[1], &fds[1], 1);
    test_close(fds[1]);
    char text[LOG_LINE_MAX + 1];
    read_to_end(fds[0], text, sizeof text);
    int status = test_wait_child(pid);
    log_set_sink(NULL);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(strstr(text, "from a child") != NULL, "got: %s", text);
    ck_assert_int_eq(tid_in_line(text), pid);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch01 base");
    TCase *tc = tcase_create("base");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, array_reserve_doubles_and_keeps_contents);
    tcase_add_test(tc, array_reserve_failure_changes_nothing);
    tcase_add_test(tc, list_push_remove_iterate);
    tcase_add_test(tc, timestamps_and_format);
    tcase_add_test(tc, log_line_format_and_levels);
    tcase_add_test(tc, log_long_message_is_cut);
    tcase_add_test(tc, log_fatal_aborts);
    tcase_add_test(tc, thread_ids_differ_per_thread);
    tcase_add_test(tc, forked_child_has_its_own_tid);
    tcase_add_test(tc, log_lines_name_their_thread_also_after_fork);
    suite_add_tcase(s, tc);
    return s;
}
