#include "net/connector.h"

#include "base/assertion.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/event_loop_internal.h"
#include "net/sockets.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Where the connector is. A success leaves it IDLE: the socket is gone
 * to the user, and the connector has nothing of it any more. */
enum connector_state {
    CONNECTOR_IDLE,
    CONNECTOR_STARTING,   /* an attempt queued to begin after the batch */
    CONNECTOR_CONNECTING, /* a socket connecting, its channel watching */
    CONNECTOR_WAITING,    /* a retry timer pending */
};

struct connector {
    /* Any thread: the user's reference, plus one per request queued by
     * another thread (start, restart, stop), which the request drops
     * when it has run in the loop. */
    atomic_int refs;

    /* Immutable after connector_new(). */
    struct event_loop *loop;
    struct inet_address server;
    struct connector_callbacks cb;

    /* Loop thread only. */
    struct inet_address local;
    bool bind_local;
    int64_t initial_delay_us;
    int64_t max_delay_us;
    int64_t delay_us; /* the base of the next retry's wait */
    enum connector_state state;
    bool freed;        /* connector_free() ran: requests do nothing */
    int fd;            /* the connecting socket (CONNECTING), else -1 */
    uint64_t retry_timer; /* the pending retry (WAITING), else 0 */
    uint64_t random;   /* xorshift state of the jitter */
    /* Watches the connecting socket. It is initialised again for each
     * attempt, so a new attempt never starts while it is being
     * dispatched: see start_in_loop(). */
    struct channel channel;
    bool channel_ready; /* initialised at least once */
};

bool connector_error_is_retryable(int err)
{
    switch (-err) {
    case ECONNREFUSED: /* nobody listens (yet): the classic retry */
    case ECONNRESET:   /* the listener went away before it accepted us, */
    case ECONNABORTED: /* as a server does when it crashes or restarts */
    case ENOTCONN:     /* connected, then reset before we could look */
    case ETIMEDOUT:    /* no answer: the peer or the path may come back */
    case ENETUNREACH:  /* no route now: routes come and go */
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
    case EADDRINUSE:   /* our side ran short of ports: they are freed */
    case EADDRNOTAVAIL:
    case EAGAIN:
        return true;
    default:
        return false;
    }
}

/* --- references and the end of life --------------------------------------- */

static void connector_ref(struct connector *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void release_memory(struct connector *c)
{
    if (c->channel_ready)
        channel_destroy(&c->channel);
    free(c);
}

static void release_memory_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    release_memory(ctx);
}

/* Loop thread only, like every unref: requests drop theirs in the loop.
 * The memory outlives a dispatch of the connector's own channel (the
 * user may free the connector from a callback called from there). */
static void connector_unref(struct connector *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->channel_ready && event_loop_is_dispatching(c->loop, &c->channel)) {
        int err = event_loop_queue(c->loop, release_memory_later, c);
        if (err != 0)
            log_error("connector: cannot queue its release (%s); leaked",
                      log_strerror(-err));
        return;
    }
    release_memory(c);
}

/* --- delays --------------------------------------------------------------- */

/* xorshift64*: statistically plenty for spreading reconnections, and
 * private to the connector, so no lock and no shared libc state. */
static uint64_t next_random(struct connector *c)
{
    uint64_t x = c->random;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->random = x;
    return x * UINT64_C(2685821657736338717);
}

/* A wait in (delay / 2, delay]: never longer than the delay (so the cap
 * holds), never shorter than half of it (so the doubling still shows). */
static int64_t jittered(struct connector *c, int64_t delay_us)
{
    int64_t half = delay_us / 2;
    if (half == 0)
        return delay_us;
    return delay_us - (int64_t)(next_random(c) % (uint64_t)half);
}

/* --- one attempt ---------------------------------------------------------- */

static void attempt(struct connector *c);

static void retry_due(struct event_loop *loop, uint64_t timer_id, void *ctx)
{
    struct connector *c = ctx;
    (void)loop;
    (void)timer_id;
    ASSERT(c->state == CONNECTOR_WAITING);
    c->retry_timer = 0;
    c->state = CONNECTOR_IDLE;
    attempt(c);
}

/* Gives up: says so, and tells the user (last: the callback may free the
 * connector). */
static void give_up(struct connector *c, int err)
{
    char addr[INET_ADDRESS_STRLEN];
    inet_address_to_string(&c->server, addr, sizeof addr);
    log_error("connector: cannot connect to %s: %s; giving up", addr,
              log_strerror(-err));
    c->state = CONNECTOR_IDLE;
    if (c->cb.on_error != NULL)
        c->cb.on_error(c, err, c->cb.ctx);
}

/* The next attempt in @p wait_us: WAITING. @return false when no timer
 * could be made; the connector has then given up. */
