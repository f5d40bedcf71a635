/**
 * @file broadcast_server.h
 * @brief A broadcast server: every line a client sends goes to every
 * connected client, on every I/O loop, the sender included.
 *
 * Protocol: lines ending in '\n', at most BROADCAST_LINE_MAX bytes before
 * it.
 * - On connecting, a client gets `welcome\n`. From then on it receives
 *   every line broadcast (by any client, or by broadcast_server_send()),
 *   until it leaves.
 * - A line a client sends is broadcast as it is, '\n' included. A line
 *   longer than BROADCAST_LINE_MAX closes the sender's connection.
 *
 * Guarantees
 * - Every connection that has been sent its welcome receives every line
 *   broadcast after that, and the lines of one sender (a connection, or
 *   one thread calling broadcast_server_send()) in the order they were
 *   sent. Lines of different senders may interleave differently on
 *   different connections.
 * - A client that leaves stops receiving; nothing of it is kept.
 * - There is no bound on what waits for a slow reader (see the high-water
 *   callback in tcp_conn.h for how one would cut such a reader off).
 *
 * Threads and ownership
 * - The server owns a tcp_server on the base loop given to
 *   broadcast_server_new(), with @p io_threads I/O loops: the base loop
 *   only accepts, every connection lives in an I/O loop. Each loop keeps the
 * list of its own connections and touches it in its thread only; a line reaches
 * the other loops as a functor queued to each of them.
 * - broadcast_server_new(), _start(), _listen_address() and _free(): the
 *   base loop's thread only. broadcast_server_send() and
 *   broadcast_server_connection_count(): thread-safe, but not while
 *   broadcast_server_free() runs.
 * - broadcast_server_free() closes every connection and stops the I/O
 *   threads; lines still on their way are dropped. It returns when
 *   nothing of the server runs any more.
 */
#ifndef EXERCISES_CH04_BROADCAST_SERVER_H
#define EXERCISES_CH04_BROADCAST_SERVER_H

#include <stddef.h>

#include "net/inet_address.h"

struct event_loop;
struct broadcast_server;

/** @brief Longest line, without its '\n'. */
#define BROADCAST_LINE_MAX 512
/** @brief Most I/O threads. */
#define BROADCAST_MAX_IO_THREADS 64

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port)
 * with @p io_threads I/O loops (1 to BROADCAST_MAX_IO_THREADS). It accepts
 * once started.
 * @return the server, or NULL with errno set (EINVAL, ENOMEM, or the error
 * of tcp_server_new()).
 */
struct broadcast_server *
broadcast_server_new(struct event_loop *loop,
                     const struct inet_address *listen_addr, int io_threads);

/** @brief Starts the I/O threads and listening.
 * @return 0 or a negative errno. */
int broadcast_server_start(struct broadcast_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int broadcast_server_listen_address(const struct broadcast_server *server,
                                    struct inet_address *addr);

/**
 * @brief Broadcasts @p line (@p len bytes, without '\n'; the server adds
 * it) to every client. Thread-safe: from any thread, loop or not.
 * @return 0 once handed to every loop; -EINVAL when @p len is over
 * BROADCAST_LINE_MAX or the line holds a '\n'; -ENOMEM (the line may
 * then reach only some of the clients).
 */
int broadcast_server_send(struct broadcast_server *server, const char *line,
                          size_t len);

/** @brief Connections the server holds now. Thread-safe. */
size_t broadcast_server_connection_count(const struct broadcast_server *server);

/** @brief Closes every connection, stops the I/O threads, frees the
 * server (NULL is ignored). */
void broadcast_server_free(struct broadcast_server *server);

#endif /* EXERCISES_CH04_BROADCAST_SERVER_H */
