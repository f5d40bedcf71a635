/**
 * @file tcp_client.h
 * @brief A TCP client: one connector and at most one connection to one
 * server, with the callbacks of tcp_server, and reconnection on demand.
 *
 * Contract
 * - Owns its connector and one reference to its current connection. The
 *   connection lives in the client's loop; its callbacks (struct
 *   tcp_callbacks, as for a server) run in that loop's thread.
 * - Who holds the socket: the connector while connecting (it closes it on
 *   failure or stop); the connection from the moment the connector hands
 *   it over (tcp_conn_new() takes it; it is closed when the connection's
 *   last reference goes).
 * - tcp_client_connect(), tcp_client_disconnect(), tcp_client_stop() and
 *   tcp_client_connection() are thread-safe; from another thread the
 *   first three are queued to the client's loop and take effect there, in
 *   the order one thread called them. tcp_client_new() and the setters
 *   may run in any one thread before the first connect (the client is
 *   not shared yet); everything else is loop thread only.
 * - A connect while connected does nothing; a connect while a disconnect
 *   is under way connects again once the old connection has closed.
 * - Reconnection (tcp_client_set_retry()): when the connection is lost
 *   (the peer closed, a reset, an error), the connector starts again after
 *   a random wait below its initial delay, so that clients cut off at once
 *   do not all come back at once; never after tcp_client_disconnect() or
 *   tcp_client_stop(), which end the wish to be connected until the next
 *   tcp_client_connect().
 * - tcp_client_free() stops connecting (no timer, channel or fd of the
 *   connector is left) and lets the connection go: it is closed in the
 *   client's loop and its down callback runs there, as tcp_server_free()
 *   does. In the loop's thread that happens after the current batch of
 *   events, so free may be called from the client's own callbacks. From
 *   any other thread free waits until the loop has done all of it, so the
 *   client's loop must be running; when it returns no callback of the
 *   client runs any more. That last down callback may still call the
 *   client's functions (a reconnect-on-down callback is common): after
 *   free they do nothing. From anywhere else the client is gone.
 */
#ifndef MUDUO_NET_TCP_CLIENT_H
#define MUDUO_NET_TCP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "net/inet_address.h"
#include "net/tcp_conn.h"

struct event_loop;
struct tcp_client;

/** @brief Longest client name, with the NUL (longer names are cut). */
#define TCP_CLIENT_NAME_MAX 64

/** @brief Connecting failed with an error that retrying cannot cure (a
 * negative errno: see connector.h); the client stopped connecting. */
typedef void tcp_client_error_fn(struct tcp_client *client, int err,
                                 void *ctx);

/**
 * @brief A client of @p server in @p loop, idle until tcp_client_connect().
 * Connections are named "<name>-<server ip:port>#<n>".
 * @return NULL with errno = ENOMEM.
 */
struct tcp_client *tcp_client_new(struct event_loop *loop,
                                  const struct inet_address *server,
                                  const char *name);

/** @brief The callbacks of every connection of the client (copied). */
void tcp_client_set_callbacks(struct tcp_client *client,
                              const struct tcp_callbacks *callbacks);

/** @brief Called when connecting fails for good (see tcp_client_error_fn). */
void tcp_client_set_error_callback(struct tcp_client *client,
                                   tcp_client_error_fn *fn, void *ctx);

/** @brief Reconnect after a lost connection (default: no). */
void tcp_client_set_retry(struct tcp_client *client, bool on);

/** @brief The connector's retry delays (connector_set_retry_delays()).
 * @return 0 or -EINVAL. */
int tcp_client_set_retry_delays(struct tcp_client *client,
                                int64_t initial_us, int64_t max_us);

/** @brief Binds the client's sockets to @p local before connecting. */
void tcp_client_set_local_address(struct tcp_client *client,
                                  const struct inet_address *local);

/** @brief Starts connecting (retrying refusals). Thread-safe.
 * @return 0, or an error of event_loop_queue() from another thread. */
int tcp_client_connect(struct tcp_client *client);

/** @brief Graceful close: the connection's output is flushed, then FIN
 * (tcp_conn_shutdown()); no reconnection afterwards. Also stops a
 * connect in progress. Thread-safe. @return as tcp_client_connect(). */
int tcp_client_disconnect(struct tcp_client *client);

/** @brief Stops connecting (the attempt in progress, a pending retry) and
 * reconnecting; an established connection stays. Thread-safe.
 * @return as tcp_client_connect(). */
int tcp_client_stop(struct tcp_client *client);

/** @brief The current connection with a new reference (drop it with
 * tcp_conn_unref()), or NULL. Thread-safe. */
struct tcp_conn *tcp_client_connection(struct tcp_client *client);

/** @brief Stops, lets the connection go and frees (see the contract).
 * Thread-safe. */
void tcp_client_free(struct tcp_client *client);

/** @brief The client's name. Immutable. */
const char *tcp_client_name(const struct tcp_client *client);
/** @brief The client's loop. Immutable. */
struct event_loop *tcp_client_loop(const struct tcp_client *client);
/** @brief True when it will reconnect after a lost connection. */
bool tcp_client_retry(const struct tcp_client *client);

#endif /* MUDUO_NET_TCP_CLIENT_H */
