#include "net/tcp_conn.h"

#include "base/assertion.h"
#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/event_loop_internal.h"
#include "net/sockets.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tcp_conn {
    /* Immutable after tcp_conn_new(). */
    struct event_loop *loop;
    int fd;
    char name[TCP_CONN_NAME_MAX];
    struct inet_address local;
    struct inet_address peer;

    /* Any thread. */
    atomic_int refs;

    /* Written in the loop thread, read anywhere (atomic). */
    _Atomic(enum tcp_conn_state) state;

    /* Loop thread only. */
    bool reading;
    bool peer_closed; /* read() returned 0 while output was still queued */
    struct channel channel;
    struct buffer input;
    struct buffer output;
    struct tcp_callbacks cb;
    tcp_close_fn *close_fn;
    void *close_owner;
    void *context;
    struct list_node table_node; /* in the owner's table */
};

/* --- references ----------------------------------------------------------- */

static void conn_free(struct tcp_conn *c)
{
    /* The channel must be gone from the loop: tcp_conn_destroyed(), or
     * never enabled. After that nothing but references point here. */
    ASSERT(c->channel.poller_slot == -1);
    ASSERT(list_unlinked(&c->table_node));
    log_debug("%s: freed, fd %d closed", c->name, c->fd);
    close(c->fd);
    buffer_destroy(&c->input);
    buffer_destroy(&c->output);
    free(c);
}

