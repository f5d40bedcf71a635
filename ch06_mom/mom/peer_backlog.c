/* A peer's backlog: the RPUB commands it could not take yet, in a spill
 * file (spill.h), within the caps of the subscribers' spill files. */
#include "mom/peer_backlog.h"

#include "base/log.h"
#include "mom/broker_internal.h"
#include "mom/peer_commands.h"
#include "mom/peers.h"
#include "mom/spill.h"
#include "net/tcp_conn.h"

#include <inttypes.h>
#include <stdio.h>

void peer_backlog_drop(struct peer *p)
{
    if (p->backlog == NULL)
        return;
    struct broker *b = p->owner->broker;
    atomic_fetch_add(&p->count.dropped, spill_records(p->backlog));
    atomic_fetch_sub(&b->count.disk_bytes,
                     (int_fast64_t)spill_bytes(p->backlog));
    spill_close(p->backlog);
    p->backlog = NULL;
}

bool peer_backlog_empty(const struct peer *p)
{
    return p->backlog == NULL || spill_empty(p->backlog);
}

/* Appends one message, within the caps. */
static void append_one(struct peer *p, const char *data, size_t len)
{
    struct broker *b = p->owner->broker;
    if (broker_disk_excess(b, spill_bytes(p->backlog), len) > 0 &&
        b->config->policy == BROKER_POLICY_DROP_OLDEST)
        atomic_fetch_add(&p->count.dropped,
                         broker_spill_make_room(b, p->backlog, len));
    if (broker_disk_excess(b, spill_bytes(p->backlog), len) > 0 ||
        broker_spill_append(b, p->backlog, data, len, true) != 0)
        atomic_fetch_add(&p->count.dropped, 1);
}

void peer_backlog_append(struct peer *p, const void *data, size_t len,
                         size_t count)
{
    struct broker *b = p->owner->broker;
    const struct broker_config *cfg = b->config;
    if (p->backlog == NULL) {
        char name[128];
        int err = 0;
        snprintf(name, sizeof name, "%speer%d-%" PRIu64 "%s", b->spill_prefix,
                 p->index, p->backlog_seq++, SPILL_SUFFIX);
        p->backlog = spill_open(cfg->spill_dir, name, &err);
        if (p->backlog == NULL) {
            log_error("peers: %s: cannot spill to %s/%s: %s", p->addr_text,
                      cfg->spill_dir, name, log_strerror(-err));
            atomic_fetch_add(&p->count.dropped, count);
            return;
        }
    }
    /* A record per message, so that a drop (a cap, drop-oldest, a new
     * epoch) counts messages. */
    const char *at = data;
    for (size_t left = len; left > 0;) {
        size_t one = peer_command_size(at, left);
        if (one == 0) /* never with our own encoding */
            one = left;
        append_one(p, at, one);
        at += one;
        left -= one;
    }
}

/* Sending from the link's own thread puts the chunk in its output at
 * once, ahead of anything another loop sends after this. */
void peer_backlog_drain(struct peer *p)
{
    struct peers *ps = p->owner;
    /* Messages sent straight to the link are still on their way to its
     * loop: they go first, and their write-complete comes back here. */
    if (p->inflight > 0)
        return;
    if (peer_backlog_empty(p)) {
        p->congested = false;
        if (p->backlog != NULL) {
            spill_close(p->backlog);
            p->backlog = NULL;
        }
        return;
    }
    struct buffer *chunk = &ps->scratch;
    buffer_retrieve_all(chunk);
    uint64_t before = spill_bytes(p->backlog);
    ssize_t n = spill_read(p->backlog, chunk, PEERS_DRAIN_CHUNK);
    atomic_fetch_sub(&ps->broker->count.disk_bytes,
                     (int_fast64_t)(before - spill_bytes(p->backlog)));
    if (n < 0) {
        log_error("peers: %s: spill read failed: %s", p->addr_text,
                  log_strerror((int)-n));
        peer_backlog_drop(p);
        p->congested = false;
        return;
    }
    p->congested = true; /* until the write-complete of this chunk */
    (void)tcp_conn_send_buffer(p->link, chunk);
}
