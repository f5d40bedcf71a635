/* Asynchronous logging: 8 threads x 100k lines, every line present in
 * order per thread across rolled files; flush and free lose nothing; the
 * backlog bound drops and says so; a forked child logs to stderr and
 * never waits for the back end it does not have. */
#include "test_support.h"

#include "disk_faults.h"

#include "base/async_log.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A fresh directory per test, removed with its files afterwards. */
static char dir[64];
static char basename_buf[96];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/muduo-asynclog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(basename_buf, sizeof basename_buf, "%s/app", dir);
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Reads every log file of the directory, in name order (which is the
 * order they were started: the name counts files), into one string. */
static int compare_names(const void *a, const void *b)
{
    /* "app.<stamp>.<pid>.<n>.log": order by n */
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    const char *px = x + strlen(x) - 4, *py = y + strlen(y) - 4;
    while (px > x && px[-1] != '.')
        px--;
    while (py > y && py[-1] != '.')
        py--;
    long a_n = strtol(px, NULL, 10), b_n = strtol(py, NULL, 10);
    return (a_n > b_n) - (a_n < b_n);
}

static char *read_all_logs(int *files)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && n < 4096)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    size_t cap = 1 << 20, len = 0;
    char *all = malloc(cap);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "re");
        ck_assert_ptr_nonnull(fp);
        size_t got;
        char chunk[65536];
        while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
            if (len + got + 1 > cap) {
                cap = cap * 2 + got;
                all = realloc(all, cap);
            }
            memcpy(all + len, chunk, got);
            len += got;
        }
        fclose(fp);
        free(names[i]);
    }
    all[len] = '\0';
    *files = n;
    return all;
}

#define THREADS 8
#define LINES_PER_THREAD 100000

static void *log_lines(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_THREAD; i++)
        log_info("mark %d %d", id, i);
    return NULL;
}

START_TEST(eight_threads_every_line_in_order_and_the_log_rolls)
{
    make_dir();
    struct async_log_options opt = {.basename = basename_buf,
                                    .roll_size = 4 << 20,
                                    .buffer_size = 1 << 20,
                                    .max_backlog = 1 << 20};
    struct async_log *al = async_log_new(&opt);
    ck_assert_ptr_nonnull(al);
    enum log_level saved = log_get_level();
    const struct log_sink *saved_sink = log_get_sink();
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(async_log_sink(al));
    pthread_t threads[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, log_lines,
                                        (void *)i),
                         0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    uint64_t files_before_free = async_log_file_count(al);
    ck_assert_uint_eq(async_log_dropped_bytes(al), 0);
    async_log_free(al); /* also puts stderr back as the sink */
    ck_assert_ptr_eq(log_get_sink(), saved_sink);
    log_set_level(saved);

    int files;
    char *all = read_all_logs(&files);
    ck_assert_int_gt(files, 1); /* rolled by size */
    ck_assert_int_ge(files, (int)files_before_free);
    int next[THREADS] = {0};
    long lines = 0;
    /* Line by line, with lengths: strstr() or sscanf() on the rest of
     * 50 MB would measure it all again each time (quadratic). */
    const char *end = all + strlen(all);
    for (const char *p = all; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        ck_assert_ptr_nonnull(nl);
        const char *mark = memmem(p, (size_t)(nl - p), " mark ", 6);
        if (mark != NULL) {
            char *after;
            int id = (int)strtol(mark + 6, &after, 10);
            int seq = (int)strtol(after, &after, 10);
            ck_assert(after == nl);
            ck_assert(id >= 0 && id < THREADS);
            ck_assert_msg(seq == next[id], "thread %d: line %d after %d", id,
                          seq, next[id] - 1);
            next[id] = seq + 1;
            lines++;
        }
        p = nl + 1;
    }
    ck_assert_int_eq(lines, (long)THREADS * LINES_PER_THREAD);
    free(all);
    remove_dir();
}
END_TEST

START_TEST(flush_writes_everything_so_far)
{
    make_dir();
    struct async_log_options opt = {.basename = basename_buf};
    struct async_log *al = async_log_new(&opt);
    ck_assert_ptr_nonnull(al);
    log_set_sink(async_log_sink(al));
    log_warn("before the flush");
    log_flush(); /* returns once it is in the file */
    int files;
    char *all = read_all_logs(&files);
    ck_assert_ptr_nonnull(strstr(all, "before the flush"));
    free(all);
    async_log_free(al);
    remove_dir();
}
END_TEST

