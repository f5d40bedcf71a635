/**
 * @file tcp_conn.h
 * @brief One established TCP connection: its socket, buffers, callbacks,
 * state machine and reference count.
 *
 * Contract
 * - Created by its owner (a tcp_server here; a tcp_client in chapter 5)
 *   around a connected fd, which the connection owns from then on: the fd
 *   is closed when the last reference is dropped, so a leaked reference
 *   shows up as a leaked fd.
 * - Reference counted (atomic). References are held by the owner's table,
 *   by every queued functor that carries the connection, by the dispatch
 *   of its own events (the tie: see channel_tie()), and by any user who
 *   keeps the pointer beyond a callback (tcp_conn_ref/tcp_conn_unref).
 * - State machine: CONNECTING -> CONNECTED (tcp_conn_established) ->
 *   DISCONNECTING (shutdown or force_close asked, or the peer closed its
 *   side while output is still queued) -> DISCONNECTED (the close path
 *   ran). A connection is never reused.
 * - Nothing queued is lost on a graceful close: tcp_conn_shutdown() sends
 *   FIN only after the output has drained, and when the peer closes its
 *   sending side first, queued output is still written (then FIN, then
 *   the close path).
 * - The close path, whatever started it (peer close, reset, error,
 *   force_close): state DISCONNECTED, channel disabled, the user's
 *   connection callback (now disconnected), then the owner's close
 *   callback, which takes it out of its table and queues
 *   tcp_conn_destroyed() with the table's reference; after the current
 *   batch, that removes the channel and drops the reference.
 * - Loop thread only: every function must be called in the thread of the
 *   connection's loop, except those marked "Thread-safe": tcp_conn_send,
 *   tcp_conn_send_buffer (with a buffer the caller owns), tcp_conn_shutdown,
 *   tcp_conn_force_close, tcp_conn_ref/unref, the state queries and the
 *   getters of immutable fields (name, addresses, loop). From another
 *   thread, send copies the bytes into a functor that holds a reference
 *   and runs in the loop; bytes sent by one thread stay in order; a send
 *   that arrives after the connection closed is dropped. The caller must
 *   hold a reference for as long as it calls these.
 * - A reference keeps the connection, not its loop. Once the connection
 *   is closed, send, shutdown and force_close return without touching
 *   the loop, so they are safe on a kept reference even after the owner
 *   freed the loop (tcp_server_free() stops its I/O loops). Calls from
 *   other threads must not race with that free itself.
 * - The user callbacks of struct tcp_callbacks run in the loop thread.
 *   Write-complete and high-water callbacks are queued, never called from
 *   inside tcp_conn_send(), so a callback may send without recursion.
 * - SIGPIPE never kills the process: writes use MSG_NOSIGNAL.
 */
#ifndef MUDUO_NET_TCP_CONN_H
#define MUDUO_NET_TCP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/list.h"
#include "net/buffer.h"
#include "net/inet_address.h"

struct event_loop;
struct tcp_conn;

/** @brief Output queued beyond which the high-water callback fires,
 * unless the callbacks name another mark. */
#define TCP_DEFAULT_HIGH_WATER_MARK ((size_t)64 * 1024 * 1024)
/** @brief Longest connection name, with the NUL (longer names are cut). */
#define TCP_CONN_NAME_MAX 128

/** @brief Where a connection is in its life. */
enum tcp_conn_state {
    TCP_CONNECTING,    /**< Created, not yet established. */
    TCP_CONNECTED,     /**< Established; reads and writes. */
    TCP_DISCONNECTING, /**< Winding down: shutdown or force_close asked,
                            or the peer closed with output queued. */
    TCP_DISCONNECTED,  /**< The close path ran; only references remain. */
};

/** @brief Connection up or down: tcp_conn_connected() tells which. */
typedef void tcp_conn_fn(struct tcp_conn *conn, void *ctx);

/**
 * @brief Bytes arrived. They are in @p input (the connection's input
 * buffer); consume what you use (buffer_retrieve), leave the rest for the
 * next call. @p receive_time_us is when the poller returned.
 */
typedef void tcp_message_fn(struct tcp_conn *conn, struct buffer *input,
                            int64_t receive_time_us, void *ctx);

/** @brief Everything queued for output has been handed to the kernel.
 * Runs after the callback that sent the data, and only if the output is
 * still empty then; never after the down callback. */
typedef void tcp_write_complete_fn(struct tcp_conn *conn, void *ctx);

/** @brief Output queued crossed the high-water mark upwards; @p queued is
 * the amount right after the crossing. Once per crossing; runs after the
 * callback that sent the data, never after the down callback. */
typedef void tcp_high_water_fn(struct tcp_conn *conn, size_t queued,
                               void *ctx);

/** @brief The user's callbacks, shared by the connections of one server.
 * Any of them may be NULL (a NULL message callback discards input). */
struct tcp_callbacks {
    tcp_conn_fn *on_connection;             /**< Up and down. */
    tcp_message_fn *on_message;             /**< Input arrived. */
    tcp_write_complete_fn *on_write_complete; /**< Output drained. */
    tcp_high_water_fn *on_high_water;       /**< Output piling up. */
    size_t high_water_mark; /**< 0: TCP_DEFAULT_HIGH_WATER_MARK. */
    void *ctx;              /**< Passed to every callback. */
};

/** @brief The owner's close callback (server, client): called last in the
 * close path; the owner drops the connection from its table there. */
typedef void tcp_close_fn(struct tcp_conn *conn, void *owner);

