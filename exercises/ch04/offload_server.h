/**
 * @file offload_server.h
 * @brief A server that hands each request to a worker thread and sends
 * the answer from the connection's own loop: the I/O loops never run the
 * (slow) work themselves.
 *
 * Protocol: a request is a line ending in '\n', at most OFFLOAD_LINE_MAX
 * bytes before it; a longer one closes the connection. The reply is
 * whatever the work function appended to its reply buffer (a line, say),
 * sent as it is.
 *
 * Guarantees
 * - The work function runs in a worker thread, never in an I/O thread
 *   nor in the base loop's thread.
 * - The replies of one connection come in the order of its requests.
 * - A slow request delays only its own connection's later replies: the
 *   other connections, on the same I/O loop too, are answered meanwhile
 *   as long as a worker is free.
 * - A client that leaves while its request is being worked on costs
 *   nothing: the reply is dropped (and counted:
 *   offload_server_dropped_replies()), the connection and its fd go as
 *   soon as the work is done.
 *
 * Threads and ownership
 * - The server owns a tcp_server on the base loop given to
 *   offload_server_new(), with options->io_threads I/O loops (the base
 *   loop only accepts), and options->workers worker threads.
 * - A request holds a reference to its connection while it is away in a
 *   worker: a reference keeps the connection, not its loop.
 * - offload_server_new(), _start(), _listen_address() and _free(): the
 *   base loop's thread only. offload_server_connection_count() and
 *   offload_server_dropped_replies(): thread-safe.
 * - offload_server_free() closes every connection and stops every
 *   thread. It waits for the work function calls in progress to return;
 *   requests not started by then are dropped. When it returns, the work
 *   function is not running and will not be called again.
 */
#ifndef EXERCISES_CH04_OFFLOAD_SERVER_H
#define EXERCISES_CH04_OFFLOAD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/buffer.h"
#include "net/inet_address.h"

struct event_loop;
struct offload_server;

/** @brief Longest request, without its '\n'. */
#define OFFLOAD_LINE_MAX 1024
/** @brief Most I/O threads, and most workers. */
#define OFFLOAD_MAX_THREADS 64

/**
 * @brief The work: called in a worker thread with one request (@p len
 * bytes, without its '\n', not NUL-terminated); appends the reply to
 * @p reply. Several workers call it at once, with the ctx of
 * struct offload_options.
 */
typedef void offload_work_fn(const char *request, size_t len,
                             struct buffer *reply, void *ctx);

/** @brief What offload_server_new() needs. */
struct offload_options {
    int io_threads;        /**< I/O loops, 1 to OFFLOAD_MAX_THREADS. */
    int workers;           /**< Worker threads, 1 to OFFLOAD_MAX_THREADS. */
    offload_work_fn *work; /**< The work (required). */
    void *ctx;             /**< Passed to @p work. */
};

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port).
 * It accepts, and its threads run, once started.
 * @return the server, or NULL with errno set (EINVAL, ENOMEM, or the error
 * of tcp_server_new()).
 */
struct offload_server *
offload_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr,
                   const struct offload_options *options);

/** @brief Starts the workers, the I/O threads and listening.
 * @return 0 or a negative errno. */
int offload_server_start(struct offload_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int offload_server_listen_address(const struct offload_server *server,
                                  struct inet_address *addr);

/** @brief Connections the server holds now. Thread-safe. */
size_t offload_server_connection_count(const struct offload_server *server);

/** @brief Replies dropped because their connection had closed by the
 * time the work was done. Thread-safe. */
uint64_t offload_server_dropped_replies(const struct offload_server *server);

/** @brief Closes every connection, stops the workers and the I/O
 * threads, frees the server (NULL is ignored). */
void offload_server_free(struct offload_server *server);

#endif /* EXERCISES_CH04_OFFLOAD_SERVER_H */
