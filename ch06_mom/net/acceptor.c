#include "net/acceptor.h"

#include "base/assertion.h"
#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop_internal.h"
#include "net/sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct acceptor {
    struct event_loop *loop;
    struct channel channel;
    int listen_fd; /* -1 once acceptor_free() began */
    int idle_fd;   /* -1 when it could not be reopened */
    bool listening;
    uint64_t backoff_timer; /* 0 when not backing off */
    uint64_t shed;
    acceptor_fn *fn;
    void *ctx;
};

static int open_idle_fd(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void resume_listening(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct acceptor *a = ctx;
    (void)loop;
    (void)id;
    a->backoff_timer = 0;
    if (a->idle_fd < 0)
        a->idle_fd = open_idle_fd();
    if (channel_enable_reading(&a->channel) != 0)
        log_error("acceptor: cannot resume listening");
}

/* Out of fds: use the spare one to accept the waiting connection and close
 * it, so that the listening socket is no longer readable. */
static void shed_one_connection(struct acceptor *a)
{
    if (a->idle_fd < 0) {
        /* Nothing to trade: stop listening for a while instead of
         * spinning, and try to get the spare fd back then. Without even a
         * timer, keep listening: better a busy round than a dead port. */
        a->backoff_timer = event_loop_run_after(a->loop, ACCEPTOR_BACKOFF_US,
                                                resume_listening, a);
        if (a->backoff_timer == 0)
            return; /* not even a timer: the next round tries again */
        log_error("acceptor: out of fds and no spare one; pausing accept");
        (void)channel_disable_reading(&a->channel);
        return;
    }
    close(a->idle_fd);
    int fd = sockets_accept(a->listen_fd, NULL);
    if (fd >= 0) {
        close(fd);
        a->shed++;
        log_warn("acceptor: out of fds; connection closed at once");
    }
    a->idle_fd = open_idle_fd();
}

/* Whether a connection is waiting to be accepted: a poll() with no wait,
 * which needs no new fd. */
static bool connection_waiting(const struct acceptor *a)
{
    struct pollfd pfd = {.fd = a->listen_fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void on_readable(struct channel *ch, int64_t receive_time_us,
                        void *ctx)
{
    struct acceptor *a = ctx;
    (void)ch;
    (void)receive_time_us;
    /* A few at a time: level-triggered, so what is left comes back. */
    for (int i = 0; i < ACCEPTOR_BATCH && a->listen_fd >= 0; i++) {
        struct inet_address peer;
        int fd = sockets_accept(a->listen_fd, &peer);
        if (fd >= 0) {
            a->fn(a, fd, &peer, a->ctx); /* may free the acceptor */
            continue;
        }
        switch (-fd) {
        case EAGAIN:
            return;
        case EMFILE:
        case ENFILE:
            /* accept() fails so even with nobody waiting, so look first;
             * then shed one: what is left comes back next round. */
            if (connection_waiting(a))
                shed_one_connection(a);
            return;
        case ECONNABORTED: /* the peer gave up while waiting: next one */
        case EINTR:
        case EPROTO:
        case EPERM: /* refused by a firewall rule */
            break;
        default:
            log_error("acceptor: accept: %s", log_strerror(-fd));
            return;
        }
    }
}

struct acceptor *acceptor_new(struct event_loop *loop,
                              const struct inet_address *addr,
                              bool reuse_port, acceptor_fn *fn, void *ctx)
{
    struct acceptor *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->loop = loop;
    a->fn = fn;
    a->ctx = ctx;
    a->listen_fd = sockets_create_nonblocking(inet_address_family(addr));
    a->idle_fd = open_idle_fd();
    int err = a->listen_fd < 0 ? a->listen_fd : 0;
    if (err == 0 && a->idle_fd < 0)
        err = -errno;
    if (err == 0)
        err = sockets_set_reuse_addr(a->listen_fd, true);
    if (err == 0 && reuse_port)
        err = sockets_set_reuse_port(a->listen_fd, true);
    if (err == 0)
        err = sockets_bind(a->listen_fd, addr);
    if (err != 0) {
        if (a->listen_fd >= 0)
            close(a->listen_fd);
        if (a->idle_fd >= 0)
            close(a->idle_fd);
        free(a);
        errno = -err;
        return NULL;
    }
    channel_init(&a->channel, loop, a->listen_fd, a);
    channel_set_read_fn(&a->channel, on_readable);
    return a;
}

int acceptor_listen(struct acceptor *a)
{
    event_loop_assert_in_loop_thread(a->loop);
    if (a->listening)
        return 0;
    int err = sockets_listen(a->listen_fd);
    if (err == 0)
        err = channel_enable_reading(&a->channel);
    if (err == 0)
        a->listening = true;
    return err;
}

bool acceptor_listening(const struct acceptor *a)
{
    return a->listening;
}

int acceptor_local_address(const struct acceptor *a,
                           struct inet_address *addr)
{
    return sockets_local_address(a->listen_fd, addr);
}

uint64_t acceptor_shed_count(const struct acceptor *a)
{
    return a->shed;
}

static void free_later(struct event_loop *loop, void *ctx)
{
    struct acceptor *a = ctx;
    (void)loop;
    channel_destroy(&a->channel);
    free(a);
}

void acceptor_free(struct acceptor *a)
{
    if (a == NULL)
        return;
    event_loop_assert_in_loop_thread(a->loop);
    event_loop_cancel_timer(a->loop, a->backoff_timer);
    /* The fds go now (a port in use is released at once); the memory
     * waits if this runs inside the acceptor's own callback, whose
     * channel is still being dispatched. */
    channel_remove(&a->channel);
    close(a->listen_fd);
    a->listen_fd = -1;
    if (a->idle_fd >= 0)
        close(a->idle_fd);
    a->idle_fd = -1;
    if (!event_loop_is_dispatching(a->loop, &a->channel)) {
        free_later(a->loop, a);
    } else if (event_loop_queue(a->loop, free_later, a) != 0) {
        log_error("acceptor: cannot defer its free; leaking %zu bytes",
                  sizeof *a);
    }
}
