/* Interest between peers: what this broker tells them it wants, from the
 * base loop, and what they tell it, into the interest table. */
#include "mom/peers.h"

#include "mom/broker_internal.h"
#include "mom/peer_commands.h"
#include "mom/session.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"

#include <stdlib.h>

static void sync_peers(struct event_loop *loop, void *ctx);

void peers_queue_sync(struct peers *ps)
{
    if (!atomic_exchange(&ps->sync_queued, true) &&
        event_loop_queue(ps->broker->loop, sync_peers, ps) != 0)
        atomic_store(&ps->sync_queued, false); /* the broker is going */
}

/* Appends `VERB names...`, PEERS_NAMES_PER_COMMAND names a command, and
 * empties @p names. */
static void names_command(struct buffer *out, const char *verb,
                          struct interest_names *names)
{
    const char *at = buffer_peek(&names->bulks);
    for (size_t done = 0; done < names->count;) {
        size_t n = names->count - done;
        if (n > PEERS_NAMES_PER_COMMAND)
            n = PEERS_NAMES_PER_COMMAND;
        const char *start = at;
        for (size_t i = 0; i < n; i++)
            at += peer_command_bulk_size(at);
        peer_command_begin(out, verb, n);
        (void)buffer_append(out, start, (size_t)(at - start));
        done += n;
    }
    buffer_retrieve_all(&names->bulks);
    names->count = 0;
}

/* Tells the peers what changed here, and a new link everything. */
static void sync_peers(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct peers *ps = ctx;
    if (ps->orphaned) { /* peers_free() ran meanwhile */
        free(ps);
        return;
    }
    struct interest *in = &ps->broker->interest;
    atomic_store(&ps->sync_queued, false);
    struct interest_names added = {.count = 0};
    struct interest_names removed = {.count = 0};
    struct buffer update;
    buffer_init(&added.bulks);
    buffer_init(&removed.bulks);
    buffer_init(&update);
    static const char *const verbs[][2] = {{"RSUB", "RUNSUB"},
                                           {"RPSUB", "RPUNSUB"}};
    static const enum interest_kind kinds[] = {INTEREST_CHANNEL,
                                               INTEREST_PATTERN};
    for (int k = 0; k < 2; k++) {
        if (interest_take_changes(in, kinds[k], &added, &removed) != 0) {
            peers_queue_sync(ps); /* the changes are kept: try again */
            buffer_retrieve_all(&added.bulks);
            buffer_retrieve_all(&removed.bulks);
            added.count = removed.count = 0;
            continue;
        }
        names_command(&update, verbs[k][0], &added);
        names_command(&update, verbs[k][1], &removed);
    }
    pthread_mutex_lock(&ps->mu);
    for (int i = 0; i < ps->count; i++) {
        struct peer *p = ps->list[i];
        if (p->state != PEER_UP)
            continue;
        if (p->synced) {
            if (buffer_readable(&update) > 0)
                (void)tcp_conn_send(p->link, buffer_peek(&update),
                                    buffer_readable(&update));
            continue;
        }
        /* After the changes taken above: a change made since is noted
         * for the next sync, and the sets are idempotent. */
        struct buffer *full = &ps->scratch;
        buffer_retrieve_all(full);
        bool whole = true;
        for (int k = 0; k < 2 && whole; k++) {
            whole = interest_local_names(in, kinds[k], &added) == 0;
            if (whole) {
                names_command(full, verbs[k][0], &added);
            } else {
                buffer_retrieve_all(&added.bulks);
                added.count = 0;
            }
        }
        if (!whole) {
            peers_queue_sync(ps); /* no memory: p stays unsynced */
            continue;
        }
        peer_command_begin(full, "RSYNC", 0);
        (void)tcp_conn_send_buffer(p->link, full);
        p->synced = true;
    }
    pthread_mutex_unlock(&ps->mu);
    buffer_destroy(&added.bulks);
    buffer_destroy(&removed.bulks);
    buffer_destroy(&update);
}

int peers_set_interest(struct peers *ps, struct session *s,
                       enum interest_kind kind, const struct request_arg *names,
                       size_t count, bool on)
{
    int err = 0;
    pthread_mutex_lock(&ps->mu);
    /* Under the lock, so that a link being replaced cannot add to the
     * interest of the one that replaces it. */
    if (s->peer != NULL && s->peer->link == s->conn)
        for (size_t i = 0; i < count && err == 0; i++)
            err = interest_peer_set(&ps->broker->interest, kind, names[i].ptr,
                                    names[i].len, s->peer->index, on);
    pthread_mutex_unlock(&ps->mu);
    return err;
}

void peers_sweep(struct peers *ps, struct session *s)
{
    pthread_mutex_lock(&ps->mu);
    if (s->peer != NULL && s->peer->link == s->conn)
        interest_peer_sweep(&ps->broker->interest, s->peer->index);
    pthread_mutex_unlock(&ps->mu);
}
