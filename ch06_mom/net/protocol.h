/**
 * @file protocol.h
 * @brief The protocol adapter: a connection seen as a protocol instance
 * with three operations (made, data received, lost), one instance per
 * connection, built by a factory; with per-connection delayed calls.
 *
 * Contract
 * - What it is: an implementation of struct tcp_callbacks. It sits over
 *   an ordinary tcp_server or tcp_client (protocol_server_attach(),
 *   protocol_client_attach()), which keep their whole API: start,
 *   threads, connect, retry and free are theirs. Only their callbacks and
 *   the tcp_conn context of each connection belong to the adapter.
 * - Input: data_received gets each chunk as it arrived (@p data, @p len)
 *   and is deemed to consume all of it; the adapter drops the chunk when
 *   the operation returns. This is the difference from the tcp_callbacks
 *   style, where the message callback gets the connection's input buffer
 *   and leaves a partial message in it for next time: a protocol that
 *   needs whole messages keeps the partial one itself, in its state.
 * - The factory (struct protocol_factory) says which operations and how
 *   many bytes of per-connection state. For each connection the adapter
 *   allocates the instance and its state in one block (the state zeroed
 *   and aligned for any type), calls connection_made, and frees the block
 *   after connection_lost returns. connection_made is the constructor of
 *   the state and connection_lost its destructor: whatever the state owns
 *   (buffers, heap memory) the user frees there. The adapter owns the
 *   block; the user never frees it.
 * - Order, per instance: connection_made once; data_received zero or
 *   more times; connection_lost exactly once, last. No operation and no
 *   delayed call runs nested inside another one of the same instance, and
 *   none runs after connection_lost. connection_lost runs whatever ended
 *   the connection: the peer closed or reset it, protocol_close() or
 *   protocol_abort(), or the owner went away (tcp_server_free(),
 *   tcp_client_free()). The peer's end of input ends the connection (after
 *   our queued output has been written): there is no half-open protocol.
 * - Threads: every operation and delayed call of an instance runs in the
 *   loop of its connection: with a server's I/O threads, each connection's
 *   protocol runs in its own I/O loop, so instances of one factory run in
 *   several threads at once, and the factory's ctx must be guarded by the
 *   user. Every function here is loop thread only (asserted), except
 *   protocol_write(), which is thread-safe as tcp_conn_send() is, provided
 *   the instance is still alive: the caller must know that its
 *   connection_lost has not returned (for example: a list of live
 *   instances under a lock that connection_lost also takes).
 * - protocol_close() is graceful: output already written stays queued and
 *   is sent, then FIN; input that arrives afterwards is read and dropped
 *   (data_received is not called again) until the peer closes, and then
 *   connection_lost runs. A peer that never closes its side is cut off
 *   after the factory's close timeout. Called inside data_received:
 *   what the operation wrote before is sent first, writes after it are
 *   refused (-ENOTCONN), data_received is not called again, and
 *   connection_lost comes later, from the loop, never from inside
 *   protocol_close(). A half-close through the owner instead
 *   (tcp_client_disconnect(), tcp_conn_shutdown()) keeps delivering input
 *   to data_received until the peer closes: that is how a client waits
 *   for the answer to a request that ends with its end of output.
 * - Delayed calls (protocol_call_later()) are timers of the connection's
 *   loop that the instance keeps by id. When the connection is lost, every
 *   call still pending is cancelled before connection_lost runs, so a
 *   delayed call never sees a dead instance; its argument is the user's
 *   and is not freed. They run only while the loop runs: if the loop quits
 *   they wait, and they are cancelled when the connection is lost, which
 *   tcp_server_free() or tcp_client_free() then bring about (at the latest
 *   in event_loop_free(), which runs the queued destructions).
 * - The factory is used by pointer: it must stay valid until the last
 *   connection_lost of its connections has run (after tcp_server_free()
 *   with I/O threads; after event_loop_free() otherwise). A static const
 *   factory is simplest.
 */
#ifndef MUDUO_NET_PROTOCOL_H
#define MUDUO_NET_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

struct event_loop;
struct protocol;
struct tcp_callbacks;
struct tcp_client;
struct tcp_conn;
struct tcp_server;

/** @brief How long, after protocol_close(), the adapter waits for the
 * peer to close its side before it cuts the connection off, unless the
 * factory names another timeout. */
#define PROTOCOL_CLOSE_TIMEOUT_US ((int64_t)10 * 1000 * 1000)

