/*
 * Connect faults for the client suites (chapter 5 on): a connect() that a
 * test can make fail with a chosen errno, so that every error class of the
 * connector can be tested without a network that produces it.
 *
 * Linked into every test program of the chapter, it defines connect() for
 * the whole program (the library is linked statically and calls it); while
 * no fault is armed it only passes each call on.
 */
#ifndef MUDUO_TESTS_CONNECT_FAULTS_H
#define MUDUO_TESTS_CONNECT_FAULTS_H

#include <stdbool.h>

/* The next @p count calls of connect() fail with @p err (a positive
 * errno). With @p really_connect, each of them first makes the real call,
 * so the socket is connecting all the same (what EINTR means for a
 * non-blocking socket); without it the call does nothing else. */
void connect_faults_arm(int err, int count, bool really_connect);

/* Faulty calls armed but not yet made. */
int connect_faults_pending(void);

/* Back to plain connect() calls. */
void connect_faults_disarm(void);

/* Every call is timed (CLOCK_MONOTONIC, as timestamp_mono_us()), faulty
 * or not: a test can see when each attempt began. Calls since the last
 * reset; the time of call @p i (0-based, i < CONNECT_FAULTS_TIMES). */
#define CONNECT_FAULTS_TIMES 256
void connect_faults_reset_calls(void);
int connect_faults_call_count(void);
long long connect_faults_call_time(int i);

#endif /* MUDUO_TESTS_CONNECT_FAULTS_H */