START_TEST(bad_options_are_refused)
{
    struct async_log_options none = {.basename = NULL};
    errno = 0;
    ck_assert_ptr_null(async_log_new(&none));
    ck_assert_int_eq(errno, EINVAL);
    struct async_log_options small = {.basename = "/tmp/x",
                                      .buffer_size = 100};
    errno = 0;
    ck_assert_ptr_null(async_log_new(&small)); /* shorter than a line */
    ck_assert_int_eq(errno, EINVAL);
    struct async_log_options huge = {.basename = "/tmp/x",
                                     .buffer_size = SIZE_MAX};
    errno = 0;
    ck_assert_ptr_null(async_log_new(&huge)); /* would overflow */
    ck_assert_int_eq(errno, EINVAL);
    struct async_log_options nowhere = {.basename = "/nonexistent/dir/app"};
    errno = 0;
    ck_assert_ptr_null(async_log_new(&nowhere));
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

static void *flood(void *arg)
{
    struct async_log *al = arg;
    char line[200];
    memset(line, 'Z', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 20000; i++)
        async_log_append(al, line, sizeof line);
    return NULL;
}

START_TEST(backlog_bound_drops_and_says_so)
{
    make_dir();
    struct async_log_options opt = {.basename = basename_buf,
                                    .buffer_size = 8192,
                                    .max_backlog = 4};
    struct async_log *al = async_log_new(&opt);
    ck_assert_ptr_nonnull(al);
    disk_faults_begin(dir);
    disk_faults_set_slow(true); /* a disk that cannot keep up */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, flood, al), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    disk_faults_end();
    /* A flush makes the back end take (and maybe drop) what is left, so
     * the count read after it is final. */
    const struct log_sink *sink = async_log_sink(al);
    sink->flush(sink->ctx);
    uint64_t dropped = async_log_dropped_bytes(al);
    async_log_free(al);
    ck_assert_uint_gt(dropped, 0);
    int files;
    char *all = read_all_logs(&files);
    ck_assert_ptr_nonnull(strstr(all, "async_log: dropped"));
    /* what was kept plus what was dropped is what was logged */
    size_t kept = 0, len = strlen(all);
    for (size_t i = 0; i < len; i++)
        kept += all[i] == 'Z';
    kept = kept / 199 * 200; /* 199 Zs and a newline per line */
    ck_assert_uint_eq(kept + dropped, 4 * 20000 * 200);
    free(all);
    remove_dir();
}
END_TEST

static void flush_sink(struct async_log *al)
{
    const struct log_sink *sink = async_log_sink(al);
    sink->flush(sink->ctx);
}

/* A disk that fills up in the middle of a line: the file keeps whole
 * lines only, and every byte that is not in it is counted as dropped. */
START_TEST(failed_writes_and_overlong_lines_are_counted_as_dropped)
{
    make_dir();
    struct async_log_options opt = {.basename = basename_buf,
                                    .buffer_size = 8192};
    struct async_log *al = async_log_new(&opt);
    ck_assert_ptr_nonnull(al);
    const char *line = "this line meets a disk that fills up\n";
    size_t len = strlen(line);
    disk_faults_begin(dir);
    disk_faults_set_room((long)(2 * len + len / 2)); /* 2.5 lines */
    for (int i = 0; i < 10; i++)
        async_log_append(al, line, len);
    flush_sink(al); /* written (and failed) by the time it returns */
    disk_faults_set_room(-1); /* room again */
    ck_assert_uint_eq(async_log_dropped_bytes(al), 8 * len);

    static char overlong[8193];
    memset(overlong, 'O', sizeof overlong - 1);
    overlong[sizeof overlong - 1] = '\n';
    async_log_append(al, overlong, sizeof overlong); /* cannot fit */
    ck_assert_uint_eq(async_log_dropped_bytes(al), 8 * len + sizeof overlong);
    const char *kept = "and this one is written\n";
    async_log_append(al, kept, strlen(kept)); /* logging goes on */
    flush_sink(al);
    disk_faults_end();
    int files;
    char *all = read_all_logs(&files);
    char expected[256];
    snprintf(expected, sizeof expected, "%s%s%s", line, line, kept);
    ck_assert_str_eq(all, expected); /* no torn half line between */
    free(all);
    async_log_free(al);
    remove_dir();
}
END_TEST

/* --- a forked child ------------------------------------------------------ */

/* Long enough for a child under valgrind; a child that hangs fails the
 * test after it instead of hanging the suite. */
#define CHILD_TIMEOUT_MS 30000

/* Waits for the child at most CHILD_TIMEOUT_MS; false (with the child
 * killed and reaped) if it is still running then. */
static bool wait_child_within_timeout(pid_t pid, int *status)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        ck_assert_msg(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        if (waited >= CHILD_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            (void)test_wait_child(pid);
            return false;
        }
        nanosleep(&tick, NULL);
    }
}

/* Reads what the child wrote into a pipe, until it closes; closes @p fd. */
static void read_pipe_to_end(int fd, char *text, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, text + len, cap - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "read: %s", strerror(errno));
        len += (size_t)n;
    }
    text[len] = '\0';
    test_close(fd);
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
        n++;
    return n;
}

struct child_args {
    int stderr_fd; /* the child's stderr goes here */
    struct async_log *al;
};

