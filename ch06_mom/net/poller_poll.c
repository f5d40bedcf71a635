/* The poll(2) backend: one pollfd per known channel, in an array that
 * poll() scans in full each round (O(channels), where epoll is
 * O(ready)). */
#include "net/poller.h"

#include "base/array.h"
#include "base/assertion.h"
#include "net/channel.h"

#include <errno.h>
#include <stdlib.h>

struct poll_poller {
    struct poller base;
    struct pollfd *fds;        /* fds[i] watches channels[i]->fd */
    struct channel **channels; /* channels[i]->poller_slot == i */
    int len;
    size_t fds_capacity;
    size_t channels_capacity;
};

static struct poll_poller *as_poll(struct poller *p)
{
    return (struct poll_poller *)p;
}

static int poll_poller_poll(struct poller *p, int timeout_ms,
                            struct channel **ready, int max)
{
    struct poll_poller *pp = as_poll(p);
    int n = poll(pp->fds, (nfds_t)pp->len, timeout_ms);
    if (n < 0)
        return -errno;
    int found = 0;
    for (int i = 0; i < pp->len && found < n && found < max; i++) {
        if (pp->fds[i].revents == 0)
            continue;
        struct channel *ch = pp->channels[i];
        ch->revents = pp->fds[i].revents;
        ready[found++] = ch;
    }
    return found;
}

/* A channel with no interest keeps its slot but with a negative fd, which
 * poll() skips: it would otherwise still report POLLHUP and POLLERR.
 * -fd - 1 is negative even for fd 0. */
static void fill_pollfd(struct pollfd *pfd, const struct channel *ch)
{
    pfd->fd = ch->events == CHANNEL_EVENT_NONE ? -ch->fd - 1 : ch->fd;
    pfd->events = (short)ch->events;
    pfd->revents = 0;
}

/* Room for one more entry in both arrays. If only the first grows, it
 * simply has room to spare next time. */
static int reserve_slot(struct poll_poller *pp)
{
    size_t need = (size_t)pp->len + 1;
    struct pollfd *fds =
        array_reserve(pp->fds, &pp->fds_capacity, need, sizeof *fds);
    if (fds == NULL)
        return -ENOMEM;
    pp->fds = fds;
    struct channel **channels =
        array_reserve(pp->channels, &pp->channels_capacity, need,
                      sizeof(struct channel *));
    if (channels == NULL)
        return -ENOMEM;
    pp->channels = channels;
    return 0;
}

static int poll_poller_update(struct poller *p, struct channel *ch)
{
    struct poll_poller *pp = as_poll(p);
    if (ch->poller_slot >= 0) {
        ASSERT(pp->channels[ch->poller_slot] == ch);
        fill_pollfd(&pp->fds[ch->poller_slot], ch);
        return 0;
    }
    if (ch->events == CHANNEL_EVENT_NONE)
        return 0;
    int err = reserve_slot(pp);
    if (err != 0)
        return err;
    fill_pollfd(&pp->fds[pp->len], ch);
    pp->channels[pp->len] = ch;
    ch->poller_slot = pp->len++;
    p->channels++;
    return 0;
}

static void poll_poller_remove(struct poller *p, struct channel *ch)
{
    struct poll_poller *pp = as_poll(p);
    int slot = ch->poller_slot;
    if (slot < 0)
        return;
    ASSERT(slot < pp->len && pp->channels[slot] == ch);
    int last = --pp->len;
    if (slot != last) { /* move the last entry into the hole */
        pp->fds[slot] = pp->fds[last];
        pp->channels[slot] = pp->channels[last];
        pp->channels[slot]->poller_slot = slot;
    }
    ch->poller_slot = -1;
    p->channels--;
}

static void poll_poller_free(struct poller *p)
{
    struct poll_poller *pp = as_poll(p);
    ASSERT(p->channels == 0);
    free(pp->fds);
    free(pp->channels);
    free(pp);
}

static const struct poller_ops poll_ops = {
    .name = "poll",
    .poll = poll_poller_poll,
    .update = poll_poller_update,
    .remove = poll_poller_remove,
    .free = poll_poller_free,
};

struct poller *poller_poll_new(void)
{
    struct poll_poller *pp = calloc(1, sizeof *pp);
    if (pp == NULL)
        return NULL;
    pp->base.ops = &poll_ops;
    return &pp->base;
}
