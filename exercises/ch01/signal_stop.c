/* Exercise 01.1: stop the loop on SIGINT or SIGTERM with a signalfd.
 * The statement is in README.md, section 01.1; the contract in
 * signal_stop.h. */
#include "signal_stop.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct signal_stop {
    /* TODO: a channel, the signalfd it watches, the last signal seen. */
    int last_signal;
};

struct signal_stop *signal_stop_new(struct event_loop *loop)
{
    (void)loop;
    /* TODO: refuse (EINVAL) unless SIGINT and SIGTERM are blocked in this
     * thread; open a signalfd for both; watch it with a channel whose read
     * callback reads the signal and quits the loop. */
    errno = ENOSYS;
    return NULL;
}

int signal_stop_signal(const struct signal_stop *s)
{
    return s->last_signal;
}

void signal_stop_free(struct signal_stop *s)
{
    /* TODO: remove the channel before closing the fd. */
    free(s);
}
