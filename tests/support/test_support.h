/*
 * Shared helpers for the Check suites of every chapter.
 *
 * Each suite file defines `Suite *test_suite(void)`; test_main.c runs it.
 * Every test case should install the fd guard (tcase_add_fd_guard), which
 * fails the test when it leaves the fd table different from how it found
 * it: a leaked fd is a lifetime bug, so every test checks for one.
 */
#ifndef MUDUO_TESTS_SUPPORT_H
#define MUDUO_TESTS_SUPPORT_H

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

/* The suite under test, defined once per test program. */
Suite *test_suite(void);

/* Adds the fd guard as a checked fixture and a generous timeout (sanitizer
 * builds are slow; the timeout only catches hangs). */
void tcase_add_fd_guard(TCase *tc);

/* Records the open fds now; fd_guard_check() compares against it. */
void fd_guard_begin(void);
void fd_guard_check(void);

/* Creates a non-blocking, close-on-exec pipe or fails the test. */
void test_pipe(int fds[2]);

/* A non-blocking, close-on-exec AF_UNIX stream socketpair, or fails. */
void test_socketpair(int fds[2]);

/* Writes exactly len bytes to a blocking or non-blocking fd with room. */
void test_write_all(int fd, const void *buf, size_t len);

/*
 * Runs fn(arg) in a forked child, with every fd above 2 closed, and returns
 * how the child ended, as waitpid reports it. For tests that expect an abort: the parent checks
 * WIFSIGNALED/WTERMSIG. Works with CK_FORK=no too.
 */
int test_run_in_child(void (*fn)(void *arg), void *arg);

/* Forks a child that runs fn(arg) with every fd above 2 closed except the
 * nkeep fds in keep (for pipes to talk to the parent), and returns its
 * pid at once; collect it with test_wait_child(). */
pid_t test_fork_child(void (*fn)(void *arg), void *arg, const int *keep,
                      int nkeep);

/* waitpid() for a child of test_fork_child(); returns its status. */
int test_wait_child(pid_t pid);

/* True when running under valgrind (make memcheck). */
bool test_under_valgrind(void);

/* What fd refers to, as /proc/self/fd shows it (a path, or a name such
 * as "anon_inode:[eventpoll]"), NUL-terminated in out; false if fd is not
 * open. No Check calls: safe in any thread. */
bool test_fd_target(int fd, char *out, size_t cap);

/* Closes fd, failing the test if close fails. */
void test_close(int fd);

#endif /* MUDUO_TESTS_SUPPORT_H */
