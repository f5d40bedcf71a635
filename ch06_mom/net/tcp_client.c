#include "net/tcp_client.h"

#include "base/assertion.h"
#include "base/count_down_latch.h"
#include "base/log.h"
#include "net/connector.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tcp_client {
    /* Any thread: the user's reference, plus one per request queued by
     * another thread, which the request drops when it has run. */
    atomic_int refs;

    /* Immutable after tcp_client_new(). */
    struct event_loop *loop;
    char name[TCP_CLIENT_NAME_MAX];
    char server_ip_port[INET_ADDRESS_STRLEN];

    /* Guarded by mutex: tcp_client_connection() reads it from any
     * thread; only the loop's thread changes it. Lock order: mutex
     * alone (nothing else is taken while it is held). */
    pthread_mutex_t mutex;
    struct tcp_conn *conn; /* one reference, the client's; or NULL */

    /* Loop thread only. */
    struct connector *connector; /* NULL once the client is freed */
    struct tcp_callbacks callbacks;
    tcp_client_error_fn *on_error;
    void *error_ctx;
    bool retry;          /* reconnect after a lost connection */
    bool connect_wanted; /* connect() asked, no disconnect() or stop() since */
    bool connect_after_close; /* connect() asked while the old one closed */
    uint64_t next_conn_id;
};

static void client_ref(struct tcp_client *client)
{
    atomic_fetch_add_explicit(&client->refs, 1, memory_order_relaxed);
}

/* Any thread. The connector is gone by the time the count reaches zero
 * (tcp_client_free() frees it in the loop first). */
static void client_unref(struct tcp_client *client)
{
    if (atomic_fetch_sub_explicit(&client->refs, 1, memory_order_acq_rel) ==
        1) {
        ASSERT(client->connector == NULL && client->conn == NULL);
        pthread_mutex_destroy(&client->mutex);
        free(client);
    }
}

/* --- the connection ------------------------------------------------------- */

/* A connection on its way out, with the client's reference to it and a
 * hold on the client: the connection's last callback (down) may still
 * call the client, even one that tcp_client_free() has let go. */
struct conn_job {
    struct tcp_client *client;
    struct tcp_conn *conn;
};

static void destroy_connection(struct tcp_client *client,
                               struct tcp_conn *conn)
{
    tcp_conn_destroyed(conn);
    tcp_conn_unref(conn);
    client_unref(client);
}

/* In the connection's loop, after the batch in which it closed: nothing
 * of that batch can refer to it any more. */
static void destroy_queued(struct event_loop *loop, void *ctx)
{
    struct conn_job *job = ctx;
    (void)loop;
    destroy_connection(job->client, job->conn);
    free(job);
}

static void queue_destroy(struct tcp_client *client, struct tcp_conn *conn)
{
    struct conn_job *job = malloc(sizeof *job);
    int err = -ENOMEM;
    if (job != NULL) {
        *job = (struct conn_job){client, conn};
        err = event_loop_queue(client->loop, destroy_queued, job);
    }
    if (err != 0) {
        free(job);
        log_error("%s: cannot queue the destruction of %s (%s); leaked",
                  client->name, tcp_conn_name(conn), log_strerror(-err));
    }
}

/* The connection's close callback, last in its close path. */
static void connection_closed(struct tcp_conn *conn, void *owner)
{
    struct tcp_client *client = owner;
    pthread_mutex_lock(&client->mutex);
    ASSERT(client->conn == conn);
    client->conn = NULL;
    pthread_mutex_unlock(&client->mutex);
    queue_destroy(client, conn); /* the client's reference */
    if (!client->connect_wanted)
        return;
    if (client->connect_after_close) {
        client->connect_after_close = false;
        (void)connector_start(client->connector);
    } else if (client->retry) {
        log_info("%s: connection lost; reconnecting to %s", client->name,
                 client->server_ip_port);
        (void)connector_restart(client->connector);
    }
}

/* The connector's success: the fd becomes a connection of this client.
 * From here on the connection owns the fd. */