void tcp_conn_ref(struct tcp_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void tcp_conn_unref(struct tcp_conn *c)
{
    /* acq_rel: everything done through other references happens before
     * the free. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        conn_free(c);
}

/* Takes back a reference just taken, which cannot be the last one. */
static void unref_not_last(struct tcp_conn *c)
{
    int before = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_relaxed);
    ASSERT(before > 1);
}

/* Queues fn(loop, ctx) on the connection's loop with a reference to the
 * connection, which fn drops when it is done: queued work that carries
 * the connection keeps it alive. On failure nothing is queued and the
 * reference is given back. */
static int queue_with_ref(struct tcp_conn *c, event_loop_fn *fn, void *ctx)
{
    tcp_conn_ref(c);
    int err = event_loop_queue(c->loop, fn, ctx);
    if (err != 0)
        unref_not_last(c);
    return err;
}

/* The tie (see channel_tie()): a reference held around the dispatch of
 * each event, so that the owner dropping the table's reference in the
 * close path never frees the connection under its own handlers. */
static void tie_hold(void *ctx)
{
    tcp_conn_ref(ctx);
}

static void tie_release(void *ctx)
{
    tcp_conn_unref(ctx);
}

/* --- the close path ------------------------------------------------------- */

/* The one way into DISCONNECTED from a live state, whether the
 * connection closed (handle_close) or its owner let it go
 * (tcp_conn_destroyed): nothing more is read or written, even later in
 * the current batch, and the user hears the connection go down. */
static void enter_disconnected(struct tcp_conn *c)
{
    ASSERT(c->state == TCP_CONNECTED || c->state == TCP_DISCONNECTING);
    c->state = TCP_DISCONNECTED;
    c->reading = false;
    (void)channel_disable_all(&c->channel);
    if (c->cb.on_connection != NULL)
        c->cb.on_connection(c, c->cb.ctx);
}

/* Every caller holds a reference (the tie, or a queued functor's), so the
 * owner dropping the table's reference in its close callback never frees
 * the connection under our feet. */
static void handle_close(struct tcp_conn *c)
{
    log_debug("%s: closing (fd %d)", c->name, c->fd);
    enter_disconnected(c);
    /* Read after the user's callback: freeing the owner there clears it. */
    if (c->close_fn != NULL)
        c->close_fn(c, c->close_owner);
}

static void force_close_now(struct event_loop *loop, void *ctx)
{
    struct tcp_conn *c = ctx;
    (void)loop;
    if (c->state == TCP_CONNECTED || c->state == TCP_DISCONNECTING) {
        /* The peer sees the end now, even if someone still holds a
         * reference and so keeps the fd open for a while. */
        (void)shutdown(c->fd, SHUT_RDWR);
        handle_close(c);
    }
    tcp_conn_unref(c);
}

static void force_close_in_loop(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (c->state != TCP_CONNECTED && c->state != TCP_DISCONNECTING)
        return;
    c->state = TCP_DISCONNECTING;
    /* Nothing more is read or written, starting with the rest of this
     * batch; the close path itself runs after the current callback. */
    c->reading = false;
    (void)channel_disable_all(&c->channel);
    if (queue_with_ref(c, force_close_now, c) != 0) {
        log_error("%s: force_close cannot be queued; closing now", c->name);
        tcp_conn_ref(c);
        handle_close(c);
        unref_not_last(c); /* the caller still holds one */
    }
}

static void force_close_request(struct event_loop *loop, void *ctx)
{
    (void)loop;
    force_close_in_loop(ctx);
    tcp_conn_unref(ctx);
}

void tcp_conn_force_close(struct tcp_conn *c)
{
    int err;
    if (c->state == TCP_DISCONNECTED) /* before any use of the loop */
        return;
    if (event_loop_is_in_loop_thread(c->loop))
        force_close_in_loop(c);
    else if ((err = queue_with_ref(c, force_close_request, c)) != 0)
        log_error("%s: force_close lost: %s", c->name, log_strerror(-err));
}

/* --- channel callbacks ---------------------------------------------------- */

/* The peer closed its sending side. If we still owe it output, finish
 * writing first (nothing queued is lost), then send FIN and close: the
 * peer may have only shut down its writing half, waiting for our reply. */
static void handle_end_of_input(struct tcp_conn *c)
{
    if (buffer_readable(&c->output) == 0) {
        handle_close(c);
        return;
    }
    c->peer_closed = true;
    c->state = TCP_DISCONNECTING;
    tcp_conn_stop_read(c); /* end of file stays readable: stop asking */
}

/* Gives the loop's read buffer back, empty: what the message callback
 * left unread (part of a message) moves into the connection's own
 * storage. @return 0 or -ENOMEM (those bytes are then lost). */
static int give_back(struct tcp_conn *c, struct buffer *lent)
{
    buffer_swap(&c->input, lent);
    int err = buffer_append(&c->input, buffer_peek(lent),
                            buffer_readable(lent));
    buffer_retrieve_all(lent);
    return err;
}

static void handle_read(struct channel *ch, int64_t receive_time_us,
                        void *ctx)
{
    struct tcp_conn *c = ctx;
    (void)ch;
    /* With no input pending, the connection reads into its loop's buffer,
     * lent for this one read: that buffer stays in the cache, the
     * connections' own would not, and with its 64 KiB of room one read(2)
     * does. The callback still gets &c->input, which holds it meanwhile. */
    struct buffer *lent = buffer_readable(&c->input) == 0
                              ? event_loop_read_buffer(c->loop)
                              : NULL;
    if (lent != NULL)
        buffer_swap(&c->input, lent);
    ssize_t n = buffer_read_fd(&c->input, c->fd);
    if (n > 0) {
        if (c->cb.on_message != NULL)
            c->cb.on_message(c, &c->input, receive_time_us, c->cb.ctx);
        else
            buffer_retrieve_all(&c->input);
    }
    if (lent != NULL && give_back(c, lent) != 0) {
        log_error("%s: no memory to keep unread input; closing", c->name);
        force_close_in_loop(c); /* a no-op if the callback closed it */
        return;
    }
    if (n == 0) {
        handle_end_of_input(c);
    } else if (n < 0 && n != -EAGAIN && n != -EINTR) {
        log_warn("%s: read: %s", c->name, log_strerror((int)-n));
        handle_close(c); /* reset, or no memory for the input */
    }
}

/* Runs after the batch that drained the output, so things may have
 * moved on: a later send may have queued more output (handle_write() then
 * queues another call when that drains), or the connection may have
 * closed, and after its down callback a connection gets no other. */
static void write_complete_now(struct event_loop *loop, void *ctx)
{
    struct tcp_conn *c = ctx;
    (void)loop;
    if (c->cb.on_write_complete != NULL && c->state != TCP_DISCONNECTED &&
        buffer_readable(&c->output) == 0)
        c->cb.on_write_complete(c, c->cb.ctx);
    tcp_conn_unref(c);
}

static void queue_write_complete(struct tcp_conn *c)
{
    if (c->cb.on_write_complete != NULL &&
        queue_with_ref(c, write_complete_now, c) != 0)
        log_error("%s: write-complete callback lost (no memory)", c->name);
}

static void handle_write(struct channel *ch, void *ctx)
{
    struct tcp_conn *c = ctx;
    ssize_t n = send(c->fd, buffer_peek(&c->output),
                     buffer_readable(&c->output), MSG_NOSIGNAL);
    if (n > 0) {
        buffer_retrieve(&c->output, (size_t)n);
        if (buffer_readable(&c->output) == 0) {
            /* Level-triggered: a writable socket is always writable, so
             * write interest must go as soon as there is nothing to write. */
            (void)channel_disable_writing(ch);
            queue_write_complete(c);
            if (c->state == TCP_DISCONNECTING) {
                (void)sockets_shutdown_write(c->fd);
                if (c->peer_closed) /* both directions are done */
                    handle_close(c);
            }
        }
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        /* The peer is gone; its hang-up or reset reaches the close path. */
        log_warn("%s: write: %s", c->name, log_strerror(errno));
    }
}

static void handle_error(struct channel *ch, void *ctx)
{
    struct tcp_conn *c = ctx;
    (void)ch;
    int err = sockets_get_error(c->fd);
    log_warn("%s: socket error: %s", c->name, log_strerror(err));
}

/* A hang-up: a reset, or both directions closed. It ends the connection,
 * with one exception. When reading was stopped by the user (not because
 * the end of file was read) and both sides closed in order, the peer's
 * last bytes and its end of file may still wait in the kernel: closing
 * now would drop them, and watching on would wake the loop in every
 * round. So the connection stops watching until tcp_conn_start_read(),
 * whose read brings them, then the close. */
static void handle_hang_up(struct channel *ch, void *ctx)
{
    struct tcp_conn *c = ctx;
    if (!c->reading && !c->peer_closed) {
        int err = sockets_get_error(c->fd);
        if (err == 0) {
            (void)channel_disable_all(ch);
            return;
        }
        log_warn("%s: %s while reading is stopped", c->name,
                 log_strerror(err));
    }
    handle_close(c);
}

/* --- life ------------------------------------------------------------------ */

struct tcp_conn *tcp_conn_new(struct event_loop *loop, const char *name,
                              int fd, const struct inet_address *local,
                              const struct inet_address *peer)
{
    struct tcp_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->fd = fd;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->local = *local;
    c->peer = *peer;
    atomic_init(&c->refs, 1);
    c->state = TCP_CONNECTING;
    buffer_init(&c->input);
    buffer_init(&c->output);
    list_init(&c->table_node);
    channel_init(&c->channel, loop, fd, c);
    channel_set_read_fn(&c->channel, handle_read);
    channel_set_write_fn(&c->channel, handle_write);
    channel_set_close_fn(&c->channel, handle_hang_up);
    channel_set_error_fn(&c->channel, handle_error);
    channel_tie(&c->channel, tie_hold, tie_release);
    (void)sockets_set_keepalive(fd, true);
    return c;
}

void tcp_conn_set_callbacks(struct tcp_conn *c,
                            const struct tcp_callbacks *callbacks)
{
    c->cb = *callbacks;
    if (c->cb.high_water_mark == 0)
        c->cb.high_water_mark = TCP_DEFAULT_HIGH_WATER_MARK;
}

void tcp_conn_set_close_fn(struct tcp_conn *c, tcp_close_fn *fn, void *owner)
{
    c->close_fn = fn;
    c->close_owner = owner;
}

void tcp_conn_established(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    ASSERT(c->state == TCP_CONNECTING);
    c->state = TCP_CONNECTED;
    /* Hang-ups and errors are heard even while reading is stopped and
     * nothing is queued (no other interest left). */
    int err = channel_enable_hang_up(&c->channel);
    if (err == 0)
        err = channel_enable_reading(&c->channel);
    if (err != 0) { /* cannot happen for a socket; be loud if it does */
        log_error("%s: cannot watch fd %d: %s", c->name, c->fd,
                  log_strerror(-err));
    }
    c->reading = err == 0;
    if (c->cb.on_connection != NULL)
        c->cb.on_connection(c, c->cb.ctx);
}

void tcp_conn_destroyed(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    /* The owner is going away while we are still connected. */
    if (c->state == TCP_CONNECTED || c->state == TCP_DISCONNECTING)
        enter_disconnected(c);
    c->state = TCP_DISCONNECTED; /* also when never established */
    c->reading = false;
    channel_remove(&c->channel);
    channel_destroy(&c->channel);
}

struct list_node *tcp_conn_table_node(struct tcp_conn *c)
{
    return &c->table_node;
}

struct tcp_conn *tcp_conn_from_table_node(struct list_node *node)
{
    return container_of(node, struct tcp_conn, table_node);
}

/* --- sending ---------------------------------------------------------------- */

struct high_water_call {
    struct tcp_conn *conn;
    size_t queued;
};

static void high_water_now(struct event_loop *loop, void *ctx)
{
    struct high_water_call *call = ctx;
    (void)loop;
    struct tcp_conn *c = call->conn;
    if (c->state != TCP_DISCONNECTED) /* no callback after down */
        c->cb.on_high_water(c, call->queued, c->cb.ctx);
    tcp_conn_unref(c);
    free(call);
}

static void queue_high_water(struct tcp_conn *c, size_t queued)
{
    struct high_water_call *call = malloc(sizeof *call);
    if (call != NULL) {
        *call = (struct high_water_call){c, queued};
        if (queue_with_ref(c, high_water_now, call) == 0)
            return;
        free(call);
    }
    log_error("%s: high-water callback lost (no memory)", c->name);
}

static int send_in_loop(struct tcp_conn *c, const void *data, size_t len)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (c->state != TCP_CONNECTED) {
        log_warn("%s: send while %s: %zu bytes dropped", c->name,
                 tcp_conn_state_name(c->state), len);
        return -ENOTCONN;
    }
    if (len == 0)
        return 0; /* nothing to send: not even a write-complete */
    size_t written = 0;
    /* Nothing queued: try the socket first, which is the common case and
     * needs no copy. With something queued, writing now would reorder. */
    if (!channel_is_writing(&c->channel) &&
        buffer_readable(&c->output) == 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            written = (size_t)n;
            if (written == len)
                queue_write_complete(c);
        } else if (errno == EPIPE || errno == ECONNRESET) {
            log_warn("%s: send: %s", c->name, log_strerror(errno));
            return -EPIPE;
        } else if (errno != EAGAIN && errno != EINTR) {
            log_warn("%s: send: %s", c->name, log_strerror(errno));
        }
    }
    size_t remaining = len - written;
    if (remaining == 0)
        return 0;
    size_t old = buffer_readable(&c->output);
    size_t mark = c->cb.high_water_mark;
    if (old < mark && old + remaining >= mark && c->cb.on_high_water != NULL)
        queue_high_water(c, old + remaining);
    if (buffer_append(&c->output, (const char *)data + written, remaining) !=
        0) {
        log_error("%s: no memory for %zu bytes of output; closing", c->name,
                  remaining);
        force_close_in_loop(c);
        return -ENOMEM;
    }
    if (!channel_is_writing(&c->channel))
        (void)channel_enable_writing(&c->channel);
    return 0;
}

