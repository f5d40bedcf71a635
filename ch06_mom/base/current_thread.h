/**
 * @file current_thread.h
 * @brief The calling thread's kernel thread id, cached per thread.
 *
 * Contract
 * - Thread-safe: each thread reads its own cached copy, so after the first
 *   call no system call is made.
 * - A child created by fork() gets its own id: the cache is reset in the
 *   child (pthread_atfork), so logs of forked test children are not wrong.
 */
#ifndef MUDUO_BASE_CURRENT_THREAD_H
#define MUDUO_BASE_CURRENT_THREAD_H

#include <sys/types.h>

/** @brief The kernel thread id (gettid) of the calling thread. */
pid_t current_thread_tid(void);

#endif /* MUDUO_BASE_CURRENT_THREAD_H */
