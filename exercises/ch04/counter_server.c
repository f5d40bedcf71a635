/* Exercise 04.3: see exercises/ch04/README.md, "04.3 A counter sharded by
 * I/O loop". The contract is in counter_server.h. */
#include "counter_server.h"

#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stddef.h>

/* TODO: the server: a tcp_server with io_threads I/O loops, and one shard
 * (the counts of one loop) per loop. tcp_server_set_thread_init() tells
 * you each loop, in its own thread, before tcp_server_start() returns. */
struct counter_server {
    int unused; /* replace with your fields */
};

struct counter_server *
counter_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr, int io_threads)
{
    /* TODO: create the tcp_server and the shards; set the callbacks, the
     * thread count and the thread init callback. */
    (void)loop;
    (void)listen_addr;
    (void)io_threads;
    errno = ENOSYS;
    return NULL;
}

int counter_server_start(struct counter_server *server)
{
    (void)server;
    return -ENOSYS; /* TODO */
}

int counter_server_listen_address(const struct counter_server *server,
                                  struct inet_address *addr)
{
    (void)server;
    (void)addr;
    return -ENOSYS; /* TODO */
}

uint64_t counter_server_dropped_adds(const struct counter_server *server)
{
    (void)server;
    return 0; /* TODO */
}

void counter_server_free(struct counter_server *server)
{
    /* TODO: what may still be on its way to another loop when the I/O
     * threads stop? Make sure nothing is handed to a loop that is being
     * freed. */
    (void)server;
}