/* A send from another thread: the bytes, copied, travel to the loop with
 * a reference to the connection. */
struct send_call {
    struct tcp_conn *conn;
    size_t len;
    char data[];
};

static void send_now(struct event_loop *loop, void *ctx)
{
    struct send_call *call = ctx;
    (void)loop;
    (void)send_in_loop(call->conn, call->data, call->len); /* closed: drop */
    tcp_conn_unref(call->conn);
    free(call);
}

int tcp_conn_send(struct tcp_conn *c, const void *data, size_t len)
{
    /* A closed connection may outlive its loop (a reference kept after
     * tcp_server_free()): its state is checked before the loop is used. */
    if (c->state == TCP_DISCONNECTED)
        return -ENOTCONN;
    if (event_loop_is_in_loop_thread(c->loop))
        return send_in_loop(c, data, len);
    if (c->state != TCP_CONNECTED)
        return -ENOTCONN;
    if (len == 0)
        return 0; /* as in the loop; and data may be NULL */
    struct send_call *call = malloc(sizeof *call + len);
    if (call == NULL)
        return -ENOMEM;
    call->conn = c;
    call->len = len;
    memcpy(call->data, data, len);
    int err = queue_with_ref(c, send_now, call);
    if (err != 0)
        free(call);
    return err;
}

