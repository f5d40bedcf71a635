#include "net/tcp_server.h"

#include "base/assertion.h"
#include "base/list.h"
#include "base/log.h"
#include "net/acceptor.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/sockets.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tcp_server {
    /* Any thread. The server's memory lives while anyone may still call
     * into it: the user (until tcp_server_free) and every connection
     * (until it is destroyed: its close path calls remove_connection). */
    atomic_int refs;

    /* Immutable after tcp_server_new(). */
    struct event_loop *loop; /* the base loop: acceptor and pool */
    char name[TCP_SERVER_NAME_MAX];
    char ip_port[INET_ADDRESS_STRLEN];

    /* Guarded by mutex, which two kinds of thread take: the base loop's,
     * to add a connection, and each connection's own loop's, to remove
     * it, so that a close never leaves its loop. Lock order: mutex, then
     * a loop's mutex (tcp_server_free() queues destructions while holding
     * it); nothing else. */
    pthread_mutex_t mutex;
    struct list_node connections; /* the table: one reference each */
    size_t connection_count;

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
};

static void server_ref(struct tcp_server *server)
{
    atomic_fetch_add_explicit(&server->refs, 1, memory_order_relaxed);
}

static void server_unref(struct tcp_server *server)
{
    if (atomic_fetch_sub_explicit(&server->refs, 1, memory_order_acq_rel) ==
        1) {
        pthread_mutex_destroy(&server->mutex);
        free(server);
    }
}

/* Work for another loop about one connection of this server. */
struct conn_job {
    struct tcp_server *server;
    struct tcp_conn *conn;
};

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
    struct conn_job *job = malloc(sizeof *job);
    int err = -ENOMEM;
    if (job != NULL) {
        *job = (struct conn_job){server, conn};
        err = event_loop_queue(tcp_conn_loop(conn), destroy_connection, job);
    }
    if (err != 0) {
        free(job);
        log_error("%s: cannot queue its destruction (%s); leaked",
                  tcp_conn_name(conn), log_strerror(-err));
    }
}

/* The connection's close callback: the last step of its close path, in
 * the connection's own loop. It leaves the table there, under the
 * table's lock, and is destroyed in that loop too: a close never travels
 * to the base loop and back. If tcp_server_free() took it out of the
 * table first, that already queued its destruction. */
static void remove_connection(struct tcp_conn *conn, void *owner)
{
    struct tcp_server *server = owner;
    struct list_node *node = tcp_conn_table_node(conn);
    pthread_mutex_lock(&server->mutex);
    bool listed = !list_unlinked(node);
    if (listed) {
        list_remove(node);
        server->connection_count--;
    }
    pthread_mutex_unlock(&server->mutex);
    if (listed) {
        log_debug("%s: removing %s", server->name, tcp_conn_name(conn));
        queue_destroy(server, conn); /* the table's reference */
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
    pthread_mutex_lock(&server->mutex);
    list_push_back(&server->connections, tcp_conn_table_node(conn));
    server->connection_count++;
    pthread_mutex_unlock(&server->mutex);
    /* The connection lives in its I/O loop from now on. */
    int err = event_loop_run_in_loop(io_loop, establish, conn);
    if (err != 0) {
        log_error("%s: cannot start %s (%s); closed", server->name, name,
                  log_strerror(-err));
        pthread_mutex_lock(&server->mutex);
        list_remove(tcp_conn_table_node(conn));
        server->connection_count--;
        pthread_mutex_unlock(&server->mutex);
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
    pthread_mutex_init(&server->mutex, NULL);
    list_init(&server->connections);
    server->pool = event_loop_pool_new(loop);
    if (server->pool == NULL) {
        pthread_mutex_destroy(&server->mutex);
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
        pthread_mutex_destroy(&server->mutex);
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
    /* Locking changes the mutex, not the server: const is cast away. */
    struct tcp_server *s = (struct tcp_server *)server;
    pthread_mutex_lock(&s->mutex);
    size_t count = s->connection_count;
    pthread_mutex_unlock(&s->mutex);
    return count;
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
     * that is closing on its own meanwhile finds itself out of the table
     * and leaves its destruction to this. Queued under the table's lock:
     * released any earlier, such a connection could see its table node
     * still linked. */
    struct list_node *node, *next;
    pthread_mutex_lock(&server->mutex);
    list_for_each_safe(node, next, &server->connections) {
        struct tcp_conn *conn = tcp_conn_from_table_node(node);
        list_remove(node);
        queue_destroy(server, conn);
    }
    server->connection_count = 0;
    pthread_mutex_unlock(&server->mutex);
    /* Stopping the I/O threads runs what their loops still have queued,
     * the destructions above included. */
    event_loop_pool_free(server->pool);
    server->pool = NULL;
    server_unref(server); /* the user's hold */
}
