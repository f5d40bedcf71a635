/* The table of peers: who they are, their links, what goes to them. */
#include "mom/peers.h"

#include "base/assertion.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "mom/broker_internal.h"
#include "mom/peer_backlog.h"
#include "mom/peer_commands.h"
#include "mom/session.h"
#include "mom/shard.h"
#include "mom/spill.h"
#include "net/event_loop.h"
#include "net/tcp_client.h"
#include "net/tcp_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int peers_address_cmp(const struct inet_address *a,
                      const struct inet_address *b)
{
    uint32_t ia = ntohl(a->u.v4.sin_addr.s_addr);
    uint32_t ib = ntohl(b->u.v4.sin_addr.s_addr);
    if (ia != ib)
        return ia < ib ? -1 : 1;
    return (int)inet_address_port(a) - (int)inet_address_port(b);
}

static struct peer *find_by_address(struct peers *ps,
                                    const struct inet_address *addr)
{
    for (int i = 0; i < ps->count; i++)
        if (peers_address_cmp(&ps->list[i]->addr, addr) == 0)
            return ps->list[i];
    return NULL;
}

static struct peer *find_by_node(struct peers *ps, const char *node)
{
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->list[i]->node, node) == 0)
            return ps->list[i];
    return NULL;
}

/* --- dialing ---------------------------------------------------------- */

/* A dialed connection is up: it gets a session like any client's, and
 * says who we are. */
static void on_dialed(struct tcp_conn *conn, void *ctx)
{
    struct peer *p = ctx;
    struct peers *ps = p->owner;
    broker_connection(conn, ps->broker);
    struct session *s = tcp_conn_context(conn);
    if (!tcp_conn_connected(conn) || s == NULL || s->closing)
        return;
    s->peer = p;
    pthread_mutex_lock(&ps->mu);
    if (p->dialing != NULL)
        tcp_conn_unref(p->dialing);
    tcp_conn_ref(conn);
    p->dialing = conn;
    p->dialing_since_us = timestamp_mono_us();
    pthread_mutex_unlock(&ps->mu);
    struct buffer *out = &s->shard->scratch;
    buffer_retrieve_all(out);
    peer_command_hello(out, ps->node, ps->epoch, ps->self_text,
                       ps->broker->config->requirepass);
    (void)tcp_conn_send_buffer(conn, out);
}

static void on_dialed_input(struct tcp_conn *conn, struct buffer *in,
                            int64_t receive_time_us, void *ctx)
{
    struct peer *p = ctx;
    broker_input(conn, in, receive_time_us, p->owner->broker);
}

static void on_dialed_write_complete(struct tcp_conn *conn, void *ctx)
{
    struct peer *p = ctx;
    broker_write_complete(conn, p->owner->broker);
}

static void on_dialed_high_water(struct tcp_conn *conn, size_t queued,
                                 void *ctx)
{
    struct peer *p = ctx;
    broker_high_water(conn, queued, p->owner->broker);
}

/* Under mu. A record for @p addr; it dials if ours is the lower address
 * and, when @p named, introduces us otherwise. NULL when the table is
 * full or memory ran out. */
static struct peer *add_peer(struct peers *ps, const struct inet_address *addr,
                             bool named)
{
    if (ps->count == PEERS_MAX) {
        log_warn("peers: %d known, not adding another", PEERS_MAX);
        return NULL;
    }
    struct peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->owner = ps;
    p->index = ps->count;
    p->addr = *addr;
    inet_address_to_string(addr, p->addr_text, sizeof p->addr_text);
    p->named = named;
    p->we_dial = peers_address_cmp(&ps->self, addr) < 0;
    p->state = PEER_CONNECTING;
    if ((p->we_dial || named) && !ps->stopped) {
        struct broker *b = ps->broker;
        struct event_loop *loop = b->shards[p->index % b->shard_count].loop;
        char name[TCP_CLIENT_NAME_MAX];
        snprintf(name, sizeof name, "peer-%s", p->addr_text);
        p->client = tcp_client_new(loop, addr, name);
        if (p->client == NULL) {
            free(p);
            return NULL;
        }
        struct tcp_callbacks cb = {
            .on_connection = on_dialed,
            .on_message = on_dialed_input,
            .on_write_complete = on_dialed_write_complete,
            .on_high_water = on_dialed_high_water,
            .high_water_mark = b->config->sub_memory_limit,
            .ctx = p,
        };
        tcp_client_set_callbacks(p->client, &cb);
        tcp_client_set_retry(p->client, true);
        (void)tcp_client_set_retry_delays(p->client, PEERS_RETRY_MIN_US,
                                          PEERS_RETRY_MAX_US);
    }
    ps->list[ps->count++] = p;
    if (p->client != NULL)
        (void)tcp_client_connect(p->client);
    log_info("peers: %s %s", p->addr_text,
             p->we_dial ? "known, dialing it"
             : named    ? "known, introducing us"
                        : "known, waiting for it to dial");
    return p;
}

