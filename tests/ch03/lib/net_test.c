#include "net_test.h"

#include "base/timestamp.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void client_fail(struct client_thread *ct, const char *fmt, ...)
{
    if (ct->error[0] != '\0')
        return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ct->error, sizeof ct->error, fmt, ap);
    va_end(ap);
}

static void *client_main(void *arg)
{
    struct client_thread *ct = arg;
    ct->fn(ct);
    (void)!write(ct->done_pipe[1], "x", 1);
    return NULL;
}

static void on_done(struct channel *ch, int64_t t, void *ctx)
{
    struct client_thread *ct = ctx;
    (void)t;
    char byte;
    if (read(ch->fd, &byte, 1) == 1) /* once: stop watching after */
        ct->finished = true;
    (void)channel_disable_reading(ch);
    event_loop_quit(ch->loop);
}

void client_thread_start(struct client_thread *ct, struct event_loop *loop,
                         const struct inet_address *server,
                         void (*fn)(struct client_thread *ct), void *arg)
{
    ct->fn = fn;
    ct->arg = arg;
    ct->server = *server;
    ct->loop = loop;
    ct->finished = false;
    ct->error[0] = '\0';
    ck_assert_int_eq(pipe2(ct->done_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    channel_init(&ct->done, loop, ct->done_pipe[0], ct);
    channel_set_read_fn(&ct->done, on_done);
    ck_assert_int_eq(channel_enable_reading(&ct->done), 0);
    ck_assert_int_eq(pthread_create(&ct->thread, NULL, client_main, ct), 0);
}

static void client_timeout(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)id;
    (void)ctx;
    ck_abort_msg("client thread did not finish in time");
}

void client_thread_finish(struct client_thread *ct, int timeout_ms)
{
    uint64_t dog = event_loop_run_after(ct->loop, (int64_t)timeout_ms * 1000,
                                        client_timeout, ct);
    ck_assert_uint_ne(dog, 0);
    while (!ct->finished) /* another client thread's end also quits the loop */
        ck_assert_int_eq(event_loop_run(ct->loop), 0);
    event_loop_cancel_timer(ct->loop, dog);
    ck_assert_int_eq(pthread_join(ct->thread, NULL), 0);
    channel_remove(&ct->done);
    channel_destroy(&ct->done);
    test_close(ct->done_pipe[0]);
    test_close(ct->done_pipe[1]);
    ck_assert_msg(ct->error[0] == '\0', "client: %s", ct->error);
}

struct wait_for {
    const int *counter;
    int target;
    int64_t deadline;
};

static void check_counter(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct wait_for *w = ctx;
    (void)id;
    if (*w->counter >= w->target)
        event_loop_quit(loop);
    else
        ck_assert_msg(timestamp_mono_us() < w->deadline,
                      "waited too long: %d of %d", *w->counter, w->target);
}

void run_loop_until(struct event_loop *loop, const int *counter, int target,
                    int timeout_ms)
{
    if (*counter >= target)
        return;
    struct wait_for w = {counter, target,
                         timestamp_mono_us() + (int64_t)timeout_ms * 1000};
    uint64_t id = event_loop_run_every(loop, 1000, check_counter, &w);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
}

static int connect_with_rcvbuf(struct client_thread *ct, int rcvbuf)
{
    int fd = socket(inet_address_family(&ct->server),
                    SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        client_fail(ct, "socket: %s", strerror(errno));
        return -1;
    }
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    socklen_t len;
    const struct sockaddr *sa = inet_address_sockaddr(&ct->server, &len);
    if (connect(fd, sa, len) != 0) {
        client_fail(ct, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int client_connect(struct client_thread *ct)
{
    return connect_with_rcvbuf(ct, 0);
}

int client_connect_small_rcvbuf(struct client_thread *ct)
{
    return connect_with_rcvbuf(ct, 16384);
}

bool client_write_all(struct client_thread *ct, int fd, const void *buf,
                      size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            client_fail(ct, "write: %s", strerror(errno));
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool client_read_exact(struct client_thread *ct, int fd, void *buf,
                       size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            client_fail(ct, "read: %s", n == 0 ? "early end of file"
                                               : strerror(errno));
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

long client_read_to_eof(struct client_thread *ct, int fd, char *buf,
                        size_t cap)
{
    size_t got = 0;
    for (;;) {
        char scratch[65536];
        char *into = got < cap ? buf + got : scratch;
        size_t room = got < cap ? cap - got : sizeof scratch;
        ssize_t n = read(fd, into, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            client_fail(ct, "read: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            return (long)got;
        got += (size_t)n;
    }
}

bool client_expect_closed(struct client_thread *ct, int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r <= 0) {
        client_fail(ct, "connection not closed within %d ms", timeout_ms);
        return false;
    }
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return true;
    client_fail(ct, "expected the connection closed, read returned %zd", n);
    return false;
}

void fill_pattern(char *buf, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 24);
    }
}

struct tcp_server *start_test_server(struct event_loop *loop,
                                     const struct tcp_callbacks *cb,
                                     bool ipv6, struct inet_address *addr)
{
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, ipv6);
    struct tcp_server *server = tcp_server_new(loop, &any_port, "test", 0);
    ck_assert_msg(server != NULL, "tcp_server_new: %s", strerror(errno));
    tcp_server_set_callbacks(server, cb);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, addr), 0);
    ck_assert_uint_ne(inet_address_port(addr), 0);
    return server;
}
