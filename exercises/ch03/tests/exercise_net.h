/*
 * What the chapter 3 exercise suites share, on top of
 * tests/ch03/lib/net_test.h (the server runs in the test's loop, clients
 * in client threads).
 *
 * - Client reads that give up after REPLY_WAIT_MS instead of blocking
 *   forever: an answer that never replies fails with a message saying
 *   what was awaited, not with a hang. These waits only catch a server
 *   that does not answer at all; no test measures how fast it answers.
 * - run_loop_until_true(): the loop runs until a condition on the server
 *   holds (a count reached), for tests whose clients go in phases.
 *
 * Static functions in a header: each suite is one program built from its
 * own file and uses only some of them.
 */
#ifndef EXERCISES_CH03_EXERCISE_NET_H
#define EXERCISES_CH03_EXERCISE_NET_H

#include "net_test.h"

#include "base/timestamp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a client waits for each expected byte or end of file. */
#define REPLY_WAIT_MS 3000
/* How long a test waits for its client threads to finish. */
#define CLIENT_FINISH_MS 8000
/* Check kills a test that runs longer (a hang in the reader's answer). */
#define TEST_TIMEOUT_S 10

/* A test case with the fd guard and a timeout a few seconds long. */
static inline TCase *exercise_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    return tc;
}

/* The fd guard's check, at the end of a test's own body: a leaked fd
 * then fails the test itself, named in the list of what is missing, and
 * not only the guard's teardown. */
static inline void expect_no_fd_left(void)
{
    fd_guard_check();
}

/* A fresh loop, or the test fails. */
static inline struct event_loop *exercise_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* Writes text into out (cap >= 4 bytes) with "\n", "\r" and other
 * control bytes shown as escapes, so that a failure message shows what
 * really arrived; "..." ends what did not fit. */
static inline const char *show_bytes(const char *text, size_t len, char *out,
                                     size_t cap)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char one[8];
        if (c == '\n')
            snprintf(one, sizeof one, "\\n");
        else if (c == '\r')
            snprintf(one, sizeof one, "\\r");
        else if (c < 32 || c > 126)
            snprintf(one, sizeof one, "\\x%02x", c);
        else
            snprintf(one, sizeof one, "%c", c);
        size_t w = strlen(one);
        if (used + w + 4 > cap) { /* room for "..." and the NUL */
            snprintf(out + used, cap - used, "...");
            return out;
        }
        memcpy(out + used, one, w);
        used += w;
    }
    out[used] = '\0';
    return out;
}

/* Waits until fd has something to read (bytes, end of file or an
 * error); fails the client after REPLY_WAIT_MS. */
static inline bool client_wait_readable(struct client_thread *ct, int fd,
                                        const char *after)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, REPLY_WAIT_MS);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return true;
    if (n == 0)
        client_fail(ct, "after %s: nothing came back within %d ms", after,
                    REPLY_WAIT_MS);
    else
        client_fail(ct, "poll: %s", strerror(errno));
    return false;
}

/* Reads exactly len bytes, each within REPLY_WAIT_MS; fails the client on
 * an early end of file or a reset. */
static inline bool client_read_within(struct client_thread *ct, int fd,
                                      char *buf, size_t len,
                                      const char *after)
{
    size_t got = 0;
    while (got < len) {
        if (!client_wait_readable(ct, fd, after))
            return false;
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            const char *what = n == 0 ? "the connection ended"
                                      : strerror(errno);
            char shown[128];
            if (got == 0)
                client_fail(ct, "after %s: %s instead of a reply", after,
                            what);
            else
                client_fail(ct, "after %s: %s after %zu of %zu bytes ('%s')",
                            after, what, got, len,
                            show_bytes(buf, got, shown, sizeof shown));
            return false;
        }
        got += (size_t)n;
    }
    return true;
}