/* --- links ------------------------------------------------------------ */

/* Under mu. Tells @p p the addresses of our other links, and them its. */
static void gossip(struct peers *ps, struct peer *p)
{
    struct buffer *out = &ps->scratch;
    buffer_retrieve_all(out);
    size_t n = 0;
    for (int i = 0; i < ps->count; i++)
        if (ps->list[i] != p && ps->list[i]->state == PEER_UP)
            n++;
    if (n > 0) {
        peer_command_begin(out, "PEERS", n);
        for (int i = 0; i < ps->count; i++)
            if (ps->list[i] != p && ps->list[i]->state == PEER_UP)
                peer_command_arg(out, ps->list[i]->addr_text);
        (void)tcp_conn_send_buffer(p->link, out);
    }
    buffer_retrieve_all(out);
    peer_command_begin(out, "PEERS", 1);
    peer_command_arg(out, p->addr_text);
    for (int i = 0; i < ps->count; i++)
        if (ps->list[i] != p && ps->list[i]->state == PEER_UP)
            (void)tcp_conn_send(ps->list[i]->link, buffer_peek(out),
                                buffer_readable(out));
    buffer_retrieve_all(out);
}

/* Under mu. The handshake of @p s succeeded: it is @p p's link now. */
static void link_up(struct peers *ps, struct peer *p, struct session *s,
                    const char *node, uint64_t epoch)
{
    bool same = p->epoch == epoch && strcmp(p->node, node) == 0;
    if (!same) {
        /* A new incarnation: what the old one wanted, and the messages
         * kept for its subscribers, have nobody to go to. */
        interest_peer_clear(&ps->broker->interest, p->index);
        peer_backlog_drop(p);
    } else {
        interest_peer_mark(&ps->broker->interest, p->index);
    }
    snprintf(p->node, sizeof p->node, "%s", node);
    p->epoch = epoch;
    p->state = PEER_UP;
    tcp_conn_ref(s->conn);
    p->link = s->conn;
    if (p->dialing == s->conn) {
        tcp_conn_unref(p->dialing);
        p->dialing = NULL;
    }
    atomic_store(&p->last_input_us, timestamp_mono_us());
    atomic_fetch_add(&p->count.links, 1);
    p->synced = false;
    p->congested = false;
    p->inflight = 0; /* what was on its way to an old link is not counted */
    s->link = true;
    s->peer = p;
    /* A link carries messages of any size: not the limits of a client
     * that has yet to authenticate. */
    s->authenticated = true;
    request_parser_set_auth_required(&s->parser, false);
    /* An introduction is done once it dials us. */
    if (p->client != NULL && !p->we_dial)
        (void)tcp_client_stop(p->client);
    p->redial_at_us = 0;
    p->idle = false;
    log_info("peers: %s (%s, epoch %" PRIu64 ") linked%s", p->addr_text,
             p->node, epoch, same ? ", same epoch" : "");
    interest_track(&ps->broker->interest);
    gossip(ps, p);
    if (!peer_backlog_empty(p))
        peer_backlog_drain(p);
    peers_queue_sync(ps);
}

/* Under mu. Whether a handshake for @p p may go on: not an introduction
 * (we dial it: its record does, see add_peer), and no live link with the
 * same or a newer epoch. An introduction with a newer epoch than a link
 * that looks alive shows that link stale: it goes to @p stale, to be
 * closed, so that our dial starts at once. */
static int check_epoch(struct peer *p, bool dialed,
                       uint64_t epoch, struct tcp_conn **stale)
{
    if (!dialed && p->we_dial) {
        if (p->link != NULL && epoch > p->epoch) {
            *stale = p->link;
            tcp_conn_ref(*stale);
        }
        return -EPERM;
    }
    return p->link != NULL && epoch <= p->epoch ? -EPERM : 0;
}