int tcp_conn_send_buffer(struct tcp_conn *c, struct buffer *buf)
{
    int err = tcp_conn_send(c, buffer_peek(buf), buffer_readable(buf));
    buffer_retrieve_all(buf);
    return err;
}

static void shutdown_in_loop(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (c->state != TCP_CONNECTED)
        return;
    c->state = TCP_DISCONNECTING;
    /* With output queued, handle_write() sends FIN once it drains. */
    if (!channel_is_writing(&c->channel))
        (void)sockets_shutdown_write(c->fd);
}

static void shutdown_request(struct event_loop *loop, void *ctx)
{
    (void)loop;
    shutdown_in_loop(ctx);
    tcp_conn_unref(ctx);
}

void tcp_conn_shutdown(struct tcp_conn *c)
{
    int err;
    if (c->state == TCP_DISCONNECTED) /* before any use of the loop */
        return;
    if (event_loop_is_in_loop_thread(c->loop))
        shutdown_in_loop(c);
    else if ((err = queue_with_ref(c, shutdown_request, c)) != 0)
        log_error("%s: shutdown lost: %s", c->name, log_strerror(-err));
}

/* --- reading control and accessors ---------------------------------------- */

void tcp_conn_start_read(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (c->reading || c->state == TCP_DISCONNECTED)
        return;
    c->reading = channel_enable_reading(&c->channel) == 0;
}

