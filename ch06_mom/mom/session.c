#include "mom/session.h"

#include "base/assertion.h"
#include "base/log.h"
#include "mom/broker_internal.h"
#include "mom/shard.h"
#include "mom/spill.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct session *session_new(struct shard *sh, struct tcp_conn *conn)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    const struct broker_config *cfg = sh->broker->config;
    struct request_limits limits = request_limits_default();
    limits.max_inline = cfg->max_inline;
    /* config.h bounds both far below LLONG_MAX. */
    limits.max_multibulk = (long long)cfg->max_multibulk;
    limits.max_bulk = (long long)cfg->max_bulk;
    request_parser_init(&s->parser, &limits);
    s->authenticated = cfg->requirepass == NULL;
    request_parser_set_auth_required(&s->parser, !s->authenticated);
    s->shard = sh;
    s->conn = conn;
    tcp_conn_ref(conn);
    s->id = atomic_fetch_add(&sh->broker->next_id, 1);
    for (int k = 0; k < INTEREST_KINDS; k++) {
        dict_init(&s->subs[k]);
        list_init(&s->order[k]);
    }
    buffer_init(&s->out);
    list_init(&s->dirty_node);
    return s;
}

static void set_pending(struct session *s, bool pending)
{
    if (s->pending != pending) {
        s->pending = pending;
        atomic_fetch_add(&s->shard->broker->count.pending, pending ? 1 : -1);
    }
}

/* Removes the spill file and gives its bytes back to the broker's cap. */
static void drop_spill(struct session *s)
{
    if (s->spill == NULL)
        return;
    atomic_fetch_sub(&s->shard->broker->count.disk_bytes,
                     (int_fast64_t)spill_bytes(s->spill));
    spill_close(s->spill);
    s->spill = NULL;
}

void session_free(struct session *s)
{
    for (int k = 0; k < INTEREST_KINDS; k++) {
        struct list_node *node;
        struct list_node *tmp;
        list_for_each_safe(node, tmp, &s->order[k]) {
            shard_unsubscribe(s->shard, container_of(node, struct subscription,
                                                     in_session));
        }
        dict_destroy(&s->subs[k]);
    }
    if (!list_unlinked(&s->dirty_node))
        list_remove(&s->dirty_node);
    drop_spill(s);
    set_pending(s, false);
    buffer_destroy(&s->out);
    request_parser_destroy(&s->parser);
    free(s->name);
    tcp_conn_unref(s->conn);
    free(s);
}

size_t session_subscriptions(const struct session *s)
{
    return dict_size(&s->subs[INTEREST_CHANNEL]) +
           dict_size(&s->subs[INTEREST_PATTERN]);
}

size_t session_shard_subscriptions(const struct session *s)
{
    return dict_size(&s->subs[INTEREST_SHARD]);
}

bool session_subscribed(const struct session *s)
{
    return session_subscriptions(s) + session_shard_subscriptions(s) > 0;
}

static void force_close_later(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct tcp_conn *conn = ctx;
    tcp_conn_force_close(conn);
    tcp_conn_unref(conn);
}

void session_kill(struct session *s, const char *why)
{
    if (s->closing)
        return;
    s->closing = true;
    if (why != NULL)
        log_warn("%s: closed: %s", tcp_conn_name(s->conn), why);
    buffer_retrieve_all(&s->out);
    /* Not now: the caller may be walking a list this session is on (a
     * topic's subscribers), and the close frees the session. */
    tcp_conn_ref(s->conn);
    if (event_loop_queue(s->shard->loop, force_close_later, s->conn) != 0)
        tcp_conn_unref(s->conn); /* the loop is going: it closes anyway */
}

/* The client is past a cap, or its file cannot take more: the policy
 * decides. Returns whether the bytes may still be written. */
static bool over_cap(struct session *s, size_t len, bool droppable,
                     const char *what)
{
    struct broker *b = s->shard->broker;
    const struct broker_config *cfg = b->config;
    if (cfg->policy == BROKER_POLICY_DROP_OLDEST && droppable) {
        uint64_t records = broker_spill_make_room(b, s->spill, len);
        if (broker_disk_excess(b, spill_bytes(s->spill), len) == 0) {
            atomic_fetch_add(&b->count.dropped, records);
            return true;
        }
        atomic_fetch_add(&b->count.dropped, records + 1); /* and this one */
        return false;
    }
    char why[128];
    snprintf(why, sizeof why, "slow subscriber: %s (policy %s)", what,
             broker_policy_name(cfg->policy));
    atomic_fetch_add(&b->count.slow_closed, 1);
    session_kill(s, why);
    return false;
}

