/* Exercise 01.4: a broadcast from one source to many sinks, whose sinks,
 * and itself, end inside callbacks of the loop.
 * The statement is in README.md, section 01.4; the contract in fanout.h. */
#include "fanout.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct fanout {
    /* TODO: the source's channel, the sinks (each with its channel), done
     * and its ctx. */
    int count;
};

struct fanout *fanout_new(struct event_loop *loop, int source_fd,
                          fanout_done_fn *done, void *ctx)
{
    (void)loop;
    (void)source_fd;
    (void)done;
    (void)ctx;
    /* TODO: read the source; at its end close everything, call done and
     * free the fanout once the batch is over (event_loop_queue()). */
    errno = ENOSYS;
    return NULL;
}

int fanout_add_sink(struct fanout *f, int fd)
{
    (void)f;
    (void)fd;
    /* TODO: watch the sink for hang-ups alone; drop it when its peer goes
     * away, and free it only when its own callback is over. */
    return -ENOSYS;
}

int fanout_sinks(const struct fanout *f)
{
    return f->count;
}

void fanout_free(struct fanout *f)
{
    /* TODO: remove every channel, then close its fd. */
    free(f);
}