int peers_handshake(struct peers *ps, struct session *s, const char *node,
                    uint64_t epoch, const struct inet_address *addr,
                    char *why, size_t why_len)
{
    bool dialed = s->peer != NULL; /* this is the answer to our PEER */
    int rc = 0;
    struct tcp_conn *stale = NULL; /* a link to close, with a reference */
    pthread_mutex_lock(&ps->mu);
    struct peer *p = dialed ? s->peer : find_by_node(ps, node);
    if (s->link) {
        snprintf(why, why_len, "ERR PEER on a link that is up");
        rc = -EPERM;
    } else if (strcmp(node, ps->node) == 0 ||
               peers_address_cmp(addr, &ps->self) == 0) {
        snprintf(why, why_len, "ERR PEER refused: that is this broker");
        rc = -EPERM;
    } else if (p != NULL && peers_address_cmp(&p->addr, addr) != 0 &&
               (dialed || p->link != NULL)) {
        snprintf(why, why_len,
                 "ERR PEER refused: node %s is at %s, not at this address",
                 node, p->addr_text);
        rc = -EPERM;
    } else {
        if (p != NULL && peers_address_cmp(&p->addr, addr) != 0) {
            /* Not linked where we knew it: it moved, and takes its name
             * to its new address. */
            p->node[0] = '\0';
            p = NULL;
        }
        if (p == NULL)
            p = find_by_address(ps, addr);
        if (p == NULL)
            p = add_peer(ps, addr, false);
        rc = p == NULL ? -EPERM : check_epoch(p, dialed, epoch, &stale);
        if (p != NULL && !dialed && p->we_dial && p->client != NULL) {
            /* An introduction: make sure that we dial it now, also when
             * we had given it up (idle) or wait after a refusal. */
            p->idle = false;
            p->redial_at_us = 0;
            (void)tcp_client_connect(p->client);
        }
        if (p == NULL)
            snprintf(why, why_len, "ERR PEER refused: no room for another peer");
        else if (rc != 0 && p->we_dial && !dialed)
            snprintf(why, why_len,
                     "ERR PEER refused: the lower address dials (%s dials %s)",
                     ps->self_text, p->addr_text);
        else if (rc != 0)
            snprintf(why, why_len, "ERR PEER refused: %s is linked already%s",
                     node, epoch < p->epoch ? " with a newer epoch" : "");
    }
    if (rc == 0 && p != NULL) {
        if (p->link != NULL) { /* a stale link: it restarted */
            log_warn("peers: %s came back with a new epoch: its old link "
                     "is closed", p->addr_text);
            stale = p->link; /* closed below, with our reference */
            p->link = NULL;
        }
        if (!dialed) {
            struct buffer *out = &ps->scratch;
            buffer_retrieve_all(out);
            peer_command_hello(out, ps->node, ps->epoch, ps->self_text, NULL);
            (void)tcp_conn_send_buffer(s->conn, out);
        }
        link_up(ps, p, s, node, epoch);
    }
    pthread_mutex_unlock(&ps->mu);
    /* Outside the lock: a close may run the down callback at once (when
     * its loop no longer takes queued work), and that takes the lock. */
    if (stale != NULL) {
        tcp_conn_force_close(stale);
        tcp_conn_unref(stale);
    }
    return rc;
}

void peers_learn(struct peers *ps, const struct inet_address *addr)
{
    pthread_mutex_lock(&ps->mu);
    struct peer *p = find_by_address(ps, addr);
    if (p == NULL && peers_address_cmp(addr, &ps->self) != 0) {
        (void)add_peer(ps, addr, false);
    } else if (p != NULL && p->idle) {
        p->idle = false;
        if (p->client != NULL)
            (void)tcp_client_connect(p->client);
    }
    pthread_mutex_unlock(&ps->mu);
}

