/* Exercise 03.3: an echo server that closes idle connections, one loop
 * timer per connection. See exercises/ch03/README.md, 03.3.
 *
 * This file compiles and does nothing yet: idle_server_new() fails with
 * ENOSYS. */
#include "idle_server.h"

#include "net/tcp_server.h"

#include <errno.h>
#include <stdlib.h>

struct idle_server {
    struct event_loop *loop;
    struct tcp_server *server;
    int64_t idle_timeout_us;
    /* TODO (README 03.3): the counts, and whatever else it needs. */
};

/* TODO (README 03.3): what each connection needs (its context): when its
 * input last came, its timer's id, and the connection itself - a pointer
 * kept beyond a callback, so a reference. */

struct idle_server *idle_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    int64_t idle_timeout_us)
{
    (void)loop;
    (void)listen_addr;
    (void)idle_timeout_us;
    /* TODO (README 03.3): refuse a timeout below the minimum (EINVAL);
     * create the tcp_server: the up callback starts a connection's timer,
     * the message callback echoes and notes the time, the timer closes an
     * idle connection, the down callback cleans up whatever the
     * connection had. */
    errno = ENOSYS;
    return NULL;
}

int idle_server_start(struct idle_server *s)
{
    (void)s;
    return -ENOSYS; /* TODO (README 03.3) */
}

int idle_server_listen_address(const struct idle_server *s,
                               struct inet_address *addr)
{
    (void)s;
    (void)addr;
    return -ENOSYS; /* TODO (README 03.3) */
}

size_t idle_server_connections(const struct idle_server *s)
{
    (void)s;
    return 0; /* TODO (README 03.3) */
}

uint64_t idle_server_closed_idle(const struct idle_server *s)
{
    (void)s;
    return 0; /* TODO (README 03.3) */
}

void idle_server_free(struct idle_server *s)
{
    /* TODO (README 03.3): as 03.1's line_server_free(). */
    free(s);
}
