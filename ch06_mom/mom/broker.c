/* The broker: a tcp_server whose connections each get a session, one
 * shard per I/O loop, and the graceful stop. */
#include "mom/broker.h"

#include "base/assertion.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "mom/broker_internal.h"
#include "mom/commands.h"
#include "mom/peers.h"
#include "mom/reply.h"
#include "mom/session.h"
#include "mom/shard.h"
#include "mom/spill.h"
#include "net/event_loop.h"
#include "net/inet_address.h"
#include "net/tcp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often a stop checks whether the clients' output has drained. */
#define STOP_POLL_US 10000

struct shard *broker_shard_of(struct broker *b, const struct event_loop *loop)
{
    for (int i = 0; i < b->shard_count; i++) {
        if (b->shards[i].loop == loop)
            return &b->shards[i];
    }
    ASSERT(!"a connection on a loop that is not the broker's");
    return NULL;
}

uint64_t broker_disk_excess(struct broker *b, uint64_t held, size_t len)
{
    const struct broker_config *cfg = b->config;
    uint64_t global = (uint64_t)atomic_load(&b->count.disk_bytes);
    uint64_t excess = 0;
    if (held + len > cfg->sub_disk_cap)
        excess = held + len - cfg->sub_disk_cap;
    if (global + len > cfg->disk_cap && global + len - cfg->disk_cap > excess)
        excess = global + len - cfg->disk_cap;
    return excess;
}

uint64_t broker_spill_make_room(struct broker *b, struct spill *s,
                                size_t len)
{
    uint64_t held = spill_bytes(s);
    uint64_t excess = broker_disk_excess(b, held, len);
    uint64_t records = 0;
    uint64_t bytes = 0;
    (void)spill_drop_oldest(s, held > excess ? held - excess : 0, &records,
                            &bytes);
    atomic_fetch_sub(&b->count.disk_bytes, (int_fast64_t)bytes);
    return records;
}

int broker_spill_append(struct broker *b, struct spill *s, const void *data,
                        size_t len, bool droppable)
{
    uint64_t before = spill_bytes(s);
    int err = spill_append(s, data, len, droppable);
    if (err == 0) {
        uint64_t added = spill_bytes(s) - before;
        atomic_fetch_add(&b->count.disk_bytes, (int_fast64_t)added);
        atomic_fetch_add(&b->count.spilled_bytes, added);
    }
    return err;
}

static void on_thread_start(struct event_loop *loop, void *ctx)
{
    struct broker *b = ctx;
    int i = atomic_fetch_add(&b->shards_ready, 1);
    ASSERT(i < b->shard_count);
    b->shards[i].loop = loop;
}

/* Refused connections get Redis's error, then are closed after it. */
static void refuse(struct session *s, const char *error)
{
    struct buffer *out = &s->shard->scratch;
    buffer_retrieve_all(out);
    struct reply r = {.buf = out, .err = 0};
    reply_error(&r, error);
    session_output(s, buffer_peek(out), buffer_readable(out), false);
    buffer_retrieve_all(out);
    s->close_after_reply = true;
}

void broker_connection(struct tcp_conn *conn, void *ctx)
{
    struct broker *b = ctx;
    if (!tcp_conn_connected(conn)) {
        struct session *s = tcp_conn_context(conn);
        if (s != NULL) {
            peers_closed(b->peers, s);
            tcp_conn_set_context(conn, NULL);
            session_free(s);
            atomic_fetch_sub(&b->count.clients, 1);
        }
        return;
    }
    struct shard *sh = broker_shard_of(b, tcp_conn_loop(conn));
    struct session *s = session_new(sh, conn);
    if (s == NULL) {
        log_error("%s: no memory for a session", tcp_conn_name(conn));
        tcp_conn_force_close(conn);
        return;
    }
    tcp_conn_set_context(conn, s);
    atomic_fetch_add(&b->count.connections, 1);
    int_fast64_t clients = atomic_fetch_add(&b->count.clients, 1) + 1;
    (void)tcp_conn_set_tcp_nodelay(conn, true);
    if (atomic_load(&b->stopping)) {
        session_kill(s, NULL);
    } else if ((uint64_t)clients > b->config->max_clients) {
        atomic_fetch_add(&b->count.rejected, 1);
        refuse(s, "ERR max number of clients reached");
    }
}