void peers_closed(struct peers *ps, struct session *s)
{
    struct peer *p = s->peer;
    if (p == NULL)
        return;
    pthread_mutex_lock(&ps->mu);
    if (p->dialing == s->conn) {
        tcp_conn_unref(p->dialing);
        p->dialing = NULL;
    }
    if (p->link == s->conn) {
        tcp_conn_unref(p->link);
        p->link = NULL;
        p->congested = false;
        p->inflight = 0;
        p->down_since_us = timestamp_mono_us();
        if (ps->broker->config->peer_grace_ms > 0) {
            p->state = PEER_DOWN;
        } else {
            p->state = PEER_CONNECTING;
            interest_peer_clear(&ps->broker->interest, p->index);
            peer_backlog_drop(p);
        }
        log_warn("peers: %s (%s): link lost", p->addr_text, p->node);
        /* Its dialer dials again; an introduction is sent again, in case
         * it restarted without knowing us. */
        if (p->client != NULL && !p->we_dial)
            (void)tcp_client_connect(p->client);
    }
    pthread_mutex_unlock(&ps->mu);
}

void peers_refused(struct peers *ps, struct session *s)
{
    pthread_mutex_lock(&ps->mu);
    struct peer *p = s->peer;
    if (p != NULL && p->client != NULL && p->state != PEER_UP) {
        (void)tcp_client_stop(p->client);
        p->redial_at_us = timestamp_mono_us() + PEERS_RETRY_MAX_US;
    }
    pthread_mutex_unlock(&ps->mu);
}

void peers_input(struct peers *ps, struct session *s)
{
    (void)ps;
    if (s->peer != NULL)
        atomic_store(&s->peer->last_input_us, timestamp_mono_us());
}

/* A batch of RPUB commands on its way to its link's loop. */
struct forward {
    struct peer *peer;
    struct tcp_conn *conn; /* the link it was sent to (a reference) */
    size_t count;
    size_t len;
    char data[];
};

/* In the link's loop. Every write to a link happens in this thread, in
 * the order the batches were decided under the lock: a batch sent here
 * before the link became congested is written before the spill file's
 * first chunk, which waits for it (peer_backlog_drain()). */
static void write_forward(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct forward *f = ctx;
    struct peer *p = f->peer;
    pthread_mutex_lock(&p->owner->mu);
    if (p->link == f->conn) {
        p->inflight--;
        (void)tcp_conn_send(f->conn, f->data, f->len);
    } else { /* its link was lost meanwhile, with what it had in flight */
        atomic_fetch_add(&p->count.dropped, f->count);
    }
    pthread_mutex_unlock(&p->owner->mu);
    tcp_conn_unref(f->conn);
    free(f);
}

void peers_forward(struct peers *ps, int index, struct buffer *out,
                   size_t count)
{
    size_t len = buffer_readable(out);
    pthread_mutex_lock(&ps->mu);
    struct peer *p = ps->list[index];
    if (p->state == PEER_UP && !p->congested && peer_backlog_empty(p)) {
        struct forward *f = malloc(sizeof *f + len);
        int err = -ENOMEM;
        if (f != NULL) {
            *f = (struct forward){.peer = p, .conn = p->link, .count = count,
                                  .len = len};
            memcpy(f->data, buffer_peek(out), len);
            tcp_conn_ref(f->conn);
            p->inflight++;
            err = event_loop_queue(tcp_conn_loop(f->conn), write_forward, f);
            if (err != 0) {
                p->inflight--;
                tcp_conn_unref(f->conn);
                free(f);
            }
        }
        if (err != 0)
            atomic_fetch_add(&p->count.dropped, count);
    } else if (p->state != PEER_CONNECTING) {
        peer_backlog_append(p, buffer_peek(out), len, count);
    } else {
        atomic_fetch_add(&p->count.dropped, count);
        count = 0;
        len = 0;
    }
    pthread_mutex_unlock(&ps->mu);
    atomic_fetch_add(&p->count.msgs_out, count);
    atomic_fetch_add(&p->count.bytes_out, len);
    buffer_retrieve_all(out);
}

void peers_write_complete(struct peers *ps, struct session *s)
{
    pthread_mutex_lock(&ps->mu);
    if (s->peer != NULL && s->peer->link == s->conn && s->peer->congested)
        peer_backlog_drain(s->peer);
    pthread_mutex_unlock(&ps->mu);
}

void peers_high_water(struct peers *ps, struct session *s)
{
    pthread_mutex_lock(&ps->mu);
    if (s->peer != NULL && s->peer->link == s->conn)
        s->peer->congested = true;
    pthread_mutex_unlock(&ps->mu);
}

/* --- the base loop: interest, heartbeat ------------------------------- */

