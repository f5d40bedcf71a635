/* Reference solution of exercise 01.4: a broadcast whose sinks, and
 * itself, die inside callbacks of the loop. */
#include "fanout.h"

#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct sink {
    struct channel ch; /* watches its fd, which the fanout owns */
    struct fanout *owner;
};

struct fanout {
    struct event_loop *loop;
    struct channel source; /* watches the source fd, which it owns */
    fanout_done_fn *done;
    void *ctx;
    int count; /* attached sinks: sinks[0, count) */
    struct sink *sinks[FANOUT_MAX_SINKS];
};

/* The memory of a sink whose channel is no longer in the loop. */
static void free_sink(struct sink *s)
{
    channel_destroy(&s->ch);
    free(s);
}

static void free_sink_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    free_sink(ctx);
}

/* Detaches sinks[i] and closes its fd now, so that its peer sees the end
 * at once. Its memory goes now too, unless this runs in the sink's own
 * callback (own_callback): the loop is still dispatching its channel, so
 * the free waits for the end of the batch. */
static void drop_sink(struct fanout *f, int i, bool own_callback)
{
    struct sink *s = f->sinks[i];
    f->sinks[i] = f->sinks[--f->count];
    channel_remove(&s->ch);
    close(s->ch.fd);
    if (!own_callback)
        free_sink(s);
    else if (event_loop_queue(f->loop, free_sink_later, s) != 0)
        log_error("fanout: cannot defer the free of a sink; leaking %zu "
                  "bytes",
                  sizeof *s);
}

/* A sink's hang-up or error: its peer is gone. */
static void on_sink_gone(struct channel *ch, void *ctx)
{
    struct sink *s = ctx;
    struct fanout *f = s->owner;
    (void)ch;
    for (int i = 0; i < f->count; i++)
        if (f->sinks[i] == s) {
            drop_sink(f, i, true);
            return;
        }
}

/* Removes and closes the source and every sink, and frees the sinks: no
 * sink's channel is being dispatched here. The source's may be (end()),
 * so its memory, the fanout's, is the caller's business. */
static void close_all(struct fanout *f)
{
    channel_remove(&f->source);
    close(f->source.fd);
    while (f->count > 0)
        drop_sink(f, f->count - 1, false);
}

static void free_fanout(struct fanout *f)
{
    channel_destroy(&f->source);
    free(f);
}

static void free_fanout_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    free_fanout(ctx);
}

/* The source ended: runs in the source's callback, so the fanout's own
 * memory waits for the end of the batch, while its fds go now. */
static void end(struct fanout *f, int status)
{
    close_all(f);
    if (event_loop_queue(f->loop, free_fanout_later, f) != 0)
        log_error("fanout: cannot defer its free; leaking %zu bytes",
                  sizeof *f);
    f->done(status, f->ctx); /* its last use of f */
}

/* Sends a chunk whole, or fails: a broadcast keeps no backlog. */
static bool send_whole(int fd, const char *chunk, size_t len)
{
    ssize_t n;
    do
        n = send(fd, chunk, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len;
}

static void on_source_readable(struct channel *ch, int64_t receive_time_us,
                               void *ctx)
{
    struct fanout *f = ctx;
    (void)receive_time_us;
    char chunk[FANOUT_CHUNK];
    ssize_t n = read(ch->fd, chunk, sizeof chunk);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            end(f, -errno);
        return;
    }
    if (n == 0) { /* also a hang-up: there is no close callback */
        end(f, 0);
        return;
    }
    /* Backwards: a drop moves the last sink into slot i, one already
     * served. Sinks dropped here are not in their own callback. */
    for (int i = f->count - 1; i >= 0; i--)
        if (!send_whole(f->sinks[i]->ch.fd, chunk, (size_t)n))
            drop_sink(f, i, false);
}

/* POLLERR on the source: the read says which error. */
static void on_source_error(struct channel *ch, void *ctx)
{
    on_source_readable(ch, 0, ctx);
}

struct fanout *fanout_new(struct event_loop *loop, int source_fd,
                          fanout_done_fn *done, void *ctx)
{
    struct fanout *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->loop = loop;
    f->done = done;
    f->ctx = ctx;
    channel_init(&f->source, loop, source_fd, f);
    channel_set_read_fn(&f->source, on_source_readable);
    channel_set_error_fn(&f->source, on_source_error);
    int err = channel_enable_reading(&f->source);
    if (err != 0) {
        channel_destroy(&f->source);
        free(f);
        errno = -err;
        return NULL;
    }
    return f;
}

int fanout_add_sink(struct fanout *f, int fd)
{
    if (f->count == FANOUT_MAX_SINKS)
        return -ENOSPC;
    struct sink *s = malloc(sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->owner = f;
    channel_init(&s->ch, f->loop, fd, s);
    channel_set_close_fn(&s->ch, on_sink_gone);
    channel_set_error_fn(&s->ch, on_sink_gone);
    /* Nothing to read nor (yet) to write: hang-up interest alone keeps
     * the sink polled for its peer's going away, and for nothing else. */
    int err = channel_enable_hang_up(&s->ch);
    if (err != 0) {
        channel_destroy(&s->ch);
        free(s);
        return err;
    }
    f->sinks[f->count++] = s;
    return 0;
}

int fanout_sinks(const struct fanout *f)
{
    return f->count;
}

void fanout_free(struct fanout *f)
{
    if (f == NULL)
        return;
    /* Not inside the fanout's own callbacks (the contract): every memory
     * can go now. A sink dropped earlier in this batch, from its own
     * callback, is no longer ours: its queued free takes care of it. */
    close_all(f);
    free_fanout(f);
}
