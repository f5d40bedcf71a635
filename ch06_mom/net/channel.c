#include "net/channel.h"

#include "base/assertion.h"
#include "base/log.h"
#include "net/event_loop_internal.h"

#include <stdio.h>
#include <string.h>

void channel_init(struct channel *ch, struct event_loop *loop, int fd,
                  void *ctx)
{
    ASSERT(fd >= 0);
    *ch = (struct channel){
        .loop = loop,
        .fd = fd,
        .ctx = ctx,
        .poller_slot = -1,
        .active_slot = -1,
    };
}

void channel_destroy(struct channel *ch)
{
    ASSERT(ch->loop != NULL); /* destroyed twice? */
    event_loop_assert_in_loop_thread(ch->loop);
    /* Freeing a registered channel would leave a dangling pointer in the
     * poller; freeing the one being dispatched, a dangling `ch` in
     * channel_handle_event(). Both are lifetime bugs in the owner. */
    ASSERT(ch->poller_slot == -1);
    ASSERT(!event_loop_is_dispatching(ch->loop, ch));
    ch->loop = NULL;
}

void channel_set_read_fn(struct channel *ch, channel_read_fn *fn)
{
    ch->on_read = fn;
}

void channel_set_write_fn(struct channel *ch, channel_event_fn *fn)
{
    ch->on_write = fn;
}

void channel_set_close_fn(struct channel *ch, channel_event_fn *fn)
{
    ch->on_close = fn;
}

void channel_set_error_fn(struct channel *ch, channel_event_fn *fn)
{
    ch->on_error = fn;
}

void channel_tie(struct channel *ch, channel_tie_fn *hold,
                 channel_tie_fn *release)
{
    ASSERT((hold == NULL) == (release == NULL));
    ch->hold = hold;
    ch->release = release;
}

/* The events of the current batch that an interest set can receive: with
 * no interest, none; otherwise hang-up and error, plus what it watches. */
static int receivable(int events)
{
    if (events == CHANNEL_EVENT_NONE)
        return 0;
    int mask = POLLHUP | POLLERR | POLLNVAL;
    if (events & CHANNEL_EVENT_READ)
        mask |= POLLIN | POLLPRI;
    if (events & CHANNEL_EVENT_WRITE)
        mask |= POLLOUT;
    return mask;
}

/* Every interest change goes through here, so the poller always mirrors
 * ch->events; on failure the old interest is restored. Events of the
 * current batch that the new interest drops are forgotten, so that
 * disabling and re-enabling within one batch cannot bring a stale event
 * back (level-triggered: if the fd is still ready, the next round says so).
 */
static int set_events(struct channel *ch, int events)
{
    if (events == ch->events)
        return 0;
    int old = ch->events;
    ch->events = events;
    int err = event_loop_update_channel(ch->loop, ch);
    if (err != 0)
        ch->events = old;
    else
        ch->revents &= receivable(events);
    return err;
}

int channel_enable_reading(struct channel *ch)
{
    return set_events(ch, ch->events | CHANNEL_EVENT_READ);
}

int channel_disable_reading(struct channel *ch)
{
    return set_events(ch, ch->events & ~CHANNEL_EVENT_READ);
}

int channel_enable_writing(struct channel *ch)
{
    return set_events(ch, ch->events | CHANNEL_EVENT_WRITE);
}

int channel_disable_writing(struct channel *ch)
{
    return set_events(ch, ch->events & ~CHANNEL_EVENT_WRITE);
}

int channel_enable_hang_up(struct channel *ch)
{
    return set_events(ch, ch->events | CHANNEL_EVENT_HANG_UP);
}

int channel_disable_all(struct channel *ch)
{
    return set_events(ch, CHANNEL_EVENT_NONE);
}

bool channel_is_reading(const struct channel *ch)
{
    return (ch->events & CHANNEL_EVENT_READ) != 0;
}

bool channel_is_writing(const struct channel *ch)
{
    return (ch->events & CHANNEL_EVENT_WRITE) != 0;
}

bool channel_has_no_events(const struct channel *ch)
{
    return ch->events == CHANNEL_EVENT_NONE;
}

void channel_remove(struct channel *ch)
{
    /* No more callbacks in this batch, not even the rest of this channel's
     * own dispatch (it may have removed itself from its read callback). */
    ch->events = CHANNEL_EVENT_NONE;
    ch->revents = 0;
    event_loop_remove_channel(ch->loop, ch);
}

/* The events that go to the read callback. A hang-up with nothing left
 * to read belongs to the close callback; a channel without one that reads
 * gets it as a read, so that its read() sees the end of file (libuv does
 * the same). Otherwise nothing would consume it, and a level-triggered
 * hang-up would wake the loop in every round. */
static int read_events(const struct channel *ch)
{
    int events = POLLIN | POLLPRI;
    if (ch->on_close == NULL && channel_is_reading(ch))
        events |= POLLHUP;
    return events;
}

static void dispatch_events(struct channel *ch, int64_t receive_time_us)
{
    /* Each condition reads ch->revents afresh: a callback before it (this
     * channel's or another's) may have dropped some interest, and with it
     * the events it can no longer receive (set_events()). The loop skips a
     * channel removed during the batch altogether. */
    if ((ch->revents & POLLHUP) && !(ch->revents & POLLIN) &&
        ch->on_close != NULL)
        ch->on_close(ch, ch->ctx);
    if ((ch->revents & (POLLERR | POLLNVAL)) && ch->on_error != NULL)
        ch->on_error(ch, ch->ctx);
    if (ch->revents & POLLNVAL) {
        /* Only poll(2) reports it: the owner closed the fd before removing
         * the channel, a bug in the owner. Say so once and stop polling
         * the fd, which poll() would otherwise report in every round. */
        log_error("fd %d closed while still watched (POLLNVAL): no longer "
                  "polled; remove a channel before closing its fd",
                  ch->fd);
        (void)channel_disable_all(ch);
    }
    if ((ch->revents & read_events(ch)) && ch->on_read != NULL)
        ch->on_read(ch, receive_time_us, ch->ctx);
    if ((ch->revents & POLLOUT) && ch->on_write != NULL)
        ch->on_write(ch, ch->ctx);
}

/* The channel itself outlives its dispatch even untied: channel_destroy()
 * refuses to run while it is being dispatched. */
void channel_handle_event(struct channel *ch, int64_t receive_time_us)
{
    if (ch->hold != NULL)
        ch->hold(ch->ctx);
    dispatch_events(ch, receive_time_us);
    if (ch->release != NULL)
        ch->release(ch->ctx);
}

const char *channel_events_to_string(int events, char *buf, int len)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {{POLLIN, "IN"},     {POLLPRI, "PRI"},   {POLLOUT, "OUT"},
                 {POLLHUP, "HUP"},   {POLLRDHUP, "RDHUP"}, {POLLERR, "ERR"},
                 {POLLNVAL, "NVAL"}};
    int used = 0;
    if (len > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(events & names[i].bit))
            continue;
        int need = (int)strlen(names[i].name) + (used > 0);
        if (used + need >= len)
            break; /* whole names only */
        used += snprintf(buf + used, (size_t)(len - used), "%s%s",
                         used > 0 ? " " : "", names[i].name);
    }
    return buf;
}