static void heartbeat(struct event_loop *loop, uint64_t timer_id, void *ctx)
{
    (void)loop;
    (void)timer_id;
    struct peers *ps = ctx;
    const struct broker_config *cfg = ps->broker->config;
    int64_t now = timestamp_mono_us();
    int64_t silence = (int64_t)cfg->peer_heartbeat_ms * 1000 * PEERS_SILENT_BEATS;
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    struct tcp_conn *silent[2 * PEERS_MAX]; /* with a reference each */
    int n = 0;
    /* A beat this late means that this broker was stopped (SIGSTOP, a
     * stall): its links' input waits unread in their sockets, and judging
     * them by it would close live links. They get a fresh start. */
    bool stalled = ps->last_beat_us != 0 &&
                   now - ps->last_beat_us > (int64_t)cfg->peer_heartbeat_ms * 2000;
    ps->last_beat_us = now;
    pthread_mutex_lock(&ps->mu);
    for (int i = 0; i < ps->count; i++) {
        struct peer *p = ps->list[i];
        if (stalled && p->link != NULL)
            atomic_store(&p->last_input_us, now);
        if (p->link != NULL) {
            (void)tcp_conn_send(p->link, ping, sizeof ping - 1);
            if (now - atomic_load(&p->last_input_us) > silence) {
                log_warn("peers: %s (%s): silent for %d heartbeats, closed",
                         p->addr_text, p->node, PEERS_SILENT_BEATS);
                tcp_conn_ref(p->link);
                silent[n++] = p->link;
            }
        }
        if (p->dialing != NULL && now - p->dialing_since_us > silence) {
            log_warn("peers: %s: no answer to PEER, closed", p->addr_text);
            tcp_conn_ref(p->dialing);
            silent[n++] = p->dialing;
        }
        if (p->redial_at_us != 0 && now >= p->redial_at_us) {
            p->redial_at_us = 0;
            if (p->client != NULL && p->state != PEER_UP)
                (void)tcp_client_connect(p->client);
        }
        if (p->state == PEER_DOWN &&
            now - p->down_since_us > (int64_t)cfg->peer_grace_ms * 1000) {
            log_warn("peers: %s (%s): down for longer than the grace period: "
                     "its interest and messages are dropped",
                     p->addr_text, p->node);
            p->state = PEER_CONNECTING;
            interest_peer_clear(&ps->broker->interest, p->index);
            peer_backlog_drop(p);
            /* One we only heard of is not dialed for ever: a PEERS that
             * names it again (it came back) starts the dialing again. */
            if (!p->named && p->client != NULL) {
                (void)tcp_client_stop(p->client);
                p->idle = true;
            }
        }
    }
    pthread_mutex_unlock(&ps->mu);
    /* Outside the lock, as in peers_handshake(). */
    for (int i = 0; i < n; i++) {
        tcp_conn_force_close(silent[i]);
        tcp_conn_unref(silent[i]);
    }
}

/* --- life ------------------------------------------------------------- */

struct peers *peers_new(struct broker *b)
{
    struct peers *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return NULL;
    pthread_mutex_init(&ps->mu, NULL);
    ps->broker = b;
    (void)inet_address_from_ip(&ps->self, b->config->bind, (uint16_t)b->port);
    inet_address_to_string(&ps->self, ps->self_text, sizeof ps->self_text);
    snprintf(ps->node, sizeof ps->node, "%s",
             b->config->node_name != NULL ? b->config->node_name
                                          : ps->self_text);
    /* Wall-clock microseconds: a broker that restarts gets a larger one. */
    ps->epoch = (uint64_t)timestamp_wall_us();
    atomic_init(&ps->sync_queued, false);
    buffer_init(&ps->scratch);
    return ps;
}

int peers_start(struct peers *ps)
{
    const struct broker_config *cfg = ps->broker->config;
    ps->heartbeat_timer = event_loop_run_every(
        ps->broker->loop, (int64_t)cfg->peer_heartbeat_ms * 1000, heartbeat, ps);
    if (ps->heartbeat_timer == 0)
        return -ENOMEM;
    int err = 0;
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < cfg->peer_count && err == 0; i++) {
        struct inet_address addr;
        if (broker_config_parse_peer(&addr, cfg->peers[i]) != 0) {
            err = -EINVAL;
        } else if (peers_address_cmp(&addr, &ps->self) == 0) {
            log_warn("peers: --peer %s is this broker: skipped", cfg->peers[i]);
        } else if (find_by_address(ps, &addr) == NULL &&
                   add_peer(ps, &addr, true) == NULL) {
            err = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&ps->mu);
    return err;
}