/** @brief The connection is up; the state is zeroed. Initialise it. */
typedef void protocol_made_fn(struct protocol *p);

/** @brief Bytes arrived: @p len > 0 of them at @p data, valid until the
 * operation returns; all of them are consumed. */
typedef void protocol_received_fn(struct protocol *p, const void *data,
                                  size_t len);

/** @brief The connection is gone: free what the state owns. Writes fail
 * now (-ENOTCONN) and delayed calls can no longer be made. */
typedef void protocol_lost_fn(struct protocol *p);

/** @brief A delayed call (protocol_call_later()), with its argument. */
typedef void protocol_call_fn(struct protocol *p, void *arg);

/** @brief The operations of a protocol; any may be NULL. */
struct protocol_ops {
    protocol_made_fn *connection_made;   /**< First. */
    protocol_received_fn *data_received; /**< For each chunk of input. */
    protocol_lost_fn *connection_lost;   /**< Last. */
};

/** @brief What each connection gets: its operations, the size of its
 * state, and context shared by every instance. */
struct protocol_factory {
    const struct protocol_ops *ops; /**< Must not be NULL. */
    size_t state_size; /**< Bytes of per-connection state (0: none). */
    void *ctx;         /**< Shared; protocol_factory_ctx() returns it. */
    /** How long protocol_close() waits for the peer: 0 means
     * PROTOCOL_CLOSE_TIMEOUT_US, a negative value forever. */
    int64_t close_timeout_us;
};

/**
 * @brief Fills @p callbacks with the adapter's callbacks for connections
 * built by @p factory: for an owner other than tcp_server and tcp_client.
 */
void protocol_callbacks(const struct protocol_factory *factory,
                        struct tcp_callbacks *callbacks);

/** @brief Makes every connection of @p server a protocol instance of
 * @p factory (sets the server's callbacks). Before tcp_server_start(). */
void protocol_server_attach(struct tcp_server *server,
                            const struct protocol_factory *factory);

/** @brief Makes every connection of @p client (each reconnection too, a
 * fresh instance each time) a protocol instance of @p factory (sets the
 * client's callbacks). Before tcp_client_connect(). */
void protocol_client_attach(struct tcp_client *client,
                            const struct protocol_factory *factory);

/** @brief Sends @p len bytes (tcp_conn_send()). Thread-safe on an instance
 * known to be alive (see the contract). @return as tcp_conn_send():
 * -ENOTCONN once closing or lost. */
int protocol_write(struct protocol *p, const void *data, size_t len);

/** @brief Graceful close: queued output, then FIN, then connection_lost
 * when the peer closes or the close timeout expires (see the contract).
 * Input from now on is dropped. Idempotent. */
void protocol_close(struct protocol *p);

/** @brief Closes now, dropping queued output and input; connection_lost
 * follows from the loop, after the current operation. Idempotent. */
void protocol_abort(struct protocol *p);

/**
 * @brief Runs @p fn(p, @p arg) once, @p delay_us from now, in the
 * connection's loop, unless cancelled or the connection is lost first.
 * Allowed until connection_lost starts.
 * @return an id (> 0) for protocol_cancel(), or 0 with errno set:
 * ENOTCONN (the connection is lost), EINVAL (@p fn is NULL), ENOMEM.
 */
uint64_t protocol_call_later(struct protocol *p, int64_t delay_us,
                             protocol_call_fn *fn, void *arg);

/** @brief Cancels delayed call @p id of this instance.
 * @return 0, or -ENOENT when it is not pending (it ran, was cancelled, or
 * is not this instance's). */
int protocol_cancel(struct protocol *p, uint64_t id);

/** @brief Delayed calls of this instance still pending. */
size_t protocol_pending_calls(const struct protocol *p);

/** @brief The per-connection state (state_size bytes, aligned for any
 * type), or NULL when the factory asked for none. */
void *protocol_state(const struct protocol *p);

/** @brief The factory's ctx. */
void *protocol_factory_ctx(const struct protocol *p);

/** @brief The connection, for what the adapter does not wrap (addresses,
 * name, TCP_NODELAY, output bytes, codec_send()). Valid until
 * connection_lost returns. Its callbacks and context are the adapter's. */
struct tcp_conn *protocol_connection(const struct protocol *p);

/** @brief The loop the instance runs in. */
struct event_loop *protocol_loop(const struct protocol *p);

#endif /* MUDUO_NET_PROTOCOL_H */