static bool schedule_attempt(struct connector *c, int64_t wait_us)
{
    c->retry_timer = event_loop_run_after(c->loop, wait_us, retry_due, c);
    if (c->retry_timer == 0) {
        give_up(c, -ENOMEM);
        return false;
    }
    c->state = CONNECTOR_WAITING;
    return true;
}

/* The attempt failed with err: retry later, or give up and say so. Each
 * path ends with the user's callback, which may free the connector. */
static void attempt_failed(struct connector *c, int err)
{
    c->state = CONNECTOR_IDLE;
    if (!connector_error_is_retryable(err)) {
        give_up(c, err);
        return;
    }
    int64_t wait_us = jittered(c, c->delay_us);
    if (!schedule_attempt(c, wait_us))
        return;
    c->delay_us = c->delay_us > c->max_delay_us / 2 ? c->max_delay_us
                                                    : c->delay_us * 2;
    char addr[INET_ADDRESS_STRLEN];
    inet_address_to_string(&c->server, addr, sizeof addr);
    log_info("connector: %s: %s; retrying in %.1f ms", addr,
             log_strerror(-err), (double)wait_us / 1000.0);
    if (c->cb.on_retry != NULL)
        c->cb.on_retry(c, err, wait_us, c->cb.ctx);
}

/* Ends the attempt in progress: its channel leaves the loop (before the
 * fd can be closed), and the fd goes back to the caller. */
static int end_attempt(struct connector *c)
{
    ASSERT(c->state == CONNECTOR_CONNECTING);
    channel_remove(&c->channel);
    int fd = c->fd;
    c->fd = -1;
    c->state = CONNECTOR_IDLE;
    return fd;
}

/* The connecting socket is writable, or hung up, or failed: in each case
 * connect() has finished, and SO_ERROR says how. */
static void attempt_done(struct channel *ch, void *ctx)
{
    struct connector *c = ctx;
    (void)ch;
    int fd = end_attempt(c);
    int err = sockets_get_error(fd);
    struct inet_address local, peer;
    if (err == 0)
        err = -sockets_local_address(fd, &local);
    if (err == 0)
        err = -sockets_peer_address(fd, &peer);
    if (err == 0 && inet_address_equal(&local, &peer)) {
        /* Nobody listened on the port, and the kernel picked that very
         * port for our side: we are talking to ourselves (what
         * sockets_is_self_connect() checks; here the two addresses are
         * kept for the callee, which needs them anyway). That is a
         * refusal in disguise, and holding on to it would also keep the
         * port from the server we are waiting for. The peer is asked
         * for, not taken to be the server address: a connect to 0.0.0.0
         * reaches 127.0.0.1. */
        log_warn("connector: connected to itself; treated as refused");
        err = ECONNREFUSED;
    }
    if (err != 0) {
        close(fd);
        attempt_failed(c, -err);
        return;
    }
    c->delay_us = c->initial_delay_us;
    if (c->cb.on_connected != NULL) /* the fd is theirs from now on */
        c->cb.on_connected(c, fd, &local, &peer, c->cb.ctx);
    else
        close(fd);
}

static void attempt(struct connector *c)
{
    ASSERT(c->state == CONNECTOR_IDLE);
    int fd = sockets_create_nonblocking(inet_address_family(&c->server));
    if (fd < 0) {
        attempt_failed(c, fd);
        return;
    }
    int err = c->bind_local ? sockets_bind(fd, &c->local) : 0;
    if (err == 0)
        err = sockets_connect(fd, &c->server);
    switch (-err) {
    case 0:           /* connected at once (possible on loopback) */
    case EINPROGRESS: /* the normal case of a non-blocking socket */
    case EINTR:       /* a signal came; the connect goes on regardless */
    case EISCONN:     /* already connected */
        break;
    default:
        close(fd);
        attempt_failed(c, err);
        return;
    }
    if (c->channel_ready)
        channel_destroy(&c->channel);
    channel_init(&c->channel, c->loop, fd, c);
    c->channel_ready = true;
    /* A refused connect is reported as a hang-up and an error along
     * with writability, and the hang-up is dispatched first: whichever
     * callback comes first ends the attempt, and channel_remove() there
     * drops the rest of the batch's events. */
    channel_set_write_fn(&c->channel, attempt_done);
    channel_set_close_fn(&c->channel, attempt_done);
    channel_set_error_fn(&c->channel, attempt_done);
    c->fd = fd;
    c->state = CONNECTOR_CONNECTING;
    err = channel_enable_writing(&c->channel);
    if (err != 0) {
        close(end_attempt(c));
        attempt_failed(c, err);
    }
}

/* --- requests ------------------------------------------------------------- */

static void start_queued(struct event_loop *loop, void *ctx)
{
    struct connector *c = ctx;
    (void)loop;
    if (!c->freed && c->state == CONNECTOR_STARTING) {
        c->state = CONNECTOR_IDLE;
        attempt(c);
    }
    connector_unref(c);
}