void peers_stop(struct peers *ps)
{
    if (ps == NULL)
        return;
    struct tcp_client *clients[PEERS_MAX];
    int n = 0;
    pthread_mutex_lock(&ps->mu);
    ps->stopped = true;
    for (int i = 0; i < ps->count; i++) {
        if (ps->list[i]->client != NULL)
            clients[n++] = ps->list[i]->client;
        ps->list[i]->client = NULL;
    }
    pthread_mutex_unlock(&ps->mu);
    if (ps->heartbeat_timer != 0)
        event_loop_cancel_timer(ps->broker->loop, ps->heartbeat_timer);
    ps->heartbeat_timer = 0;
    /* Without the lock: freeing a client closes its connection in its
     * loop and waits for that, and the down callback (peers_closed())
     * takes the lock. */
    for (int i = 0; i < n; i++)
        tcp_client_free(clients[i]);
}

void peers_free(struct peers *ps)
{
    if (ps == NULL)
        return;
    peers_stop(ps);
    for (int i = 0; i < ps->count; i++) {
        struct peer *p = ps->list[i];
        if (p->link != NULL)
            tcp_conn_unref(p->link);
        if (p->dialing != NULL)
            tcp_conn_unref(p->dialing);
        peer_backlog_drop(p);
        free(p);
    }
    buffer_destroy(&ps->scratch);
    pthread_mutex_destroy(&ps->mu);
    /* A subscriber closed by the server's free queued a sync, which has
     * yet to run: it frees the struct when it does. The I/O loops have
     * stopped, so nothing queues another. */
    if (atomic_load(&ps->sync_queued))
        ps->orphaned = true;
    else
        free(ps);
}

/* --- INFO ------------------------------------------------------------- */

static const char *state_name(enum peer_state s)
{
    return s == PEER_UP ? "up" : s == PEER_DOWN ? "down" : "connecting";
}

void peers_info(struct peers *ps, struct buffer *out)
{
    char line[512];
    struct interest *in = &ps->broker->interest;
    pthread_mutex_lock(&ps->mu);
    int up = 0;
    for (int i = 0; i < ps->count; i++)
        up += ps->list[i]->state == PEER_UP;
    int n = snprintf(line, sizeof line,
                     "\r\n# Peers\r\nnode_name:%s\r\nnode_epoch:%" PRIu64
                     "\r\npeers_known:%d\r\npeers_up:%d\r\n",
                     ps->node, ps->epoch, ps->count, up);
    (void)buffer_append(out, line, (size_t)n);
    for (int i = 0; i < ps->count; i++) {
        struct peer *p = ps->list[i];
        n = snprintf(
            line, sizeof line,
            "peer%d:addr=%s,node=%s,state=%s,epoch=%" PRIu64
            ",dialer=%s,channels=%" PRIu64 ",patterns=%" PRIu64
            ",msgs_in=%" PRIuFAST64 ",bytes_in=%" PRIuFAST64
            ",msgs_out=%" PRIuFAST64 ",bytes_out=%" PRIuFAST64
            ",spilled_bytes=%" PRIu64 ",dropped=%" PRIuFAST64
            ",links=%" PRIuFAST64 "\r\n",
            i, p->addr_text, p->node[0] != '\0' ? p->node : "-",
            state_name(p->state), p->epoch, p->we_dial ? "self" : "peer",
            interest_peer_names(in, p->index, INTEREST_CHANNEL),
            interest_peer_names(in, p->index, INTEREST_PATTERN),
            atomic_load(&p->count.msgs_in), atomic_load(&p->count.bytes_in),
            atomic_load(&p->count.msgs_out), atomic_load(&p->count.bytes_out),
            p->backlog != NULL ? spill_bytes(p->backlog) : 0,
            atomic_load(&p->count.dropped), atomic_load(&p->count.links));
        if (n > 0 && (size_t)n < sizeof line)
            (void)buffer_append(out, line, (size_t)n);
    }
    pthread_mutex_unlock(&ps->mu);
}
