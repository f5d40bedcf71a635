/* What the chapter 3 exercise suites share: see exercise_net.h. */
#include "exercise_net.h"

#include "base/timestamp.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TCase *exercise_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    return tc;
}

void expect_no_fd_left(void)
{
    fd_guard_check();
}

struct event_loop *exercise_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

const char *show_bytes(const char *text, size_t len, char *out, size_t cap)
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

bool client_wait_readable(struct client_thread *ct, int fd, const char *after)
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

bool client_read_within(struct client_thread *ct, int fd, char *buf, size_t len,
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
            const char *what =
                n == 0 ? "the connection ended" : strerror(errno);
            if (got == 0) {
                client_fail(ct, "after %s: %s instead of a reply", after, what);
            } else {
                char shown[128];
                client_fail(ct, "after %s: %s after %zu of %zu bytes ('%s')",
                            after, what, got, len,
                            show_bytes(buf, got, shown, sizeof shown));
            }
            return false;
        }
        got += (size_t)n;
    }
    return true;
}

bool client_expect(struct client_thread *ct, int fd, const char *expected,
                   const char *after)
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

bool client_exchange(struct client_thread *ct, int fd, const char *text,
                     const char *reply)
{
    char shown[128];
    show_bytes(text, strlen(text), shown, sizeof shown);
    return client_write_all(ct, fd, text, strlen(text)) &&
           client_expect(ct, fd, reply, shown);
}

bool client_expect_eof(struct client_thread *ct, int fd, const char *after)
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
        client_fail(ct,
                    "after %s: expected the end of the connection, got "
                    "more bytes ('%s'...)",
                    after, show_bytes(&c, 1, shown, sizeof shown));
    } else if (errno == ECONNRESET) {
        client_fail(ct,
                    "after %s: the connection was reset instead of "
                    "closed in order (force-closed with input unread?)",
                    after);
    } else {
        client_fail(ct, "after %s: read: %s", after, strerror(errno));
    }
    return false;
}

long client_drain_to_end(struct client_thread *ct, int fd, const char *after)
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

/* run_loop_until_true()'s wait: its timer checks it every millisecond. */
struct exercise_wait {
    exercise_condition_fn *done;
    void *arg;
    int64_t deadline_us;
    const char *what;
};

static void exercise_check_condition(struct event_loop *loop, uint64_t id,
                                     void *ctx)
{
    struct exercise_wait *w = ctx;
    (void)id;
    if (w->done(w->arg))
        event_loop_quit(loop);
    else
        ck_assert_msg(timestamp_mono_us() < w->deadline_us,
                      "waited %d ms for %s", CLIENT_FINISH_MS, w->what);
}

void run_loop_until_true(struct event_loop *loop, exercise_condition_fn *done,
                         void *arg, const char *what)
{
    if (done(arg))
        return;
    struct exercise_wait w = {
        done, arg, timestamp_mono_us() + (int64_t)CLIENT_FINISH_MS * 1000,
        what};
    uint64_t id =
        event_loop_run_every(loop, 1000, exercise_check_condition, &w);
    ck_assert_uint_ne(id, 0);
    while (!done(arg)) /* a client thread's end also quits the loop */
        ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
}

/* The third figure of a tcp_wmem file, or 0. */
static size_t tcp_buffer_limit(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    unsigned long min, initial, max;
    int n = fscanf(f, "%lu %lu %lu", &min, &initial, &max);
    fclose(f);
    return n == 3 ? (size_t)max : 0;
}

size_t tcp_buffer_max(void)
{
    /* The clients that must not take it all fix their receive buffer
     * small, so the server's send buffer is what the kernel can hold. */
    return tcp_buffer_limit("/proc/sys/net/ipv4/tcp_wmem");
}