void tcp_conn_stop_read(struct tcp_conn *c)
{
    event_loop_assert_in_loop_thread(c->loop);
    if (!c->reading)
        return;
    (void)channel_disable_reading(&c->channel);
    c->reading = false;
}

bool tcp_conn_is_reading(const struct tcp_conn *c)
{
    return c->reading;
}

int tcp_conn_set_tcp_nodelay(struct tcp_conn *c, bool on)
{
    return sockets_set_tcp_nodelay(c->fd, on);
}

void tcp_conn_set_context(struct tcp_conn *c, void *context)
{
    c->context = context;
}

void *tcp_conn_context(const struct tcp_conn *c)
{
    return c->context;
}

enum tcp_conn_state tcp_conn_state(const struct tcp_conn *c)
{
    return c->state;
}

bool tcp_conn_connected(const struct tcp_conn *c)
{
    return c->state == TCP_CONNECTED;
}

bool tcp_conn_disconnected(const struct tcp_conn *c)
{
    return c->state == TCP_DISCONNECTED;
}

const char *tcp_conn_name(const struct tcp_conn *c)
{
    return c->name;
}

const struct inet_address *tcp_conn_local_address(const struct tcp_conn *c)
{
    return &c->local;
}

const struct inet_address *tcp_conn_peer_address(const struct tcp_conn *c)
{
    return &c->peer;
}

struct event_loop *tcp_conn_loop(const struct tcp_conn *c)
{
    return c->loop;
}

struct buffer *tcp_conn_input(struct tcp_conn *c)
{
    return &c->input;
}

size_t tcp_conn_output_bytes(const struct tcp_conn *c)
{
    return buffer_readable(&c->output);
}

const char *tcp_conn_state_name(enum tcp_conn_state state)
{
    switch (state) {
    case TCP_CONNECTING:
        return "connecting";
    case TCP_CONNECTED:
        return "connected";
    case TCP_DISCONNECTING:
        return "disconnecting";
    case TCP_DISCONNECTED:
        return "disconnected";
    }
    return "?";
}