/**
 * @brief Wraps the connected @p fd (which it now owns) in a connection in
 * state CONNECTING, with one reference, the caller's.
 * @return NULL with errno = ENOMEM (the fd is then still the caller's).
 */
struct tcp_conn *tcp_conn_new(struct event_loop *loop, const char *name,
                              int fd, const struct inet_address *local,
                              const struct inet_address *peer);

/** @brief Takes a reference. Thread-safe. */
void tcp_conn_ref(struct tcp_conn *conn);
/** @brief Drops a reference; the last one closes the fd and frees.
 * Thread-safe. */
void tcp_conn_unref(struct tcp_conn *conn);

/** @name For the owner (server, client)
 * @{ */
/** @brief Sets the user callbacks (copied). Before tcp_conn_established. */
void tcp_conn_set_callbacks(struct tcp_conn *conn,
                            const struct tcp_callbacks *callbacks);
/** @brief Sets (or, with NULL, clears) the owner's close callback. */
void tcp_conn_set_close_fn(struct tcp_conn *conn, tcp_close_fn *fn,
                           void *owner);
/** @brief CONNECTING -> CONNECTED: starts reading, calls the connection
 * callback. */
void tcp_conn_established(struct tcp_conn *conn);
/** @brief The end: if still connected (the owner is going away), runs the
 * close path's user part; then removes the channel from the loop. Call
 * it once, outside the connection's own dispatch (from a queued functor).
 */
void tcp_conn_destroyed(struct tcp_conn *conn);
/** @brief The owner's table link (an intrusive list node). */
struct list_node *tcp_conn_table_node(struct tcp_conn *conn);
/** @brief The connection that owns the table link @p node. */
struct tcp_conn *tcp_conn_from_table_node(struct list_node *node);
/** @} */

/**
 * @brief Sends @p len bytes: written at once if nothing is queued, the
 * rest queued and written as the socket drains. Sending 0 bytes (@p data
 * may then be NULL) does nothing and returns 0 when connected. Thread-safe (from another
 * thread, the bytes are copied and sent by the loop; the result then only
 * says whether they were handed over).
 * @return 0; -ENOTCONN (not connected: nothing sent); -EPIPE (the peer is
 * gone: nothing more will be sent); -ENOMEM (the connection is then
 * closed, since part of the data may be lost); from another thread also
 * -ENOMEM or -ESHUTDOWN when the bytes could not be handed over.
 */
int tcp_conn_send(struct tcp_conn *conn, const void *data, size_t len);

/** @brief Sends the readable bytes of @p buf and consumes them.
 * @return as tcp_conn_send(). */
int tcp_conn_send_buffer(struct tcp_conn *conn, struct buffer *buf);

/**
 * @brief Graceful close of our side: after every queued byte has been
 * written, sends FIN (SHUT_WR). Reading goes on until the peer closes.
 * Thread-safe.
 */
void tcp_conn_shutdown(struct tcp_conn *conn);

/** @brief Closes now, dropping queued output: no more reads or writes,
 * even later in the current batch. After the current callback returns the
 * socket is shut down both ways (the peer sees the end even while
 * references keep the fd open) and the close path runs. Thread-safe. */
void tcp_conn_force_close(struct tcp_conn *conn);

/** @brief Resumes reading (flow control). */
void tcp_conn_start_read(struct tcp_conn *conn);
/** @brief Stops reading: input waits in the kernel, and the peer is slowed
 * down by TCP flow control. The connection still hears a reset (and
 * closes); when both sides have closed in order it waits for
 * tcp_conn_start_read(), so that no input is lost. */
void tcp_conn_stop_read(struct tcp_conn *conn);
/** @brief True while reading is on. */
bool tcp_conn_is_reading(const struct tcp_conn *conn);

/** @brief Sets TCP_NODELAY. @return 0 or a negative errno. */
int tcp_conn_set_tcp_nodelay(struct tcp_conn *conn, bool on);

/** @brief Attaches a user pointer (not owned). */
void tcp_conn_set_context(struct tcp_conn *conn, void *context);
/** @brief The user pointer. */
void *tcp_conn_context(const struct tcp_conn *conn);

/** @brief The current state. Thread-safe. */
enum tcp_conn_state tcp_conn_state(const struct tcp_conn *conn);
/** @brief True in state CONNECTED. */
bool tcp_conn_connected(const struct tcp_conn *conn);
/** @brief True in state DISCONNECTED. */
bool tcp_conn_disconnected(const struct tcp_conn *conn);

/** @brief The unique name given by the owner. Immutable. */
const char *tcp_conn_name(const struct tcp_conn *conn);
/** @brief Our end's address. Immutable. */
const struct inet_address *tcp_conn_local_address(const struct tcp_conn *c);
/** @brief The peer's address. Immutable. */
const struct inet_address *tcp_conn_peer_address(const struct tcp_conn *c);
/** @brief The connection's loop. Immutable. */
struct event_loop *tcp_conn_loop(const struct tcp_conn *conn);

/** @brief The input buffer (what the message callback receives). */
struct buffer *tcp_conn_input(struct tcp_conn *conn);
/** @brief Bytes queued for output, not yet written to the socket. */
size_t tcp_conn_output_bytes(const struct tcp_conn *conn);

/** @brief A state's name, for logs: "connected", ... */
const char *tcp_conn_state_name(enum tcp_conn_state state);

#endif /* MUDUO_NET_TCP_CONN_H */
