#include "net/tcp_server.h"

#include "base/assertion.h"
#include "base/list.h"
#include "base/log.h"
#include "net/acceptor.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/sockets.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tcp_server {
    /* Any thread. The server's memory lives while anyone may still call
     * into it: the user (until tcp_server_free), every connection (until
     * it is destroyed: its close path calls remove_connection), and every
     * removal on its way to the base loop. */
    atomic_int refs;

    /* Immutable after tcp_server_new(). */
    struct event_loop *loop; /* the base loop: acceptor and table */
    char name[TCP_SERVER_NAME_MAX];
    char ip_port[INET_ADDRESS_STRLEN];

    /* Base loop thread only. */
    struct acceptor *acceptor;
    struct event_loop_pool *pool;
    int thread_count;
    event_loop_thread_init_fn *thread_init;
    void *thread_init_ctx;
    struct tcp_callbacks callbacks;
    bool pool_started; /* kept apart: a failed listen may be retried */
    bool started;
    uint64_t next_conn_id;
    struct list_node connections; /* the table: one reference each */
    size_t connection_count;
};

static void server_ref(struct tcp_server *server)
{
    atomic_fetch_add_explicit(&server->refs, 1, memory_order_relaxed);
}

static void server_unref(struct tcp_server *server)
{
    if (atomic_fetch_sub_explicit(&server->refs, 1, memory_order_acq_rel) ==
        1)
        free(server);
}

/* Work for another loop about one connection of this server. */
struct conn_job {
    struct tcp_server *server;
    struct tcp_conn *conn;
};

/* How a job travels: event_loop_queue() or event_loop_run_in_loop(). */
typedef int post_fn(struct event_loop *loop, event_loop_fn *fn, void *ctx);

/* Sends fn(loop, job) a job about @p conn. The job carries the
 * references the caller hands over (fn drops them); on failure nothing
 * is sent and the caller keeps them. */
static int post_job(post_fn *post, struct event_loop *loop, event_loop_fn *fn,
                    struct tcp_server *server, struct tcp_conn *conn)
{
    struct conn_job *job = malloc(sizeof *job);
    if (job == NULL)
        return -ENOMEM;
    *job = (struct conn_job){server, conn};
    int err = post(loop, fn, job);
    if (err != 0)
        free(job);
    return err;
}

/* In the connection's loop, after the batch in which it closed (or after
 * the server let it go): nothing of that batch can refer to it any more.
 * Drops the table's reference, and the connection's hold on the server. */
static void destroy_connection(struct event_loop *loop, void *ctx)
{
    struct conn_job *job = ctx;
    (void)loop;
    tcp_conn_destroyed(job->conn);
    tcp_conn_unref(job->conn);
    server_unref(job->server);
    free(job);
}

/* Hands over the table's reference and the connection's hold on the
 * server. Queued even from the connection's own loop: the destruction
 * must wait until its current batch is over. */
static void queue_destroy(struct tcp_server *server, struct tcp_conn *conn)
{
    int err = post_job(event_loop_queue, tcp_conn_loop(conn),
                       destroy_connection, server, conn);
    if (err != 0)
        log_error("%s: cannot queue its destruction (%s); leaked",
                  tcp_conn_name(conn), log_strerror(-err));
}

/* In the base loop: take the connection out of the table (unless the
 * server already let it go) and have its own loop destroy it. */
static void remove_in_loop(struct event_loop *loop, void *ctx)
{
    struct conn_job *job = ctx;
    (void)loop;
    struct list_node *node = tcp_conn_table_node(job->conn);
    if (!list_unlinked(node)) {
        log_debug("%s: removing %s", job->server->name,
                  tcp_conn_name(job->conn));
        list_remove(node);
        job->server->connection_count--;
        queue_destroy(job->server, job->conn); /* the table's reference */
    }
    tcp_conn_unref(job->conn);
    server_unref(job->server);
    free(job);
}

/* The connection's close callback: the last step of its close path, in
 * the connection's loop. The table belongs to the base loop, so the
 * removal travels there, holding the server and the connection. */
static void remove_connection(struct tcp_conn *conn, void *owner)
{
    struct tcp_server *server = owner;
    server_ref(server);
    tcp_conn_ref(conn);
    int err = post_job(event_loop_run_in_loop, server->loop, remove_in_loop,
                       server, conn);
    if (err != 0) {
        log_error("%s: cannot remove %s (%s); leaked", server->name,
                  tcp_conn_name(conn), log_strerror(-err));
        tcp_conn_unref(conn);
        server_unref(server);
    }
}

