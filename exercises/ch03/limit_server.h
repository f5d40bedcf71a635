/**
 * @file limit_server.h
 * @brief Exercise 03.2: an echo server that serves at most N clients at
 * once and turns the others away politely.
 *
 * The chapter's acceptor answers a process out of fds by accepting a
 * connection and closing it at once; its seventh answer to that problem
 * is to keep a lower limit of one's own and refuse connections above it.
 * This server does that, and says why before it closes.
 *
 * Contract
 * - At most max_clients connections are served (echoed) at once. A
 *   connection beyond them is refused: it receives
 *   LIMIT_SERVER_FULL_REPLY, then the end of the connection in order (end
 *   of file, not a reset), and nothing it sends is echoed: its input is
 *   read and thrown away until it closes.
 * - A refused connection never holds a place, not even while it closes.
 *   A served connection gives its place back when its close path has run
 *   (its down callback); the next connection accepted after that is
 *   served.
 * - limit_server_served() counts the connections served now;
 *   limit_server_refused() every connection refused so far.
 * - The server owns its tcp_server and so its connections. Everything
 *   runs in the loop's thread.
 * - limit_server_free() may be called with connections open: it closes
 *   them (their ends reach the clients once the loop runs again).
 */
#ifndef EXERCISES_CH03_LIMIT_SERVER_H
#define EXERCISES_CH03_LIMIT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/event_loop.h"
#include "net/inet_address.h"

/** @brief What a refused connection receives before its end. */
#define LIMIT_SERVER_FULL_REPLY "-ERR server full\n"

struct limit_server;

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port)
 * that serves at most @p max_clients connections at once.
 * @return the server, or NULL with errno set: EINVAL when @p max_clients
 * is 0, or the error of tcp_server_new().
 */
struct limit_server *limit_server_new(struct event_loop *loop,
                                      const struct inet_address *listen_addr,
                                      size_t max_clients);

/** @brief Starts listening. @return 0 or a negative errno. */
int limit_server_start(struct limit_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int limit_server_listen_address(const struct limit_server *server,
                                struct inet_address *addr);

/** @brief Connections being served now (at most max_clients). */
size_t limit_server_served(const struct limit_server *server);

/** @brief Connections refused since the server was created. */
uint64_t limit_server_refused(const struct limit_server *server);

/** @brief Closes every connection and frees the server. NULL is a no-op. */
void limit_server_free(struct limit_server *server);

#endif /* EXERCISES_CH03_LIMIT_SERVER_H */