static void spill_output(struct session *s, const void *data, size_t len,
                         bool droppable)
{
    struct broker *b = s->shard->broker;
    const struct broker_config *cfg = b->config;
    if (s->spill == NULL) {
        char name[128];
        int err = 0;
        snprintf(name, sizeof name, "%s%" PRIu64 "-%" PRIu64 "%s",
                 b->spill_prefix, s->id, s->spill_seq++, SPILL_SUFFIX);
        s->spill = spill_open(cfg->spill_dir, name, &err);
        if (s->spill == NULL) {
            log_error("%s: cannot spill to %s/%s: %s", tcp_conn_name(s->conn),
                      cfg->spill_dir, name, log_strerror(-err));
            atomic_fetch_add(&b->count.slow_closed, 1);
            session_kill(s, "slow subscriber: no spill file");
            return;
        }
        set_pending(s, true);
    }
    if (spill_bytes(s->spill) + len > cfg->sub_disk_cap &&
        !over_cap(s, len, droppable, "client disk cap reached"))
        return;
    if ((uint64_t)atomic_load(&b->count.disk_bytes) + len > cfg->disk_cap &&
        !over_cap(s, len, droppable, "broker disk cap reached"))
        return;
    int err = broker_spill_append(b, s->spill, data, len, droppable);
    if (err != 0) {
        log_error("%s: spill write failed: %s", tcp_conn_name(s->conn),
                  log_strerror(-err));
        if (!over_cap(s, len, droppable, "spill write failed"))
            return;
        /* Room was made by dropping older pushes: one more try. */
        if (broker_spill_append(b, s->spill, data, len, droppable) != 0)
            atomic_fetch_add(&b->count.dropped, 1);
    }
}

void session_output(struct session *s, const void *data, size_t len,
                    bool droppable)
{
    if (s->closing)
        return;
    shard_count(&s->shard->count.bytes_out, len);
    if (s->spill == NULL) {
        size_t queued = buffer_readable(&s->out) + tcp_conn_output_bytes(s->conn);
        if (queued + len <= s->shard->broker->config->sub_memory_limit) {
            if (buffer_append(&s->out, data, len) != 0) {
                session_kill(s, "out of memory for its output");
                return;
            }
            shard_mark_dirty(s->shard, s);
            return;
        }
    }
    spill_output(s, data, len, droppable);
    shard_mark_dirty(s->shard, s); /* so that the file starts to drain */
}

/* The connection has nothing queued: hand it the next chunk of the file,
 * or, once everything is written, finish a close after reply. */
static void feed(struct session *s)
{
    if (s->closing || buffer_readable(&s->out) > 0 ||
        tcp_conn_output_bytes(s->conn) > 0)
        return;
    if (s->spill != NULL) {
        struct buffer *chunk = &s->shard->scratch;
        buffer_retrieve_all(chunk);
        uint64_t before = spill_bytes(s->spill);
        ssize_t n = spill_read(s->spill, chunk, SESSION_DRAIN_CHUNK);
        atomic_fetch_sub(&s->shard->broker->count.disk_bytes,
                         (int_fast64_t)(before - spill_bytes(s->spill)));
        if (n < 0) {
            log_error("%s: spill read failed: %s", tcp_conn_name(s->conn),
                      log_strerror((int)-n));
            session_kill(s, "spill file unreadable");
            return;
        }
        if (spill_empty(s->spill))
            drop_spill(s);
        if (n > 0) {
            (void)tcp_conn_send_buffer(s->conn, chunk);
            set_pending(s, true);
            return; /* its write-complete comes back here */
        }
    }
    set_pending(s, false);
    if (s->close_after_reply)
        session_kill(s, NULL);
}

void session_flush(struct session *s)
{
    if (s->closing)
        return;
    if (buffer_readable(&s->out) > 0)
        (void)tcp_conn_send_buffer(s->conn, &s->out);
    if (tcp_conn_output_bytes(s->conn) > 0)
        set_pending(s, true); /* write-complete will feed() */
    else
        feed(s);
}

void session_write_complete(struct session *s)
{
    feed(s);
}
