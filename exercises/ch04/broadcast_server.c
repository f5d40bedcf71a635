/* Exercise 04.4: see exercises/ch04/README.md, "04.4 A broadcast across
 * every loop". The contract is in broadcast_server.h. */
#include "broadcast_server.h"

#include "base/list.h"
#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stddef.h>

/* TODO: the server: a tcp_server with io_threads I/O loops, and for each
 * loop the list of its own connections, touched in that loop's thread
 * only. tcp_server_set_thread_init() tells you each loop, in its own
 * thread, before tcp_server_start() returns. */
struct broadcast_server {
    int unused; /* replace with your fields */
};

struct broadcast_server *
broadcast_server_new(struct event_loop *loop,
                     const struct inet_address *listen_addr, int io_threads)
{
    /* TODO: create the tcp_server and one list per loop; set the
     * callbacks, the thread count and the thread init callback. */
    (void)loop;
    (void)listen_addr;
    (void)io_threads;
    errno = ENOSYS;
    return NULL;
}

int broadcast_server_start(struct broadcast_server *server)
{
    (void)server;
    return -ENOSYS; /* TODO */
}

int broadcast_server_listen_address(const struct broadcast_server *server,
                                    struct inet_address *addr)
{
    (void)server;
    (void)addr;
    return -ENOSYS; /* TODO */
}

int broadcast_server_send(struct broadcast_server *server, const char *line,
                          size_t len)
{
    /* TODO: one copy of the line for every loop, or one copy that the
     * loops share? Who frees it, and in which thread? */
    (void)server;
    (void)line;
    (void)len;
    return -ENOSYS;
}

size_t broadcast_server_connection_count(const struct broadcast_server *server)
{
    (void)server;
    return 0; /* TODO */
}

void broadcast_server_free(struct broadcast_server *server)
{
    /* TODO: what may still be on its way to another loop when the I/O
     * threads stop? */
    (void)server;
}
