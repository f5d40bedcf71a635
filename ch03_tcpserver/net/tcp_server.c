#include "net/tcp_server.h"

#include "base/assertion.h"
#include "base/list.h"
#include "base/log.h"
#include "net/acceptor.h"
#include "net/event_loop.h"
#include "net/sockets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tcp_server {
    struct event_loop *loop;
    char name[TCP_SERVER_NAME_MAX];
    char ip_port[INET_ADDRESS_STRLEN];
    struct acceptor *acceptor;
    struct tcp_callbacks callbacks;
    bool started;
    uint64_t next_conn_id;
    struct list_node connections; /* the table: one reference each */
    size_t connection_count;
};

/* Runs after the batch in which the connection closed: nothing of that
 * batch can refer to it any more. Drops the table's reference. */
static void destroy_connection(struct event_loop *loop, void *ctx)
{
    struct tcp_conn *conn = ctx;
    (void)loop;
    tcp_conn_destroyed(conn);
    tcp_conn_unref(conn);
}

static void queue_destroy(struct tcp_conn *conn)
{
    if (event_loop_queue(tcp_conn_loop(conn), destroy_connection, conn) != 0)
        log_error("%s: cannot queue its destruction (no memory); leaked",
                  tcp_conn_name(conn));
}

/* The connection's close callback: the last step of its close path. */
static void remove_connection(struct tcp_conn *conn, void *owner)
{
    struct tcp_server *server = owner;
    event_loop_assert_in_loop_thread(server->loop);
    log_debug("%s: removing %s", server->name, tcp_conn_name(conn));
    list_remove(tcp_conn_table_node(conn));
    server->connection_count--;
    queue_destroy(conn); /* hands over the table's reference */
}

static void new_connection(struct acceptor *acceptor, int fd,
                           const struct inet_address *peer, void *ctx)
{
    struct tcp_server *server = ctx;
    (void)acceptor;
    char name[TCP_CONN_NAME_MAX];
    snprintf(name, sizeof name, "%s-%s#%llu", server->name, server->ip_port,
             (unsigned long long)++server->next_conn_id);
    struct inet_address local;
    if (sockets_local_address(fd, &local) != 0)
        local = *peer; /* cannot fail for an accepted socket */
    struct tcp_conn *conn = tcp_conn_new(server->loop, name, fd, &local, peer);
    if (conn == NULL) {
        log_error("%s: no memory for a new connection; closed", server->name);
        close(fd);
        return;
    }
    log_debug("%s: new connection %s", server->name, name);
    tcp_conn_set_callbacks(conn, &server->callbacks);
    tcp_conn_set_close_fn(conn, remove_connection, server);
    list_push_back(&server->connections, tcp_conn_table_node(conn));
    server->connection_count++;
    tcp_conn_established(conn);
}

struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *listen_addr,
                                  const char *name, int flags)
{
    struct tcp_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return NULL;
    server->loop = loop;
    snprintf(server->name, sizeof server->name, "%s", name);
    list_init(&server->connections);
    server->acceptor =
        acceptor_new(loop, listen_addr, (flags & TCP_SERVER_REUSE_PORT) != 0,
                     new_connection, server);
    if (server->acceptor == NULL) {
        int err = errno;
        free(server);
        errno = err;
        return NULL;
    }
    struct inet_address bound;
    if (acceptor_local_address(server->acceptor, &bound) != 0)
        bound = *listen_addr;
    inet_address_to_string(&bound, server->ip_port, sizeof server->ip_port);
    return server;
}

void tcp_server_set_callbacks(struct tcp_server *server,
                              const struct tcp_callbacks *callbacks)
{
    server->callbacks = *callbacks;
}

int tcp_server_start(struct tcp_server *server)
{
    event_loop_assert_in_loop_thread(server->loop);
    if (server->started)
        return 0;
    int err = acceptor_listen(server->acceptor);
    if (err == 0) {
        server->started = true;
        log_info("%s: listening on %s", server->name, server->ip_port);
    }
    return err;
}

int tcp_server_listen_address(const struct tcp_server *server,
                              struct inet_address *addr)
{
    return acceptor_local_address(server->acceptor, addr);
}

size_t tcp_server_connection_count(const struct tcp_server *server)
{
    return server->connection_count;
}

uint64_t tcp_server_shed_count(const struct tcp_server *server)
{
    return acceptor_shed_count(server->acceptor);
}

const char *tcp_server_name(const struct tcp_server *server)
{
    return server->name;
}

struct event_loop *tcp_server_loop(const struct tcp_server *server)
{
    return server->loop;
}

void tcp_server_free(struct tcp_server *server)
{
    if (server == NULL)
        return;
    event_loop_assert_in_loop_thread(server->loop);
    acceptor_free(server->acceptor);
    /* Each connection is told to forget the server (its close path must
     * not call back into freed memory), then destroyed after this batch:
     * it may be in the middle of its own callback right now. */
    struct list_node *node, *next;
    list_for_each_safe(node, next, &server->connections) {
        struct tcp_conn *conn = tcp_conn_from_table_node(node);
        list_remove(node);
        tcp_conn_set_close_fn(conn, NULL, NULL);
        queue_destroy(conn);
    }
    server->connection_count = 0;
    free(server);
}
