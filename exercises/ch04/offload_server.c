/* Exercise 04.5: see exercises/ch04/README.md, "04.5 Work in another
 * thread, the reply in the connection's loop". The contract is in
 * offload_server.h. */
#include "offload_server.h"

#include "net/event_loop.h"
#include "net/event_loop_thread.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stddef.h>

/* TODO: the server: a tcp_server with options->io_threads I/O loops, and
 * options->workers worker threads (an event_loop_thread is one: its
 * pending queue is a job queue). */
struct offload_server {
    int unused; /* replace with your fields */
};

struct offload_server *
offload_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr,
                   const struct offload_options *options)
{
    /* TODO: check the options, create the tcp_server, set its callbacks
     * and thread count. */
    (void)loop;
    (void)listen_addr;
    (void)options;
    errno = ENOSYS;
    return NULL;
}

int offload_server_start(struct offload_server *server)
{
    /* TODO: the workers, then tcp_server_start(). */
    (void)server;
    return -ENOSYS;
}

int offload_server_listen_address(const struct offload_server *server,
                                  struct inet_address *addr)
{
    (void)server;
    (void)addr;
    return -ENOSYS; /* TODO */
}

size_t offload_server_connection_count(const struct offload_server *server)
{
    (void)server;
    return 0; /* TODO */
}

uint64_t offload_server_dropped_replies(const struct offload_server *server)
{
    (void)server;
    return 0; /* TODO */
}

void offload_server_free(struct offload_server *server)
{
    /* TODO: in which order must the workers and the I/O threads stop,
     * given that a worker hands its reply to an I/O loop? */
    (void)server;
}
