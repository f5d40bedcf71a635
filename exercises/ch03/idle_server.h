/**
 * @file idle_server.h
 * @brief Exercise 03.3: an echo server that closes connections idle for
 * too long, with one loop timer per connection.
 *
 * Contract
 * - Echoes what each connection sends.
 * - A connection from which nothing has arrived for idle_timeout_us
 *   (counted from its last input, or from its arrival) is force-closed:
 *   output still queued for it is dropped. Never before its time (the
 *   loop's timers never fire early); possibly a little after.
 * - Each connection's clock is its own: input on one connection does not
 *   keep another one open.
 * - Timers: the server holds one pending loop timer for each open
 *   connection it is not already closing, and none for a connection
 *   whose down callback has run, however it ended. So a closed
 *   connection leaves nothing behind that could fire later or keep its
 *   fd open (event_loop_timer_count() and the fd table show both).
 * - idle_server_connections() counts the open connections (up, and not
 *   yet down); idle_server_closed_idle() the connections closed for being
 *   idle since the server was created.
 * - The server owns its tcp_server and so its connections. Everything
 *   runs in the loop's thread.
 * - idle_server_free() may be called with connections open: it closes
 *   them, and their timers are gone once their down callbacks have run
 *   (when the loop runs again, or is freed).
 */
#ifndef EXERCISES_CH03_IDLE_SERVER_H
#define EXERCISES_CH03_IDLE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/event_loop.h"
#include "net/inet_address.h"

/** @brief Shortest idle timeout accepted: 1 ms. */
#define IDLE_SERVER_MIN_TIMEOUT_US 1000

struct idle_server;

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port)
 * that closes connections idle for @p idle_timeout_us.
 * @return the server, or NULL with errno set: EINVAL when
 * @p idle_timeout_us is below IDLE_SERVER_MIN_TIMEOUT_US, or the error
 * of tcp_server_new().
 */
struct idle_server *idle_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    int64_t idle_timeout_us);

/** @brief Starts listening. @return 0 or a negative errno. */
int idle_server_start(struct idle_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int idle_server_listen_address(const struct idle_server *server,
                               struct inet_address *addr);

/** @brief Connections open now. */
size_t idle_server_connections(const struct idle_server *server);

/** @brief Connections closed because they were idle, since creation. */
uint64_t idle_server_closed_idle(const struct idle_server *server);

/** @brief Closes every connection and frees the server. NULL is a no-op. */
void idle_server_free(struct idle_server *server);

#endif /* EXERCISES_CH03_IDLE_SERVER_H */