/* Reads strlen(expected) bytes and compares them with expected. */
static inline bool client_expect(struct client_thread *ct, int fd,
                                 const char *expected, const char *after)
{
    size_t len = strlen(expected);
    char *got = malloc(len + 1);
    if (got == NULL) /* client threads may not use ck_assert */
        abort();
    if (!client_read_within(ct, fd, got, len, after)) {
        free(got);
        return false;
    }
    bool same = memcmp(got, expected, len) == 0;
    if (!same) {
        char want_shown[256], got_shown[256];
        client_fail(ct, "after %s: expected '%s', got '%s'", after,
                    show_bytes(expected, len, want_shown, sizeof want_shown),
                    show_bytes(got, len, got_shown, sizeof got_shown));
    }
    free(got);
    return same;
}

/* Sends text, then expects the reply bytes. */
static inline bool client_exchange(struct client_thread *ct, int fd,
                                   const char *text, const char *reply)
{
    char shown[128];
    show_bytes(text, strlen(text), shown, sizeof shown);
    return client_write_all(ct, fd, text, strlen(text)) &&
           client_expect(ct, fd, reply, shown);
}

/* Expects the end of the connection, in order: no more bytes, and end of
 * file rather than a reset (a reset can destroy the bytes the server sent
 * last before the client reads them). */
static inline bool client_expect_eof(struct client_thread *ct, int fd,
                                     const char *after)
{
    char c;
    ssize_t n;
    do {
        if (!client_wait_readable(ct, fd, after))
            return false;
        n = read(fd, &c, 1);
    } while (n < 0 && (errno == EINTR || errno == EAGAIN));
    if (n == 0)
        return true;
    if (n > 0) {
        char shown[16];
        client_fail(ct, "after %s: expected the end of the connection, got "
                        "more bytes ('%s'...)",
                    after, show_bytes(&c, 1, shown, sizeof shown));
    } else if (errno == ECONNRESET) {
        client_fail(ct, "after %s: the connection was reset instead of "
                        "closed in order (force-closed with input unread?)",
                    after);
    } else {
        client_fail(ct, "after %s: read: %s", after, strerror(errno));
    }
    return false;
}

/* Reads and throws away bytes until the connection ends, by end of file
 * or by a reset; returns how many bytes came, or -1 (and fails the
 * client) when it stays open past REPLY_WAIT_MS without a byte. */
static inline long client_drain_to_end(struct client_thread *ct, int fd,
                                       const char *after)
{
    long total = 0;
    for (;;) {
        if (!client_wait_readable(ct, fd, after))
            return -1;
        char scratch[65536];
        ssize_t n = read(fd, scratch, sizeof scratch);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return total;
        if (n < 0) {
            client_fail(ct, "after %s: read: %s", after, strerror(errno));
            return -1;
        }
        total += n;
    }
}

/* A condition the loop waits for, checked in the loop thread. */
typedef bool exercise_condition_fn(void *arg);

struct exercise_wait {
    exercise_condition_fn *done;
    void *arg;
    int64_t deadline_us;
    const char *what;
};

static inline void exercise_check_condition(struct event_loop *loop,
                                            uint64_t id, void *ctx)
{
    struct exercise_wait *w = ctx;
    (void)id;
    if (w->done(w->arg))
        event_loop_quit(loop);
    else
        ck_assert_msg(timestamp_mono_us() < w->deadline_us,
                      "waited %d ms for %s", CLIENT_FINISH_MS, w->what);
}

/* Runs the loop until done(arg) holds (checked every millisecond); fails
 * the test after CLIENT_FINISH_MS, saying that it waited for what. */
static inline void run_loop_until_true(struct event_loop *loop,
                                       exercise_condition_fn *done, void *arg,
                                       const char *what)
{
    if (done(arg))
        return;
    struct exercise_wait w = {
        done, arg, timestamp_mono_us() + (int64_t)CLIENT_FINISH_MS * 1000,
        what};
    uint64_t id = event_loop_run_every(loop, 1000, exercise_check_condition,
                                       &w);
    ck_assert_uint_ne(id, 0);
    while (!done(arg)) /* a client thread's end also quits the loop */
        ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
}

#endif /* EXERCISES_CH03_EXERCISE_NET_H */
