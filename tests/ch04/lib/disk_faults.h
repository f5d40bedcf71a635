/*
 * Disk faults for the logging suites (chapter 4 on): a write() that a test
 * can slow down, fail, or let through only up to a number of bytes, for
 * the files under one directory only.
 *
 * Linked into every test program of the chapter, it defines write() for
 * the whole program (the library is linked statically and calls it); until
 * a test names a directory with disk_faults_begin(), it only passes each
 * call on. Every other fd (pipes, sockets, stderr) always passes.
 */
#ifndef MUDUO_TESTS_DISK_FAULTS_H
#define MUDUO_TESTS_DISK_FAULTS_H

#include <stdbool.h>

/* Faults apply from now on to files whose path starts with @p dir (the
 * string must outlive disk_faults_end()). */
void disk_faults_begin(const char *dir);

/* Each write sleeps 20 ms first: a disk that cannot keep up. */
void disk_faults_set_slow(bool slow);

/* Room left on the "disk": writes take at most this many more bytes in
 * all, then fail with ENOSPC (a write that would cross it is cut short,
 * like a real full disk). Negative: no limit. */
void disk_faults_set_room(long bytes);

/* Back to plain writes everywhere. */
void disk_faults_end(void);

#endif /* MUDUO_TESTS_DISK_FAULTS_H */
