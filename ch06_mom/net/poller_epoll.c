/* The epoll backend: level-triggered, one epoll_event per ready channel,
 * and the channel pointer itself as the event's user data. */
#include "net/poller.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/log.h"
#include "net/channel.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Channels speak poll(2)'s event bits, and this backend hands them to
 * epoll unchanged, in both directions: Linux gives the EPOLL* bits the
 * same values as the POLL* ones. The build checks that this holds. */
_Static_assert(EPOLLIN == POLLIN && EPOLLPRI == POLLPRI &&
                   EPOLLOUT == POLLOUT && EPOLLERR == POLLERR &&
                   EPOLLHUP == POLLHUP && EPOLLRDHUP == POLLRDHUP,
               "epoll and poll event bits differ");

/* channel->poller_slot values. A channel with no interest is taken out of
 * the epoll set (DETACHED) rather than left in with an empty mask, because
 * epoll reports EPOLLHUP and EPOLLERR even for an empty mask. */
enum { SLOT_UNKNOWN = -1, SLOT_ADDED = 1, SLOT_DETACHED = 2 };

/* First size of the event array; it grows with the loop's ready list. */
#define EPOLL_INITIAL_EVENTS ARRAY_MIN_CAPACITY

struct epoll_poller {
    struct poller base;
    int epfd;
    struct epoll_event *events;
    size_t capacity;
};

static struct epoll_poller *as_epoll(struct poller *p)
{
    return (struct epoll_poller *)p;
}

static int epoll_poller_poll(struct poller *p, int timeout_ms,
                             struct channel **ready, int max)
{
    struct epoll_poller *ep = as_epoll(p);
    struct epoll_event *events =
        array_reserve(ep->events, &ep->capacity, (size_t)max, sizeof *events);
    if (events != NULL) /* if not, wait with the array we have */
        ep->events = events;
    if ((size_t)max > ep->capacity)
        max = (int)ep->capacity;
    int n = epoll_wait(ep->epfd, ep->events, max, timeout_ms);
    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        struct channel *ch = ep->events[i].data.ptr;
        ch->revents = (int)ep->events[i].events;
        ready[i] = ch;
    }
    return n;
}

static int epoll_control(struct epoll_poller *ep, int op, struct channel *ch)
{
    struct epoll_event ev = {.events = (uint32_t)ch->events,
                             .data.ptr = ch};
    return epoll_ctl(ep->epfd, op, ch->fd, &ev) < 0 ? -errno : 0;
}

static int epoll_poller_update(struct poller *p, struct channel *ch)
{
    struct epoll_poller *ep = as_epoll(p);
    bool none = ch->events == CHANNEL_EVENT_NONE;
    int err;
    if (ch->poller_slot == SLOT_ADDED) {
        if (!none)
            return epoll_control(ep, EPOLL_CTL_MOD, ch);
        err = epoll_control(ep, EPOLL_CTL_DEL, ch);
        if (err != 0) /* most likely the fd was closed before this */
            log_error("epoll_ctl DEL fd %d: %s", ch->fd, log_strerror(-err));
        /* Either way the kernel no longer watches it for this channel, so
         * the new (empty) interest stands: report success. */
        ch->poller_slot = SLOT_DETACHED;
        return 0;
    }
    if (none)
        return 0; /* unknown or detached, and nothing to watch */
    err = epoll_control(ep, EPOLL_CTL_ADD, ch);
    if (err != 0)
        return err;
    if (ch->poller_slot == SLOT_UNKNOWN)
        p->channels++;
    ch->poller_slot = SLOT_ADDED;
    return 0;
}

static void epoll_poller_remove(struct poller *p, struct channel *ch)
{
    if (ch->poller_slot == SLOT_UNKNOWN)
        return;
    if (ch->poller_slot == SLOT_ADDED) {
        int err = epoll_control(as_epoll(p), EPOLL_CTL_DEL, ch);
        if (err != 0) /* most likely the fd was closed before removal */
            log_error("epoll_ctl DEL fd %d: %s", ch->fd, log_strerror(-err));
    }
    ch->poller_slot = SLOT_UNKNOWN;
    p->channels--;
}

static void epoll_poller_free(struct poller *p)
{
    struct epoll_poller *ep = as_epoll(p);
    ASSERT(p->channels == 0);
    close(ep->epfd);
    free(ep->events);
    free(ep);
}

static const struct poller_ops epoll_ops = {
    .name = "epoll",
    .poll = epoll_poller_poll,
    .update = epoll_poller_update,
    .remove = epoll_poller_remove,
    .free = epoll_poller_free,
};

struct poller *poller_epoll_new(void)
{
    struct epoll_poller *ep = calloc(1, sizeof *ep);
    if (ep == NULL)
        return NULL;
    ep->events = array_reserve(NULL, &ep->capacity, EPOLL_INITIAL_EVENTS,
                               sizeof *ep->events);
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->events == NULL || ep->epfd < 0) {
        int err = ep->events == NULL ? ENOMEM : errno;
        if (ep->epfd >= 0)
            close(ep->epfd);
        free(ep->events);
        free(ep);
        errno = err;
        return NULL;
    }
    ep->base.ops = &epoll_ops;
    return &ep->base;
}
