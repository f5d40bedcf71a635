/*
 * What the chapter 3 exercise suites share, on top of
 * tests/ch03/lib/net_test.h: the server under test runs in the test's
 * loop, in the test's thread; clients are blocking sockets in client
 * threads.
 *
 * - Client reads that give up after REPLY_WAIT_MS instead of blocking
 *   forever: an answer that never replies fails with a message saying
 *   what was awaited, not with a hang. These waits only catch a server
 *   that does not answer at all; no test measures how fast it answers.
 * - run_loop_until_true(): the loop runs until a condition on the server
 *   holds (a count reached), for tests whose clients go in phases.
 * - tcp_buffer_max(): how much the kernel may hold in one socket's
 *   buffer on this machine, for the tests that must send more than that.
 *
 * Threads: the client_* functions run in client threads and report with
 * client_fail(), never ck_assert; the others run in the test's thread
 * and fail the test with ck_assert. Nothing here keeps state between
 * calls.
 */
#ifndef EXERCISES_CH03_EXERCISE_NET_H
#define EXERCISES_CH03_EXERCISE_NET_H

#include "net_test.h"

#include "net/event_loop.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

/* How long a client waits for each expected byte or end of file. */
#define REPLY_WAIT_MS 3000
/* How long a test waits for its client threads to finish. */
#define CLIENT_FINISH_MS 8000
/* Check kills a test that runs longer (a hang in the reader's answer). */
#define TEST_TIMEOUT_S 10

/* A test case with the fd guard and a timeout a few seconds long. */
TCase *exercise_tcase(const char *name);

/* The fd guard's check, at the end of a test's own body: a leaked fd
 * then fails the test itself, named in the list of what is missing, and
 * not only the guard's teardown. */
void expect_no_fd_left(void);

/* A fresh loop, or the test fails. */
struct event_loop *exercise_loop(void);

/* Writes text into out (cap >= 4 bytes) with "\n", "\r" and other
 * control bytes shown as escapes, so that a failure message shows what
 * really arrived; "..." ends what did not fit. Returns out. */
const char *show_bytes(const char *text, size_t len, char *out, size_t cap);

/* Waits until fd has something to read (bytes, end of file or an
 * error); fails the client after REPLY_WAIT_MS. after says what the
 * client sent last, for the message. */
bool client_wait_readable(struct client_thread *ct, int fd, const char *after);

/* Reads exactly len bytes, each within REPLY_WAIT_MS; fails the client on
 * an early end of file or a reset. */
bool client_read_within(struct client_thread *ct, int fd, char *buf, size_t len,
                        const char *after);

/* Reads strlen(expected) bytes and compares them with expected. */
bool client_expect(struct client_thread *ct, int fd, const char *expected,
                   const char *after);

/* Sends text, then expects the reply bytes. */
bool client_exchange(struct client_thread *ct, int fd, const char *text,
                     const char *reply);

/* Expects the end of the connection, in order: no more bytes, and end of
 * file rather than a reset (a reset can destroy the bytes the server sent
 * last before the client reads them). */
bool client_expect_eof(struct client_thread *ct, int fd, const char *after);

/* Reads and throws away bytes until the connection ends, by end of file
 * or by a reset; returns how many bytes came, or -1 (and fails the
 * client) when it stays open past REPLY_WAIT_MS without a byte. */
long client_drain_to_end(struct client_thread *ct, int fd, const char *after);

/* A condition the loop waits for, checked in the loop thread. */
typedef bool exercise_condition_fn(void *arg);

/* Runs the loop until done(arg) holds (checked every millisecond); fails
 * the test after CLIENT_FINISH_MS, saying that it waited for what. */
void run_loop_until_true(struct event_loop *loop, exercise_condition_fn *done,
                         void *arg, const char *what);

/* The most the kernel lets a TCP socket's send buffer grow to (the last
 * figure of /proc/sys/net/ipv4/tcp_wmem), in bytes; 0 when it cannot be
 * read. A test that needs bytes to queue in the server, past what the
 * kernel holds for a connection whose client reads little (its receive
 * buffer fixed small), sends a multiple of it. */
size_t tcp_buffer_max(void);

#endif /* EXERCISES_CH03_EXERCISE_NET_H */
