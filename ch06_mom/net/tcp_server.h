/**
 * @file tcp_server.h
 * @brief A TCP server: accepts connections on one address and keeps a
 * table of them, calling the user's callbacks for each.
 *
 * Contract
 * - Owns its acceptor, its pool of I/O loop threads, and one reference to
 *   each connection in its table.
 * - The server's loop is the base loop: it accepts. Each new connection
 *   lives in a loop of the pool (round-robin), or in the base loop when
 *   the pool has no threads; its callbacks run in that loop's thread, and
 *   it is destroyed there.
 * - The table is shared by the loops, under a lock: the base loop adds a
 *   connection, and the connection's own loop removes it, so a close
 *   stays in its loop.
 * - Base loop thread only, except tcp_server_start() and
 *   tcp_server_connection_count() (thread-safe).
 * - Connection names are "<server name>-<listen ip:port>#<n>", n counting
 *   up from 1: unique for the life of the server.
 * - A connection leaves the table in its close path; its destruction runs
 *   after the current batch of events (see tcp_conn.h).
 * - tcp_server_free() stops accepting, closes every connection (their
 *   disconnect callbacks run in their loops, after the current batch) and
 *   stops the I/O threads. Call it in the base loop's thread; it may be
 *   called from the server's callbacks that run there.
 */
#ifndef MUDUO_NET_TCP_SERVER_H
#define MUDUO_NET_TCP_SERVER_H

#include <stddef.h>

#include "net/callbacks.h"
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

/**
 * @brief Sets the number of I/O loop threads (default 0: everything in the
 * base loop). Before tcp_server_start().
 */
void tcp_server_set_thread_count(struct tcp_server *server, int threads);

/** @brief A callback that each I/O thread runs with its loop before it
 * starts. Before tcp_server_start(). */
void tcp_server_set_thread_init(struct tcp_server *server,
                                event_loop_thread_init_fn *init, void *ctx);

/**
 * @brief Starts the I/O threads and listening. Idempotent, and may be
 * retried after a failure (the threads, once started, are kept).
 * Thread-safe: from another thread it queues the start to the base loop;
 * a server freed before the loop gets to it is not started.
 * @return 0 or a negative errno (in the base loop's thread); from another
 * thread, 0 once queued (a failure is then logged).
 */
int tcp_server_start(struct tcp_server *server);

/** @brief The address it listens on, with the real port. @return 0 or a
 * negative errno. */
int tcp_server_listen_address(const struct tcp_server *server,
                              struct inet_address *addr);

/** @brief Connections in the table. Thread-safe. */
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
