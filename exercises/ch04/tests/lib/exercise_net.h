/*
 * What the chapter 4 server exercise suites share, on top of
 * tests/ch03/lib/net_test.h: the server under test runs in the test's
 * loop (the base loop, in the test's thread) and its own threads;
 * clients are blocking sockets in client threads.
 *
 * - The hang guard: how long a test waits for what should happen at
 *   once (a reply, a close) before it calls it a hang and fails with a
 *   message. It only turns a hang into a message: nothing is timed.
 *   It grows under ThreadSanitizer and valgrind, which are slow.
 * - run_until(): the base loop serves until a counter that other threads
 *   raise reaches a target.
 * - struct line_conn: a client connection that speaks lines, every read
 *   and write of which gives up after the hang guard.
 *
 * Threads: new_loop() and run_until() run in the test's thread and fail
 * the test with ck_assert; the line_conn functions run in client threads
 * and report with client_fail(), never ck_assert. A line_conn belongs to
 * the client thread that opened it.
 */
#ifndef EXERCISES_CH04_EXERCISE_NET_H
#define EXERCISES_CH04_EXERCISE_NET_H

#include "net_test.h"

#include "net/event_loop.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Sanitizer builds are several times slower: the hang guard grows with
 * them. This header and its .c are compiled with the same flags. */
#if defined(__SANITIZE_THREAD__)
#define SLOWDOWN 5
#else
#define SLOWDOWN 1
#endif
/* The hang guard of a native or ThreadSanitizer run. */
#define HANG_GUARD_MS (3000 * SLOWDOWN)
/* Check kills a test that runs longer (forked runs). */
#define TEST_TIMEOUT_S (10 * SLOWDOWN)

/* The hang guard, in ms: HANG_GUARD_MS, ten times that under valgrind. */
int hang_guard_ms(void);

/* A fresh loop, or the test fails. */
struct event_loop *new_loop(void);

/* Runs the base loop (which accepts) until *flag >= target, checked
 * every millisecond; fails the test after the hang guard, saying that it
 * waited for what. */
void run_until(struct event_loop *loop, atomic_int *flag, int target,
               const char *what);

/* A blocking client connection that reads lines. */
struct line_conn {
    int fd; /* -1 once closed */
    /* What a read that gets nothing within the hang guard calls it in
     * its message: "no reply", as open_conn() sets it, or "nothing" for
     * a connection that waits for lines that others send. */
    const char *silence;
    size_t len; /* bytes of buf read but not yet taken as a line */
    char buf[8192];
};

/* Connects to the client thread's server, with the hang guard on every
 * read and write. */
bool open_conn(struct client_thread *ct, struct line_conn *c);

/* Writes all of text. */
bool send_text(struct client_thread *ct, struct line_conn *c, const char *text);

/* The next line, without its '\n', into line (NUL-terminated, cut at
 * cap). waiting_for says what the line should be, for the message when
 * none comes. */
bool read_line(struct client_thread *ct, struct line_conn *c, char *line,
               size_t cap, const char *waiting_for);

/* Reads a reply line and compares it with want; after says what it
 * replies to. Lines up to 255 bytes. */
bool expect_line(struct client_thread *ct, struct line_conn *c,
                 const char *want, const char *after);

/* True when the server closes the connection (end of file or reset),
 * whatever it sends first; why says what should have closed it. */
bool expect_closed(struct client_thread *ct, struct line_conn *c,
                   const char *why);

/* Closes the connection if it is still open. */
void close_conn(struct line_conn *c);

/* Closes with a reset (SO_LINGER 0): the server hears it at once. */
void reset_conn(struct line_conn *c);

#endif /* EXERCISES_CH04_EXERCISE_NET_H */