static void connected(struct connector *connector, int fd,
                      const struct inet_address *local,
                      const struct inet_address *peer, void *ctx)
{
    struct tcp_client *client = ctx;
    (void)connector;
    char name[TCP_CONN_NAME_MAX];
    snprintf(name, sizeof name, "%s-%s#%llu", client->name,
             client->server_ip_port,
             (unsigned long long)++client->next_conn_id);
    struct tcp_conn *conn = tcp_conn_new(client->loop, name, fd, local, peer);
    if (conn == NULL) {
        log_error("%s: no memory for a connection; closed", client->name);
        close(fd);
        if (client->retry) { /* as if it had been made and lost */
            (void)connector_restart(client->connector);
            return;
        }
        client->connect_wanted = false; /* said, not left hanging */
        if (client->on_error != NULL)
            client->on_error(client, -ENOMEM, client->error_ctx);
        return;
    }
    tcp_conn_set_callbacks(conn, &client->callbacks);
    tcp_conn_set_close_fn(conn, connection_closed, client);
    client_ref(client); /* the connection's hold, until it is destroyed */
    pthread_mutex_lock(&client->mutex);
    ASSERT(client->conn == NULL);
    client->conn = conn;
    pthread_mutex_unlock(&client->mutex);
    log_debug("%s: connected as %s", client->name, name);
    tcp_conn_established(conn); /* last: the up callback may free us */
}

static void connect_failed(struct connector *connector, int err, void *ctx)
{
    struct tcp_client *client = ctx;
    (void)connector;
    client->connect_wanted = false;
    if (client->on_error != NULL)
        client->on_error(client, err, client->error_ctx);
}

/* --- requests ------------------------------------------------------------- */

/* Each of these may be called by the connection's down callback after
 * tcp_client_free(): the client is then kept, without a connector, and
 * they do nothing. */
static void connect_in_loop(struct tcp_client *client)
{
    if (client->connector == NULL)
        return;
    client->connect_wanted = true;
    if (client->conn == NULL)
        (void)connector_start(client->connector);
    else if (!tcp_conn_connected(client->conn))
        client->connect_after_close = true; /* a disconnect is under way */
}

static void disconnect_in_loop(struct tcp_client *client)
{
    if (client->connector == NULL)
        return;
    client->connect_wanted = false;
    client->connect_after_close = false;
    (void)connector_stop(client->connector);
    if (client->conn != NULL)
        tcp_conn_shutdown(client->conn);
}

static void stop_in_loop(struct tcp_client *client)
{
    if (client->connector == NULL)
        return;
    client->connect_wanted = false;
    client->connect_after_close = false;
    (void)connector_stop(client->connector);
}

/* A request from another thread, run in the loop. The client may have
 * been freed (in the loop) since it was queued: then it does nothing. */
static void connect_request(struct event_loop *loop, void *ctx)
{
    struct tcp_client *client = ctx;
    (void)loop;
    connect_in_loop(client);
    client_unref(client);
}

static void disconnect_request(struct event_loop *loop, void *ctx)
{
    struct tcp_client *client = ctx;
    (void)loop;
    disconnect_in_loop(client);
    client_unref(client);
}

static void stop_request(struct event_loop *loop, void *ctx)
{
    struct tcp_client *client = ctx;
    (void)loop;
    stop_in_loop(client);
    client_unref(client);
}

static int request(struct tcp_client *client, event_loop_fn *fn)
{
    client_ref(client);
    int err = event_loop_queue(client->loop, fn, client);
    if (err != 0) /* not the last: the caller holds one */
        atomic_fetch_sub_explicit(&client->refs, 1, memory_order_relaxed);
    return err;
}

/* --- the API -------------------------------------------------------------- */

struct tcp_client *tcp_client_new(struct event_loop *loop,
                                  const struct inet_address *server,
                                  const char *name)
{
    struct tcp_client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    struct connector_callbacks cb = {
        .on_connected = connected,
        .on_error = connect_failed,
        .ctx = client,
    };
    client->connector = connector_new(loop, server, &cb);
    if (client->connector == NULL) {
        free(client);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&client->refs, 1); /* the user's */
    client->loop = loop;
    snprintf(client->name, sizeof client->name, "%s", name);
    inet_address_to_string(server, client->server_ip_port,
                           sizeof client->server_ip_port);
    pthread_mutex_init(&client->mutex, NULL);
    return client;
}