static void establish(struct event_loop *loop, void *ctx)
{
    (void)loop;
    tcp_conn_established(ctx);
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
    struct event_loop *io_loop = event_loop_pool_next(server->pool);
    struct tcp_conn *conn = tcp_conn_new(io_loop, name, fd, &local, peer);
    if (conn == NULL) {
        log_error("%s: no memory for a new connection; closed", server->name);
        close(fd);
        return;
    }
    log_debug("%s: new connection %s", server->name, name);
    tcp_conn_set_callbacks(conn, &server->callbacks);
    tcp_conn_set_close_fn(conn, remove_connection, server);
    server_ref(server); /* the connection's hold, until it is destroyed */
    list_push_back(&server->connections, tcp_conn_table_node(conn));
    server->connection_count++;
    /* The connection lives in its I/O loop from now on. */
    int err = event_loop_run_in_loop(io_loop, establish, conn);
    if (err != 0) {
        log_error("%s: cannot start %s (%s); closed", server->name, name,
                  log_strerror(-err));
        list_remove(tcp_conn_table_node(conn));
        server->connection_count--;
        tcp_conn_unref(conn); /* never registered: frees it, closes fd */
        server_unref(server);
    }
}

struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *listen_addr,
                                  const char *name, int flags)
{
    struct tcp_server *server = calloc(1, sizeof *server);
    if (server == NULL)
        return NULL;
    atomic_init(&server->refs, 1); /* the user's */
    server->loop = loop;
    snprintf(server->name, sizeof server->name, "%s", name);
    list_init(&server->connections);
    server->pool = event_loop_pool_new(loop);
    if (server->pool == NULL) {
        free(server);
        errno = ENOMEM;
        return NULL;
    }
    server->acceptor =
        acceptor_new(loop, listen_addr, (flags & TCP_SERVER_REUSE_PORT) != 0,
                     new_connection, server);
    if (server->acceptor == NULL) {
        int err = errno;
        event_loop_pool_free(server->pool);
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

void tcp_server_set_thread_count(struct tcp_server *server, int threads)
{
    event_loop_assert_in_loop_thread(server->loop);
    ASSERT(!server->pool_started);
    server->thread_count = threads;
}

void tcp_server_set_thread_init(struct tcp_server *server,
                                event_loop_thread_init_fn *init, void *ctx)
{
    event_loop_assert_in_loop_thread(server->loop);
    ASSERT(!server->pool_started);
    server->thread_init = init;
    server->thread_init_ctx = ctx;
}

static int start_in_loop(struct tcp_server *server)
{
    if (server->started)
        return 0;
    /* The pool first: once listening, connections need their loops. If
     * listen() then fails, the threads stay for a later attempt. */
    if (!server->pool_started) {
        int err = event_loop_pool_start(server->pool, server->thread_count,
                                        server->thread_init,
                                        server->thread_init_ctx);
        if (err != 0)
            return err;
        server->pool_started = true;
    }
    int err = acceptor_listen(server->acceptor);
    if (err == 0) {
        server->started = true;
        log_info("%s: listening on %s with %d I/O thread(s)", server->name,
                 server->ip_port, server->thread_count);
    }
    return err;
}

/* A start asked from another thread. It holds a reference: the server
 * may be freed before the base loop gets to it, and is then not started. */
static void start_request(struct event_loop *loop, void *ctx)
{
    struct tcp_server *server = ctx;
    (void)loop;
    int err = server->acceptor != NULL ? start_in_loop(server) : 0;
    if (err != 0)
        log_error("%s: cannot start: %s", server->name, log_strerror(-err));
    server_unref(server);
}

int tcp_server_start(struct tcp_server *server)
{
    if (event_loop_is_in_loop_thread(server->loop))
        return start_in_loop(server);
    server_ref(server);
    int err = event_loop_queue(server->loop, start_request, server);
    if (err != 0)
        server_unref(server); /* not the last: the caller holds one */
    return err;
}

int tcp_server_listen_address(const struct tcp_server *server,
                              struct inet_address *addr)
{
    return acceptor_local_address(server->acceptor, addr);
}

size_t tcp_server_connection_count(const struct tcp_server *server)
{
    event_loop_assert_in_loop_thread(server->loop);
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
    server->acceptor = NULL;
    /* Each connection is destroyed in its own loop, after that loop's
     * current batch: it may be in the middle of a callback right now. One
     * that is closing on its own meanwhile sends its removal here; that
     * finds it already out of the table. */
    struct list_node *node, *next;
    list_for_each_safe(node, next, &server->connections) {
        struct tcp_conn *conn = tcp_conn_from_table_node(node);
        list_remove(node);
        queue_destroy(server, conn);
    }
    server->connection_count = 0;
    /* Stopping the I/O threads runs what their loops still have queued,
     * the destructions above included. */
    event_loop_pool_free(server->pool);
    server->pool = NULL;
    server_unref(server); /* the user's hold */
}
