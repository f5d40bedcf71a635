#include "test_support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0 /* no valgrind installed: not under it */
#endif

#define FD_GUARD_MAX 1024

static int guard_fds[FD_GUARD_MAX];
static int guard_len;

/* Reads /proc/self/fd into fds (sorted ascending), leaving out the fd of
 * the directory stream used to read it. */
static int list_open_fds(int *fds, int max)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_msg(dir != NULL, "opendir /proc/self/fd: %s", strerror(errno));
    int self = dirfd(dir), n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        ck_assert_msg(n < max, "more than %d fds open", max);
        fds[n++] = fd;
    }
    closedir(dir);
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    return n;
}

bool test_fd_target(int fd, char *out, size_t cap)
{
    char link[32];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, out, cap - 1);
    out[len < 0 ? 0 : len] = '\0';
    return len >= 0;
}

static void describe(const int *fds, int n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        char target[256];
        test_fd_target(fds[i], target, sizeof target);
        int w = snprintf(out + used, cap - used, " %d(%s)", fds[i], target);
        used += w > 0 ? (size_t)w : 0;
    }
}

void fd_guard_begin(void)
{
    guard_len = list_open_fds(guard_fds, FD_GUARD_MAX);
}

void fd_guard_check(void)
{
    int now[FD_GUARD_MAX];
    int n = list_open_fds(now, FD_GUARD_MAX);
    int extra[FD_GUARD_MAX], missing[FD_GUARD_MAX], ne = 0, nm = 0;
    int i = 0, j = 0;
    while (i < guard_len || j < n) { /* merge of two sorted lists */
        if (j == n || (i < guard_len && guard_fds[i] < now[j]))
            missing[nm++] = guard_fds[i++];
        else if (i == guard_len || now[j] < guard_fds[i])
            extra[ne++] = now[j++];
        else
            i++, j++;
    }
    char left_open[2048], closed[2048];
    describe(extra, ne, left_open, sizeof left_open);
    describe(missing, nm, closed, sizeof closed);
    ck_assert_msg(ne == 0 && nm == 0,
                  "fd table changed by the test: left open:%s; closed:%s",
                  left_open, closed);
}

void tcase_add_fd_guard(TCase *tc)
{
    tcase_add_checked_fixture(tc, fd_guard_begin, fd_guard_check);
    tcase_set_timeout(tc, 60);
}

void test_pipe(int fds[2])
{
    ck_assert_msg(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe2: %s",
                  strerror(errno));
}

void test_socketpair(int fds[2])
{
    ck_assert_msg(socketpair(AF_UNIX,
                             SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                             fds) == 0,
                  "socketpair: %s", strerror(errno));
}

void test_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "write fd %d: %s", fd, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

bool test_under_valgrind(void)
{
    return RUNNING_ON_VALGRIND != 0;
}

void test_close(int fd)
{
    ck_assert_msg(close(fd) == 0, "close %d: %s", fd, strerror(errno));
}

pid_t test_fork_child(void (*fn)(void *arg), void *arg, const int *keep,
                      int nkeep)
{
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Start like a fresh process, so that valgrind's fd report for the
         * child lists only what the child itself opened (and kept). */
        unsigned from = 3;
        for (;;) {
            unsigned next = ~0U; /* the lowest kept fd at or above from */
            for (int i = 0; i < nkeep; i++)
                if ((unsigned)keep[i] >= from && (unsigned)keep[i] < next)
                    next = (unsigned)keep[i];
            if (next == ~0U) {
                close_range(from, ~0U, 0);
                break;
            }
            if (next > from)
                close_range(from, next - 1, 0);
            from = next + 1;
        }
        /* A child that hangs would hang the test run (Check's timeouts do
         * not apply without its fork mode, as under make memcheck). */
        alarm(60);
        fn(arg);
        _exit(0);
    }
    return pid;
}

int test_wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_msg(errno == EINTR, "waitpid: %s", strerror(errno));
    return status;
}

int test_run_in_child(void (*fn)(void *arg), void *arg)
{
    return test_wait_child(test_fork_child(fn, arg, NULL, 0));
}