/* Runs the complete requests in @p in, stopping after QUIT or an error
 * as Redis does: what follows is not read. */
static void run_requests(struct broker *b, struct session *s, struct buffer *in)
{
    struct request req;
    int r = 0;
    while (!s->close_after_reply && !s->closing &&
           (r = request_parser_next(&s->parser, in, &req)) == 1)
        command_execute(s, &req);
    if (s->close_after_reply || s->closing) {
        buffer_retrieve_all(in);
    } else if (r == -EPROTO) {
        char text[REQUEST_ERROR_CAP + 8];
        snprintf(text, sizeof text, "ERR %s", request_parser_error(&s->parser));
        refuse(s, text);
    } else if (r == -ENOMEM) {
        session_kill(s, "out of memory for a request");
    } else if (buffer_readable(in) > b->config->query_buffer_limit) {
        session_kill(s, "query buffer limit reached");
    }
}

/* The requests that waited behind the hand-offs (see shard.h). */
static void run_deferred(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct tcp_conn *conn = ctx;
    struct session *s = tcp_conn_context(conn);
    if (s != NULL) { /* NULL: closed meanwhile */
        s->deferred = false;
        run_requests(s->shard->broker, s, tcp_conn_input(conn));
    }
    tcp_conn_unref(conn);
}

void broker_input(struct tcp_conn *conn, struct buffer *in,
                  int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    struct broker *b = ctx;
    struct session *s = tcp_conn_context(conn);
    /* A link that is closing reads nothing: its input is no sign of life
     * (the heartbeat closes it if its error cannot be written). */
    if (s != NULL && s->peer != NULL && !s->close_after_reply && !s->closing)
        peers_input(b->peers, s);
    if (s == NULL || s->deferred)
        return; /* the input waits in the buffer */
    if (!shard_inbound_pending(s->shard)) {
        run_requests(b, s, in);
        return;
    }
    /* Queued behind the hand-offs already in the loop's queue, so that
     * what was published before these requests reaches this client first.
     * Once: it runs them then, whatever has been queued since. */
    tcp_conn_ref(conn);
    if (event_loop_queue(s->shard->loop, run_deferred, conn) == 0)
        s->deferred = true;
    else
        tcp_conn_unref(conn);
}

void broker_write_complete(struct tcp_conn *conn, void *ctx)
{
    struct broker *b = ctx;
    struct session *s = tcp_conn_context(conn);
    if (s != NULL && s->link)
        peers_write_complete(b->peers, s);
    if (s != NULL)
        session_write_complete(s); /* a close after an error, links too */
}

/* A client's output never gets there (its session spills first, at a
 * lower mark); a link's does when its peer reads slowly. */
void broker_high_water(struct tcp_conn *conn, size_t queued, void *ctx)
{
    (void)queued;
    struct broker *b = ctx;
    struct session *s = tcp_conn_context(conn);
    if (s != NULL && s->link)
        peers_high_water(b->peers, s);
}

struct broker *broker_new(struct event_loop *loop,
                          const struct broker_config *config)
{
    struct inet_address addr;
    if (config->port < 0 || config->port > 65535 ||
        inet_address_from_ip(&addr, config->bind, (uint16_t)config->port) != 0) {
        errno = EINVAL;
        return NULL;
    }
    /* A peer must learn from a broker's address where to reach it, and
     * 0.0.0.0 says nothing: a broker in a mesh binds one address. */
    if (config->peer_count > 0 &&
        addr.u.v4.sin_addr.s_addr == htonl(INADDR_ANY)) {
        log_error("--peer needs a --bind address that peers can reach, "
                  "not %s", config->bind);
        errno = EINVAL;
        return NULL;
    }
    struct broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->config = config;
    b->loop = loop;
    b->shard_count = config->threads > 0 ? config->threads : 1;
    int err = interest_init(&b->interest, b->shard_count);
    if (err != 0) {
        free(b);
        errno = -err;
        return NULL;
    }
    b->shards = calloc((size_t)b->shard_count, sizeof *b->shards);
    for (int i = 0; b->shards != NULL && i < b->shard_count && err == 0; i++)
        err = shard_init(&b->shards[i], b, i);
    b->server = b->shards == NULL || err != 0
                    ? NULL
                    : tcp_server_new(loop, &addr, "momd", 0);
    if (b->server == NULL) {
        int saved = b->shards == NULL || err != 0 ? ENOMEM : errno;
        for (int i = 0; b->shards != NULL && i < b->shard_count; i++)
            shard_destroy(&b->shards[i]);
        free(b->shards);
        interest_destroy(&b->interest);
        free(b);
        errno = saved;
        return NULL;
    }
    struct inet_address bound;
    b->port = tcp_server_listen_address(b->server, &bound) == 0
                  ? inet_address_port(&bound)
                  : config->port;
    atomic_init(&b->next_id, 1);
    tcp_server_set_thread_count(b->server, config->threads);
    tcp_server_set_thread_init(b->server, on_thread_start, b);
    b->peers = peers_new(b);
    if (b->peers == NULL) {
        broker_free(b);
        errno = ENOMEM;
        return NULL;
    }
    struct tcp_callbacks cb = {
        .on_connection = broker_connection,
        .on_message = broker_input,
        .on_write_complete = broker_write_complete,
        .on_high_water = broker_high_water,
        .high_water_mark = config->sub_memory_limit,
        .ctx = b,
    };
    tcp_server_set_callbacks(b->server, &cb);
    return b;
}