/* The children below: plain C, no Check calls. */
static void log_fatal_in_child(void *arg)
{
    const struct child_args *a = arg;
    dup2(a->stderr_fd, STDERR_FILENO);
    close(a->stderr_fd);
    log_warn("child: before the fatal");
    log_fatal("child: the end %d", 7); /* must abort, and soon */
}

static void log_and_exit_in_child(void *arg)
{
    const struct child_args *a = arg;
    dup2(a->stderr_fd, STDERR_FILENO);
    close(a->stderr_fd);
    log_warn("child: a line");
    log_flush();           /* returns at once */
    async_log_free(a->al); /* frees the child's copy only */
    log_warn("child: after the free");
}

/* Starts an async logger as the sink, logs a line, forks a child running
 * @p fn with its stderr in a pipe, logs a line after the fork, and frees
 * the logger. @p out gets the child's stderr, @p file the log file. */
static int run_child_of_async_logger(void (*fn)(void *), char *out, size_t cap,
                                     char **file, bool *ended)
{
    make_dir();
    struct async_log_options opt = {.basename = basename_buf};
    struct async_log *al = async_log_new(&opt);
    ck_assert_ptr_nonnull(al);
    enum log_level saved = log_get_level();
    log_set_level(LOG_LEVEL_INFO);
    log_set_sink(async_log_sink(al));
    log_warn("parent: before the fork"); /* in a buffer the child copies */

    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    struct child_args args = {fds[1], al};
    pid_t pid = test_fork_child(fn, &args, &fds[1], 1);
    test_close(fds[1]);
    int status = 0;
    *ended = wait_child_within_timeout(pid, &status);
    read_pipe_to_end(fds[0], out, cap);

    log_warn("parent: after the fork");
    async_log_free(al);
    log_set_level(saved);
    int files;
    *file = read_all_logs(&files);
    remove_dir();
    return status;
}

/* A child of a process with an async logger has no back end (fork()
 * copies only the calling thread). log_fatal() there must not wait for
 * one: the child's lines go to stderr, and it aborts. */
START_TEST(forked_child_log_fatal_writes_its_lines_and_aborts)
{
    char out[4096];
    char *file;
    bool ended;
    int status = run_child_of_async_logger(log_fatal_in_child, out, sizeof out,
                                           &file, &ended);
    ck_assert_msg(ended,
                  "the child still ran after %d ms (a hang in "
                  "log_fatal?); its stderr: %s",
                  CHILD_TIMEOUT_MS, out);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
    ck_assert_msg(strstr(out, " WARN  test_async_log.c:") != NULL &&
                      strstr(out, "child: before the fatal\n") != NULL,
                  "child's stderr: %s", out);
    ck_assert_msg(strstr(out, " FATAL test_async_log.c:") != NULL &&
                      strstr(out, "child: the end 7\n") != NULL,
                  "child's stderr: %s", out);
    /* The parent's lines are in its file once each (the child does not
     * write the parent's buffers it copied), and none of the child's. */
    ck_assert_uint_eq(count_of(file, "parent: before the fork\n"), 1);
    ck_assert_uint_eq(count_of(file, "parent: after the fork\n"), 1);
    ck_assert_ptr_null(strstr(file, "child:"));
    ck_assert_ptr_null(strstr(out, "parent:"));
    free(file);
}
END_TEST

/* A child that logs and exits normally, freeing its copy of the logger on
 * the way: nothing hangs, every line of the child is on its stderr. */
START_TEST(forked_child_logs_to_stderr_and_frees_its_copy)
{
    char out[4096];
    char *file;
    bool ended;
    int status = run_child_of_async_logger(log_and_exit_in_child, out,
                                           sizeof out, &file, &ended);
    ck_assert_msg(ended, "the child still ran after %d ms; its stderr: %s",
                  CHILD_TIMEOUT_MS, out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %#x, expected exit 0", status);
    ck_assert_uint_eq(count_of(out, "child: a line\n"), 1);
    ck_assert_uint_eq(count_of(out, "child: after the free\n"), 1);
    ck_assert_uint_eq(count_of(file, "parent: before the fork\n"), 1);
    ck_assert_uint_eq(count_of(file, "parent: after the fork\n"), 1);
    ck_assert_ptr_null(strstr(file, "child:"));
    free(file);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch04 async log");
    TCase *tc = tcase_create("async_log");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, eight_threads_every_line_in_order_and_the_log_rolls);
    tcase_add_test(tc, flush_writes_everything_so_far);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, backlog_bound_drops_and_says_so);
    tcase_add_test(tc, failed_writes_and_overlong_lines_are_counted_as_dropped);
    tcase_add_test(tc, forked_child_log_fatal_writes_its_lines_and_aborts);
    tcase_add_test(tc, forked_child_logs_to_stderr_and_frees_its_copy);
    suite_add_tcase(s, tc);
    return s;
}