void tcp_client_set_callbacks(struct tcp_client *client,
                              const struct tcp_callbacks *callbacks)
{
    client->callbacks = *callbacks;
}

void tcp_client_set_error_callback(struct tcp_client *client,
                                   tcp_client_error_fn *fn, void *ctx)
{
    client->on_error = fn;
    client->error_ctx = ctx;
}

void tcp_client_set_retry(struct tcp_client *client, bool on)
{
    client->retry = on;
}

int tcp_client_set_retry_delays(struct tcp_client *client,
                                int64_t initial_us, int64_t max_us)
{
    return connector_set_retry_delays(client->connector, initial_us, max_us);
}

void tcp_client_set_local_address(struct tcp_client *client,
                                  const struct inet_address *local)
{
    connector_set_local_address(client->connector, local);
}

int tcp_client_connect(struct tcp_client *client)
{
    if (!event_loop_is_in_loop_thread(client->loop))
        return request(client, connect_request);
    connect_in_loop(client);
    return 0;
}

int tcp_client_disconnect(struct tcp_client *client)
{
    if (!event_loop_is_in_loop_thread(client->loop))
        return request(client, disconnect_request);
    disconnect_in_loop(client);
    return 0;
}

int tcp_client_stop(struct tcp_client *client)
{
    if (!event_loop_is_in_loop_thread(client->loop))
        return request(client, stop_request);
    stop_in_loop(client);
    return 0;
}

struct tcp_conn *tcp_client_connection(struct tcp_client *client)
{
    pthread_mutex_lock(&client->mutex);
    struct tcp_conn *conn = client->conn;
    if (conn != NULL)
        tcp_conn_ref(conn);
    pthread_mutex_unlock(&client->mutex);
    return conn;
}

/* Stops connecting and lets the connection go, in the loop. From a
 * queued functor the connection can be destroyed at once (it is not
 * being dispatched); from anywhere else in the loop, after the batch. */
static void teardown(struct tcp_client *client, bool from_functor)
{
    client->connect_wanted = false;
    connector_free(client->connector);
    client->connector = NULL;
    pthread_mutex_lock(&client->mutex);
    struct tcp_conn *conn = client->conn;
    client->conn = NULL;
    pthread_mutex_unlock(&client->mutex);
    if (conn == NULL)
        return;
    /* Its close path must not call back into a client that is gone. */
    tcp_conn_set_close_fn(conn, NULL, NULL);
    if (from_functor)
        destroy_connection(client, conn);
    else
        queue_destroy(client, conn);
}

struct free_request {
    struct tcp_client *client;
    struct count_down_latch done;
};

static void free_request(struct event_loop *loop, void *ctx)
{
    struct free_request *req = ctx;
    (void)loop;
    teardown(req->client, true);
    count_down_latch_count_down(&req->done);
}

void tcp_client_free(struct tcp_client *client)
{
    if (client == NULL)
        return;
    if (event_loop_is_in_loop_thread(client->loop)) {
        teardown(client, false);
    } else {
        /* The user's reference keeps the client while the loop works. */
        struct free_request req = {.client = client};
        count_down_latch_init(&req.done, 1);
        int err = event_loop_queue(client->loop, free_request, &req);
        if (err == 0)
            count_down_latch_wait(&req.done);
        count_down_latch_destroy(&req.done);
        if (err != 0) {
            log_error("%s: cannot reach its loop to free it (%s); leaked",
                      client->name, log_strerror(-err));
            return;
        }
    }
    client_unref(client);
}

const char *tcp_client_name(const struct tcp_client *client)
{
    return client->name;
}

struct event_loop *tcp_client_loop(const struct tcp_client *client)
{
    return client->loop;
}

bool tcp_client_retry(const struct tcp_client *client)
{
    return client->retry;
}
