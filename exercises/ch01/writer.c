/* Exercise 01.2: a writer that keeps what the socket cannot take yet.
 * The statement is in README.md, section 01.2; the contract in writer.h. */
#include "writer.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct writer {
    struct channel ch; /* watches the caller's fd */
    int error;
    /* TODO: the bytes waiting to be written. */
};

struct writer *writer_new(struct event_loop *loop, int fd)
{
    struct writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    channel_init(&w->ch, loop, fd, w);
    /* TODO: a write callback that sends what waits, and drops write
     * interest once nothing does. */
    return w;
}

int writer_send(struct writer *w, const void *data, size_t len)
{
    (void)data;
    (void)len;
    if (w->error != 0)
        return w->error;
    /* TODO: send what the socket takes now (send() with MSG_NOSIGNAL),
     * keep the rest behind what already waits, and enable write interest
     * while anything waits. */
    return -ENOSYS;
}

size_t writer_pending(const struct writer *w)
{
    (void)w;
    return 0; /* TODO */
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
    /* TODO: free the bytes still waiting. */
    free(w);
}