static int start_in_loop(struct connector *c)
{
    if (c->freed || c->state != CONNECTOR_IDLE)
        return 0; /* already under way */
    if (c->channel_ready && event_loop_is_dispatching(c->loop, &c->channel)) {
        /* Called from our own callback: the channel that the attempt
         * needs is still being dispatched. Begin after the batch. */
        connector_ref(c);
        int err = event_loop_queue(c->loop, start_queued, c);
        if (err != 0) {
            atomic_fetch_sub_explicit(&c->refs, 1, memory_order_relaxed);
            return err;
        }
        c->state = CONNECTOR_STARTING;
        return 0;
    }
    attempt(c);
    return 0;
}

static void stop_in_loop(struct connector *c)
{
    switch (c->state) {
    case CONNECTOR_CONNECTING:
        close(end_attempt(c));
        break;
    case CONNECTOR_WAITING:
        event_loop_cancel_timer(c->loop, c->retry_timer);
        c->retry_timer = 0;
        break;
    case CONNECTOR_STARTING: /* the queued start will see IDLE */
    case CONNECTOR_IDLE:
        break;
    }
    c->state = CONNECTOR_IDLE;
}

/* After a lost connection: from the initial delay again, the first
 * attempt after a random wait below it, so that a thousand clients cut
 * off by one failure do not all knock again in the same millisecond. */
static void restart_in_loop(struct connector *c)
{
    if (c->freed)
        return;
    stop_in_loop(c);
    c->delay_us = c->initial_delay_us;
    (void)schedule_attempt(
        c, (int64_t)(next_random(c) % (uint64_t)c->delay_us));
}

static void start_request(struct event_loop *loop, void *ctx)
{
    (void)loop;
    int err = start_in_loop(ctx);
    if (err != 0)
        log_error("connector: cannot start: %s", log_strerror(-err));
    connector_unref(ctx);
}

static void restart_request(struct event_loop *loop, void *ctx)
{
    (void)loop;
    restart_in_loop(ctx);
    connector_unref(ctx);
}

static void stop_request(struct event_loop *loop, void *ctx)
{
    struct connector *c = ctx;
    (void)loop;
    if (!c->freed)
        stop_in_loop(c);
    connector_unref(c);
}

/* From another thread: queued with a reference, which fn drops. */
static int request(struct connector *c, event_loop_fn *fn)
{
    connector_ref(c);
    int err = event_loop_queue(c->loop, fn, c);
    if (err != 0) /* not the last: the caller holds one */
        atomic_fetch_sub_explicit(&c->refs, 1, memory_order_relaxed);
    return err;
}

/* --- the API -------------------------------------------------------------- */

struct connector *connector_new(struct event_loop *loop,
                                const struct inet_address *server,
                                const struct connector_callbacks *callbacks)
{
    struct connector *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1);
    c->loop = loop;
    c->server = *server;
    if (callbacks != NULL)
        c->cb = *callbacks;
    c->initial_delay_us = CONNECTOR_INITIAL_DELAY_US;
    c->max_delay_us = CONNECTOR_MAX_DELAY_US;
    c->delay_us = c->initial_delay_us;
    c->state = CONNECTOR_IDLE;
    c->fd = -1;
    /* Any seed but 0 does; the address and the clock differ between
     * connectors and between processes. */
    c->random = (uint64_t)timestamp_mono_us() ^
                ((uint64_t)(uintptr_t)c * UINT64_C(0x9e3779b97f4a7c15));
    if (c->random == 0)
        c->random = 1;
    return c;
}

int connector_set_retry_delays(struct connector *c, int64_t initial_us,
                               int64_t max_us)
{
    if (initial_us <= 0 || max_us < initial_us)
        return -EINVAL;
    c->initial_delay_us = initial_us;
    c->max_delay_us = max_us;
    c->delay_us = initial_us;
    return 0;
}

void connector_set_local_address(struct connector *c,
                                 const struct inet_address *local)
{
    c->local = *local;
    c->bind_local = true;
}

int connector_start(struct connector *c)
{
    if (event_loop_is_in_loop_thread(c->loop))
        return start_in_loop(c);
    return request(c, start_request);
}

int connector_restart(struct connector *c)
{
    if (event_loop_is_in_loop_thread(c->loop)) {
        restart_in_loop(c);
        return 0;
    }
    return request(c, restart_request);
}

int connector_stop(struct connector *c)
{
    if (event_loop_is_in_loop_thread(c->loop)) {
        stop_in_loop(c);
        return 0;
    }
    return request(c, stop_request);
}

void connector_free(struct connector *c)
{
    if (c == NULL)
        return;
    event_loop_assert_in_loop_thread(c->loop);
    stop_in_loop(c);
    c->freed = true;
    connector_unref(c);
}

const struct inet_address *connector_server_address(
    const struct connector *c)
{
    return &c->server;
}

int64_t connector_retry_delay_us(const struct connector *c)
{
    return c->delay_us;
}

struct event_loop *connector_loop(const struct connector *c)
{
    return c->loop;
}
