/* Exercise 03.2: an echo server with a limit of its own, refusing the
 * connections beyond it politely. See exercises/ch03/README.md, 03.2.
 *
 * This file compiles and does nothing yet: limit_server_new() fails with
 * ENOSYS. 03.1's line_server.c shows the shape of a server module. */
#include "limit_server.h"

#include "net/tcp_server.h"

#include <errno.h>
#include <stdlib.h>

struct limit_server {
    struct event_loop *loop;
    struct tcp_server *server;
    size_t max_clients;
    /* TODO (README 03.2): what else the server must remember. */
};

struct limit_server *limit_server_new(struct event_loop *loop,
                                      const struct inet_address *listen_addr,
                                      size_t max_clients)
{
    (void)loop;
    (void)listen_addr;
    (void)max_clients;
    /* TODO (README 03.2): refuse max_clients 0 (EINVAL); create the
     * tcp_server with an up/down callback that decides which connections
     * are served, and a message callback that echoes only theirs. */
    errno = ENOSYS;
    return NULL;
}

int limit_server_start(struct limit_server *s)
{
    (void)s;
    return -ENOSYS; /* TODO (README 03.2) */
}

int limit_server_listen_address(const struct limit_server *s,
                                struct inet_address *addr)
{
    (void)s;
    (void)addr;
    return -ENOSYS; /* TODO (README 03.2) */
}

size_t limit_server_served(const struct limit_server *s)
{
    (void)s;
    return 0; /* TODO (README 03.2) */
}

uint64_t limit_server_refused(const struct limit_server *s)
{
    (void)s;
    return 0; /* TODO (README 03.2) */
}

void limit_server_free(struct limit_server *s)
{
    /* TODO (README 03.2): free the tcp_server, then s, once no callback
     * of its connections can run any more (03.1's line_server_free()). */
    free(s);
}
