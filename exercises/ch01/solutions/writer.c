/* Reference solution of exercise 01.2: output that waits for room, with
 * write interest enabled only while it waits. */
#include "writer.h"

#include "base/array.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct writer {
    struct channel ch; /* watches the caller's fd */
    char *buf;         /* the bytes waiting: buf[head, head + len) */
    size_t head;
    size_t len;
    size_t capacity;
    int error; /* the first error, which ended the writer; or 0 */
};

/* Ends the writer: nothing more will be written, so nothing waits and
 * nothing is watched (an fd left watched after an error, hung up for good,
 * would be reported in every round). */
static void fail(struct writer *w, int err)
{
    w->error = err;
    w->head = 0;
    w->len = 0;
    (void)channel_disable_all(&w->ch);
}

/* One send() of what fits: the count written (0 when the socket is full),
 * or a negative errno. */
static ssize_t send_some(int fd, const char *data, size_t len)
{
    ssize_t n;
    do
        n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    return n;
}

/* Writable: one send per wake-up is enough (level-triggered: what is
 * left is reported again), and leaves the other fds of the batch their
 * turn. */
static void on_writable(struct channel *ch, void *ctx)
{
    struct writer *w = ctx;
    ssize_t n = send_some(ch->fd, w->buf + w->head, w->len);
    if (n < 0) {
        fail(w, (int)n);
        return;
    }
    w->head += (size_t)n;
    w->len -= (size_t)n;
    if (w->len > 0)
        return;
    w->head = 0;
    /* Nothing waits: a writable socket must stop waking the loop. */
    int err = channel_disable_writing(ch);
    if (err != 0)
        fail(w, err);
}

/* An error on the socket (POLLERR): its pending error says which. */
static void on_error(struct channel *ch, void *ctx)
{
    int err = 0;
    socklen_t size = sizeof err;
    if (getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &size) < 0)
        err = errno;
    fail(ctx, err != 0 ? -err : -EIO);
}

struct writer *writer_new(struct event_loop *loop, int fd)
{
    struct writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    channel_init(&w->ch, loop, fd, w);
    channel_set_write_fn(&w->ch, on_writable);
    channel_set_error_fn(&w->ch, on_error);
    /* No interest yet: nothing waits. */
    return w;
}

/* Appends len bytes behind those waiting; false when memory ran out. */
static bool keep(struct writer *w, const char *data, size_t len)
{
    if (w->head > 0) { /* reuse the room already written out */
        memmove(w->buf, w->buf + w->head, w->len);
        w->head = 0;
    }
    char *buf = array_reserve(w->buf, &w->capacity, w->len + len, 1);
    if (buf == NULL)
        return false;
    w->buf = buf;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    return true;
}

int writer_send(struct writer *w, const void *data, size_t len)
{
    if (w->error != 0)
        return w->error;
    if (len > WRITER_MAX_PENDING - w->len)
        return -ENOBUFS;
    const char *p = data;
    /* Only when nothing waits: otherwise these bytes would overtake
     * those, the moment the peer has read enough to make room. */
    if (w->len == 0) {
        ssize_t n = send_some(w->ch.fd, p, len);
        if (n < 0) {
            fail(w, (int)n);
            return w->error;
        }
        p += n;
        len -= (size_t)n;
    }
    if (len == 0)
        return 0;
    if (!keep(w, p, len)) {
        fail(w, -ENOMEM);
        return w->error;
    }
    int err = channel_enable_writing(&w->ch); /* a no-op if already on */
    if (err != 0) {
        fail(w, err);
        return err;
    }
    return 0;
}

size_t writer_pending(const struct writer *w)
{
    return w->len;
}

int writer_error(const struct writer *w)
{
    return w->error;
}

void writer_free(struct writer *w)
{
    if (w == NULL)
        return;
    channel_remove(&w->ch);
    channel_destroy(&w->ch);
    free(w->buf);
    free(w);
}
