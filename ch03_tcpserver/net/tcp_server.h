/**
 * @file tcp_server.h
 * @brief A TCP server: accepts connections on one address and keeps a
 * table of them, calling the user's callbacks for each.
 *
 * Contract
 * - Owns its acceptor and one reference to each connection in its table.
 * - Loop thread only (in this chapter everything runs in the server's
 *   loop; chapter 4 adds a pool of I/O loops).
 * - Connection names are "<server name>-<listen ip:port>#<n>", n counting
 *   up from 1: unique for the life of the server.
 * - A connection leaves the table in its close path; its destruction runs
 *   after the current batch of events (see tcp_conn.h).
 * - tcp_server_free() stops accepting and closes every connection (their
 *   disconnect callbacks run, after the current batch). It may be called
 *   from inside the server's own callbacks.
 */
#ifndef MUDUO_NET_TCP_SERVER_H
#define MUDUO_NET_TCP_SERVER_H

#include <stddef.h>

#include "net/inet_address.h"
#include "net/tcp_conn.h"

struct event_loop;
struct tcp_server;

/** @brief tcp_server_new() flag: set SO_REUSEPORT on the listening
 * socket, so that several servers can share the port. */
#define TCP_SERVER_REUSE_PORT 1

/** @brief Longest server name, with the NUL (longer names are cut). */
#define TCP_SERVER_NAME_MAX 64

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port;
 * see tcp_server_listen_address()). It accepts only after start.
 * @return NULL with errno set (EADDRINUSE, EACCES, ENOMEM, ...).
 */
struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *listen_addr,
                                  const char *name, int flags);

/** @brief Sets the callbacks every new connection gets (copied). Call it
 * before tcp_server_start(). */
void tcp_server_set_callbacks(struct tcp_server *server,
                              const struct tcp_callbacks *callbacks);

/** @brief Starts listening. Idempotent. @return 0 or a negative errno. */
int tcp_server_start(struct tcp_server *server);

/** @brief The address it listens on, with the real port. @return 0 or a
 * negative errno. */
int tcp_server_listen_address(const struct tcp_server *server,
                              struct inet_address *addr);

/** @brief Connections in the table. */
size_t tcp_server_connection_count(const struct tcp_server *server);

/** @brief Connections refused at once because the process had no fd left
 * (see acceptor.h). */
uint64_t tcp_server_shed_count(const struct tcp_server *server);

/** @brief The server's name. */
const char *tcp_server_name(const struct tcp_server *server);

/** @brief The server's loop. */
struct event_loop *tcp_server_loop(const struct tcp_server *server);

/** @brief Stops accepting, closes every connection, frees the server. */
void tcp_server_free(struct tcp_server *server);

#endif /* MUDUO_NET_TCP_SERVER_H */