int broker_port(const struct broker *b)
{
    return b->port;
}

int broker_start(struct broker *b)
{
    /* Spill files are named after the port: a broker that crashed on
     * this port left its files under the same prefix. */
    snprintf(b->spill_prefix, sizeof b->spill_prefix, "momd-%d-",
             broker_port(b));
    int removed = spill_remove_stale(b->config->spill_dir, b->spill_prefix);
    if (removed > 0)
        log_warn("removed %d spill file(s) left in %s", removed,
                 b->config->spill_dir);
    b->started_us = timestamp_mono_us();
    int err = tcp_server_start(b->server);
    if (err == 0) {
        ASSERT(atomic_load(&b->shards_ready) == b->shard_count);
        err = peers_start(b->peers);
    }
    return err;
}

static void check_drained(struct event_loop *loop, uint64_t timer_id,
                          void *ctx)
{
    (void)timer_id;
    struct broker *b = ctx;
    if (atomic_load(&b->count.pending) > 0 &&
        timestamp_mono_us() < b->stop_deadline_us)
        return;
    if (atomic_load(&b->count.pending) > 0)
        log_warn("stop: %ld client(s) still had output after %llu ms",
                 (long)atomic_load(&b->count.pending),
                 (unsigned long long)b->config->shutdown_timeout_ms);
    event_loop_cancel_timer(loop, b->stop_timer);
    b->stop_timer = 0;
    if (b->stopped != NULL)
        b->stopped(b, b->stopped_ctx);
}

void broker_stop(struct broker *b, broker_stopped_fn *done, void *ctx)
{
    event_loop_assert_in_loop_thread(b->loop);
    atomic_store(&b->stopping, true);
    peers_stop(b->peers);
    b->stopped = done;
    b->stopped_ctx = ctx;
    b->stop_deadline_us =
        timestamp_mono_us() + (int64_t)b->config->shutdown_timeout_ms * 1000;
    if (b->stop_timer == 0)
        b->stop_timer = event_loop_run_every(b->loop, STOP_POLL_US,
                                             check_drained, b);
}

/* The rest of broker_free(), once every session is gone. */
static void finish_free(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct broker *b = ctx;
    peers_free(b->peers);
    for (int i = 0; i < b->shard_count; i++)
        shard_destroy(&b->shards[i]);
    free(b->shards);
    interest_destroy(&b->interest);
    free(b);
}

void broker_free(struct broker *b)
{
    if (b == NULL)
        return;
    if (b->stop_timer != 0)
        event_loop_cancel_timer(b->loop, b->stop_timer);
    /* The links we dialed close while the I/O loops still run. */
    peers_stop(b->peers);
    /* Closes every connection (each session goes with its down callback)
     * and runs what the loops still had queued, then stops them. */
    tcp_server_free(b->server);
    /* Without I/O threads the connections live in this loop, and close
     * after its current batch (tcp_server.h): the rest waits for them. */
    if (b->config->threads == 0 &&
        event_loop_queue(b->loop, finish_free, b) == 0)
        return;
    finish_free(b->loop, b);
}
