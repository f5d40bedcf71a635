/**
 * @file connector.h
 * @brief The active side of TCP: a non-blocking connect() in a loop that
 * retries with a growing, jittered delay until it has a connected socket.
 *
 * Contract
 * - A connector makes connected sockets; it does not make connections.
 *   Each success hands a connected fd to the connected callback, which
 *   owns it from then on (a tcp_client wraps it in a tcp_conn). Each
 *   attempt uses a fresh socket: a socket whose connect failed cannot be
 *   used again.
 * - Who holds the fd: the connector from socket() until the attempt ends;
 *   on success the callback (ownership moves with the call); on failure
 *   or stop the connector closes it, after removing its channel.
 * - Errors fall in two classes. A refusal, a reset by a listener that
 *   went away, or a passing shortage (ECONNREFUSED, ECONNRESET,
 *   ECONNABORTED, ENOTCONN, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH,
 *   ENETDOWN, EHOSTDOWN, EADDRINUSE, EADDRNOTAVAIL, EAGAIN) closes the
 *   socket and retries after a delay.
 *   A socket connected to itself (see sockets_is_self_connect()) counts
 *   as a refusal. Any other error (EACCES, EPERM, EAFNOSUPPORT, EINVAL,
 *   ...) cannot get better by waiting: the connector closes the socket,
 *   stops, and reports it to the error callback.
 * - The delay starts at the initial delay, doubles after each failure up
 *   to the maximum, and goes back to the initial one after a success or a
 *   restart. Each wait is drawn at random from (delay / 2, delay] (the
 *   jitter), so that many clients cut off at once do not all come back in
 *   the same instant.
 * - connector_start(), connector_restart() and connector_stop() are
 *   thread-safe: from another thread they are queued to the loop and take
 *   effect there, in the order one thread called them. connector_new()
 *   and the setters may run in any one thread before the first start;
 *   everything else is loop thread only, and every callback runs in the
 *   loop thread.
 * - connector_free() (loop thread) stops first: after it returns no timer,
 *   channel or fd of the connector is left, and no callback runs. It may
 *   be called from the connector's own callbacks. Its memory goes after
 *   the current batch of events, or once the last queued request from
 *   another thread has run.
 */
#ifndef MUDUO_NET_CONNECTOR_H
#define MUDUO_NET_CONNECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "net/inet_address.h"

struct event_loop;
struct connector;

/** @brief First retry delay, unless connector_set_retry_delays() says. */
#define CONNECTOR_INITIAL_DELAY_US ((int64_t)500 * 1000)
/** @brief Longest retry delay, unless connector_set_retry_delays() says. */
#define CONNECTOR_MAX_DELAY_US ((int64_t)30 * 1000 * 1000)

/** @brief Connected: @p fd is a connected, non-blocking, close-on-exec
 * socket, now owned by the callee, which must close it (or hand it on).
 * @p local and @p peer are its two addresses (the connector read them to
 * rule out a self-connect), valid during the call. */
typedef void connector_connected_fn(struct connector *connector, int fd,
                                    const struct inet_address *local,
                                    const struct inet_address *peer,
                                    void *ctx);

/** @brief An error that retrying cannot cure (a negative errno); the
 * connector has stopped. connector_start() tries again. */
typedef void connector_error_fn(struct connector *connector, int err,
                                void *ctx);

/** @brief An attempt failed with @p err (a negative errno; -ECONNREFUSED
 * for a self-connect); the next one starts in @p wait_us. For logs,
 * metrics and tests. */
typedef void connector_retry_fn(struct connector *connector, int err,
                                int64_t wait_us, void *ctx);

/** @brief The callbacks; any may be NULL (a NULL connected callback closes
 * the fd). */
struct connector_callbacks {
    connector_connected_fn *on_connected; /**< A connected socket. */
    connector_error_fn *on_error;         /**< Gave up: not retryable. */
    connector_retry_fn *on_retry;         /**< Will try again. */
    void *ctx;                            /**< Passed to each of them. */
};

/**
 * @brief A connector to @p server in @p loop, idle until started.
 * @return NULL with errno = ENOMEM.
 */
struct connector *connector_new(struct event_loop *loop,
                                const struct inet_address *server,
                                const struct connector_callbacks *callbacks);

/**
 * @brief Sets the first and the longest retry delay. Before the first
 * start. @return 0, or -EINVAL unless 0 < @p initial_us <= @p max_us.
 */
int connector_set_retry_delays(struct connector *connector,
                               int64_t initial_us, int64_t max_us);

/** @brief Binds each attempt's socket to @p local before connecting (the
 * outgoing interface, or a fixed port). Before the first start. */
void connector_set_local_address(struct connector *connector,
                                 const struct inet_address *local);

/**
 * @brief Starts connecting, unless an attempt or a retry is already under
 * way. Thread-safe.
 * @return 0, or an error of event_loop_queue() from another thread.
 */
int connector_start(struct connector *connector);

/**
 * @brief Starts again after a connection made by this connector was lost:
 * abandons what is under way, goes back to the initial delay, and makes
 * the first attempt after a random wait below it (so that clients cut
 * off together do not all come back together). Thread-safe.
 * @return as connector_start().
 */
int connector_restart(struct connector *connector);

/**
 * @brief Stops: the attempt in progress is abandoned (its socket closed)
 * and a pending retry cancelled. A socket already handed over is not
 * affected. Thread-safe.
 * @return as connector_start().
 */
int connector_stop(struct connector *connector);

/** @brief Stops and frees (see the contract). Loop thread only. */
void connector_free(struct connector *connector);

/** @brief The address it connects to. Immutable. */
const struct inet_address *connector_server_address(
    const struct connector *connector);

/** @brief The base delay of the next retry (before jitter). */
int64_t connector_retry_delay_us(const struct connector *connector);

/** @brief The connector's loop. Immutable. */
struct event_loop *connector_loop(const struct connector *connector);

/**
 * @brief True for the errors that a later attempt may not get (a refusal,
 * a passing shortage of ports or routes); false for those that will
 * repeat. Exposed so that the classes can be tested and documented.
 */
bool connector_error_is_retryable(int err);

#endif /* MUDUO_NET_CONNECTOR_H */
