/* What the chapter 4 server exercise suites share: see exercise_net.h. */
#include "exercise_net.h"

#include "base/timestamp.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int hang_guard_ms(void)
{
    return test_under_valgrind() ? 10 * HANG_GUARD_MS : HANG_GUARD_MS;
}

struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* run_until()'s wait: its timer checks it every millisecond. */
struct flag_wait {
    atomic_int *flag;
    int target;
    int64_t deadline_us;
    bool late;
};

static void check_flag(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct flag_wait *w = ctx;
    (void)id;
    if (atomic_load(w->flag) >= w->target) {
        event_loop_quit(loop);
    } else if (timestamp_mono_us() >= w->deadline_us) {
        w->late = true;
        event_loop_quit(loop);
    }
}

void run_until(struct event_loop *loop, atomic_int *flag, int target,
               const char *what)
{
    struct flag_wait w = {
        flag, target, timestamp_mono_us() + hang_guard_ms() * 1000LL, false};
    uint64_t id = event_loop_run_every(loop, 1000, check_flag, &w);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
    ck_assert_msg(!w.late, "waited %d ms for %s: %d of %d", hang_guard_ms(),
                  what, atomic_load(flag), target);
}

bool open_conn(struct client_thread *ct, struct line_conn *c)
{
    c->len = 0;
    c->silence = "no reply";
    c->fd = client_connect(ct);
    if (c->fd < 0)
        return false;
    /* A read or write blocked past the hang guard fails with EAGAIN: that
     * is how a server that never answers becomes a message. */
    int ms = hang_guard_ms();
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

bool send_text(struct client_thread *ct, struct line_conn *c, const char *text)
{
    return client_write_all(ct, c->fd, text, strlen(text));
}

bool read_line(struct client_thread *ct, struct line_conn *c, char *line,
               size_t cap, const char *waiting_for)
{
    for (;;) {
        char *eol = memchr(c->buf, '\n', c->len);
        if (eol != NULL) {
            size_t n = (size_t)(eol - c->buf);
            snprintf(line, cap, "%.*s", (int)n, c->buf);
            memmove(c->buf, eol + 1, c->len - n - 1);
            c->len -= n + 1;
            return true;
        }
        if (c->len == sizeof c->buf) {
            client_fail(ct,
                        "a line longer than %zu bytes while waiting for "
                        "%s",
                        sizeof c->buf, waiting_for);
            return false;
        }
        ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got > 0) {
            c->len += (size_t)got;
            continue;
        }
        if (got == 0)
            client_fail(ct, "the server closed the connection; expected %s",
                        waiting_for);
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            client_fail(ct, "%s within %d ms; expected %s", c->silence,
                        hang_guard_ms(), waiting_for);
        else
            client_fail(ct, "read: %s; expected %s", strerror(errno),
                        waiting_for);
        return false;
    }
}

bool expect_line(struct client_thread *ct, struct line_conn *c,
                 const char *want, const char *after)
{
    char line[256], what[320];
    snprintf(what, sizeof what, "\"%s\" (the reply to %s)", want, after);
    if (!read_line(ct, c, line, sizeof line, what))
        return false;
    if (strcmp(line, want) != 0) {
        client_fail(ct, "got \"%s\", expected %s", line, what);
        return false;
    }
    return true;
}

bool expect_closed(struct client_thread *ct, struct line_conn *c,
                   const char *why)
{
    char scratch[4096];
    for (;;) {
        ssize_t got = read(c->fd, scratch, sizeof scratch);
        if (got > 0 || (got < 0 && errno == EINTR))
            continue;
        if (got == 0 || errno == ECONNRESET)
            return true;
        client_fail(ct,
                    "the server did not close the connection after %s "
                    "(%s)",
                    why,
                    errno == EAGAIN ? "still open after the hang guard"
                                    : strerror(errno));
        return false;
    }
}

void close_conn(struct line_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void reset_conn(struct line_conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close_conn(c);
}
