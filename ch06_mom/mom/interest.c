#include "mom/interest.h"

#include "base/array.h"
#include "base/assertion.h"
#include "mom/glob.h"
#include "mom/message.h"
#include "mom/reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What the peers want of a name: bit i for peer i. */
struct remote {
    uint64_t peers;
    uint64_t stale; /* marked by interest_peer_mark(), not yet confirmed */
};

/* The value of a name in a table: its total and one count per loop. */
struct counts {
    uint64_t total;
    uint64_t loop_mask; /* bit i set while per_loop[i] > 0 */
    uint32_t per_loop[];
};

int interest_init(struct interest *in, int loops)
{
    if (loops < 1 || loops > INTEREST_MAX_LOOPS)
        return -EINVAL;
    pthread_mutex_init(&in->mu, NULL);
    in->loops = loops;
    for (int k = 0; k < INTEREST_KINDS; k++) {
        dict_init(&in->tables[k]);
        dict_init(&in->remote[k]);
        dict_init(&in->changes[k]);
    }
    memset(in->remote_names, 0, sizeof in->remote_names);
    in->tracking = false;
    dict_init(&in->retained);
    return 0;
}

void interest_destroy(struct interest *in)
{
    for (int k = 0; k < INTEREST_KINDS; k++) {
        struct dict_iter it;
        dict_iter_init(&it, &in->tables[k]);
        for (struct dict_entry *e; (e = dict_next(&it)) != NULL;)
            free(e->value);
        dict_destroy(&in->tables[k]);
        dict_iter_init(&it, &in->remote[k]);
        for (struct dict_entry *e; (e = dict_next(&it)) != NULL;)
            free(e->value);
        dict_destroy(&in->remote[k]);
        dict_destroy(&in->changes[k]);
    }
    struct dict_iter it;
    dict_iter_init(&it, &in->retained);
    for (struct dict_entry *e; (e = dict_next(&it)) != NULL;)
        message_unref(e->value);
    dict_destroy(&in->retained);
    pthread_mutex_destroy(&in->mu);
}

/* Notes that @p name of @p kind may have changed its presence, for the
 * peers. Returns 1 when it was not noted yet (the caller makes sure that
 * a sync is queued: one already queued may have taken this kind's
 * changes before this one), 0 when it was or nothing is tracked, or
 * -ENOMEM. */
static int note_change(struct interest *in, enum interest_kind kind,
                       const char *name, size_t len)
{
    if (!in->tracking || kind == INTEREST_SHARD)
        return 0;
    if (dict_find(&in->changes[kind], name, len) != NULL)
        return 0;
    if (dict_add(&in->changes[kind], name, len, NULL) == NULL)
        return -ENOMEM;
    return 1;
}

int interest_add(struct interest *in, enum interest_kind kind,
                 const char *name, size_t len, int loop)
{
    ASSERT(loop >= 0 && loop < in->loops);
    int rc = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_entry *e = dict_find(&in->tables[kind], name, len);
    if (e == NULL) {
        struct counts *c = calloc(1, sizeof *c +
                                         (size_t)in->loops * sizeof(uint32_t));
        if (c == NULL || (e = dict_add(&in->tables[kind], name, len, c)) == NULL) {
            free(c);
            rc = -ENOMEM;
        } else if ((rc = note_change(in, kind, name, len)) < 0) {
            dict_delete(&in->tables[kind], e);
            free(c);
        }
    }
    if (rc >= 0) {
        struct counts *c = e->value;
        c->total++;
        c->per_loop[loop]++;
        c->loop_mask |= (uint64_t)1 << loop;
    }
    pthread_mutex_unlock(&in->mu);
    return rc;
}

int interest_remove(struct interest *in, enum interest_kind kind,
                    const char *name, size_t len, int loop)
{
    int rc = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_entry *e = dict_find(&in->tables[kind], name, len);
    ASSERT(e != NULL);
    struct counts *c = e->value;
    ASSERT(c->per_loop[loop] > 0);
    c->total--;
    if (--c->per_loop[loop] == 0)
        c->loop_mask &= ~((uint64_t)1 << loop);
    if (c->total == 0) {
        dict_delete(&in->tables[kind], e);
        free(c);
        /* Without memory to note it, the peers keep sending this name's
         * messages, which find nobody: wasted, not wrong. */
        rc = note_change(in, kind, name, len) == 1 ? 1 : 0;
    }
    pthread_mutex_unlock(&in->mu);
    return rc;
}

void interest_plan_init(struct interest_plan *plan)
{
    plan->receivers = 0;
    plan->channel_loops = 0;
    plan->peers = 0;
    plan->patterns = NULL;
    plan->pattern_count = 0;
    plan->pattern_cap = 0;
    buffer_init(&plan->names);
}

void interest_plan_destroy(struct interest_plan *plan)
{
    free(plan->patterns);
    buffer_destroy(&plan->names);
}

static int plan_pattern(struct interest_plan *plan, const struct dict_entry *e)
{
    const struct counts *c = e->value;
    struct interest_match *p = array_reserve(plan->patterns, &plan->pattern_cap,
                                             plan->pattern_count + 1,
                                             sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    plan->patterns = p;
    size_t off = buffer_readable(&plan->names);
    if (buffer_append(&plan->names, e->key, e->key_len) != 0)
        return -ENOMEM;
    p[plan->pattern_count++] = (struct interest_match){
        .name_off = off, .name_len = e->key_len, .loops = c->loop_mask};
    plan->receivers += (long long)c->total;
    return 0;
}

/* The peers that want @p channel, by its name or one of their patterns. */
static uint64_t plan_peers(const struct interest *in, const char *channel,
                           size_t len)
{
    uint64_t peers = 0;
    const struct dict_entry *e =
        dict_find(&in->remote[INTEREST_CHANNEL], channel, len);
    if (e != NULL)
        peers = ((const struct remote *)e->value)->peers;
    struct dict_iter it;
    dict_iter_init(&it, &in->remote[INTEREST_PATTERN]);
    while ((e = dict_next(&it)) != NULL) {
        const struct remote *r = e->value;
        /* A peer already named needs no second match. */
        if ((r->peers & ~peers) != 0 &&
            glob_match(e->key, e->key_len, channel, len))
            peers |= r->peers;
    }
    return peers;
}

int interest_plan(struct interest *in, enum interest_kind kind,
                  const char *channel, size_t len, struct interest_plan *plan)
{
    ASSERT(kind == INTEREST_CHANNEL || kind == INTEREST_SHARD);
    plan->receivers = 0;
    plan->channel_loops = 0;
    plan->peers = 0;
    plan->pattern_count = 0;
    buffer_retrieve_all(&plan->names);
    int err = 0;
    pthread_mutex_lock(&in->mu);
    if (kind == INTEREST_CHANNEL)
        plan->peers = plan_peers(in, channel, len);
    const struct dict_entry *e = dict_find(&in->tables[kind], channel, len);
    if (e != NULL) {
        const struct counts *c = e->value;
        plan->receivers = (long long)c->total;
        plan->channel_loops = c->loop_mask;
    }
    if (kind == INTEREST_CHANNEL) {
        /* Every pattern is tried: the work grows with the number of
         * distinct patterns, as in Redis, and each match is bounded by
         * glob_match(). */
        struct dict_iter it;
        dict_iter_init(&it, &in->tables[INTEREST_PATTERN]);
        while (err == 0 && (e = dict_next(&it)) != NULL) {
            if (glob_match(e->key, e->key_len, channel, len))
                err = plan_pattern(plan, e);
        }
    }
    pthread_mutex_unlock(&in->mu);
    if (err != 0) {
        plan->receivers = 0;
        plan->channel_loops = 0;
        plan->peers = 0;
        plan->pattern_count = 0;
    }
    return err;
}

uint64_t interest_count(struct interest *in, enum interest_kind kind,
                        const char *name, size_t len)
{
    pthread_mutex_lock(&in->mu);
    const struct dict_entry *e = dict_find(&in->tables[kind], name, len);
    uint64_t n = e == NULL ? 0 : ((const struct counts *)e->value)->total;
    pthread_mutex_unlock(&in->mu);
    return n;
}

uint64_t interest_names(struct interest *in, enum interest_kind kind)
{
    pthread_mutex_lock(&in->mu);
    uint64_t n = dict_size(&in->tables[kind]);
    pthread_mutex_unlock(&in->mu);
    return n;
}

void interest_list(struct interest *in, enum interest_kind kind,
                   const char *pattern, size_t pattern_len, struct reply *r)
{
    /* The count comes first on the wire, so the names are gathered into
     * a side buffer; the reply is written once the lock is released. */
    struct reply names = {.buf = NULL, .err = 0};
    struct buffer side;
    buffer_init(&side);
    names.buf = &side;
    size_t count = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_iter it;
    dict_iter_init(&it, &in->tables[kind]);
    for (const struct dict_entry *e; (e = dict_next(&it)) != NULL;) {
        if (pattern == NULL ||
            glob_match(pattern, pattern_len, e->key, e->key_len)) {
            reply_bulk(&names, e->key, e->key_len);
            count++;
        }
    }
    pthread_mutex_unlock(&in->mu);
    if (names.err != 0 && r->err == 0)
        r->err = names.err;
    reply_array(r, count);
    reply_raw(r, buffer_peek(&side), buffer_readable(&side));
    buffer_destroy(&side);
}

int interest_retain(struct interest *in, const char *channel, size_t len,
                    struct message *m)
{
    struct message *old = NULL;
    int err = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_entry *e = dict_find(&in->retained, channel, len);
    if (e != NULL) {
        old = e->value;
        if (m != NULL)
            e->value = m;
        else
            dict_delete(&in->retained, e);
    } else if (m != NULL && dict_add(&in->retained, channel, len, m) == NULL) {
        err = -ENOMEM;
    }
    if (err == 0 && m != NULL)
        message_ref(m);
    pthread_mutex_unlock(&in->mu);
    message_unref(old); /* outside the lock: it may free */
    return err;
}

struct message *interest_retained(struct interest *in, const char *channel,
                                  size_t len)
{
    pthread_mutex_lock(&in->mu);
    const struct dict_entry *e = dict_find(&in->retained, channel, len);
    struct message *m = e == NULL ? NULL : e->value;
    if (m != NULL)
        message_ref(m);
    pthread_mutex_unlock(&in->mu);
    return m;
}

/* --- peers ------------------------------------------------------------ */

void interest_track(struct interest *in)
{
    pthread_mutex_lock(&in->mu);
    in->tracking = true;
    pthread_mutex_unlock(&in->mu);
}

static void append_name(struct interest_names *out, const char *name,
                        size_t len, int *err)
{
    struct reply r = {.buf = &out->bulks, .err = 0};
    reply_bulk(&r, name, len);
    if (r.err != 0)
        *err = r.err;
    out->count++;
}

int interest_take_changes(struct interest *in, enum interest_kind kind,
                          struct interest_names *added,
                          struct interest_names *removed)
{
    ASSERT(kind == INTEREST_CHANNEL || kind == INTEREST_PATTERN);
    int err = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_iter it;
    dict_iter_init(&it, &in->changes[kind]);
    for (const struct dict_entry *e; err == 0 && (e = dict_next(&it)) != NULL;) {
        bool present = dict_find(&in->tables[kind], e->key, e->key_len) != NULL;
        append_name(present ? added : removed, e->key, e->key_len, &err);
    }
    if (err == 0) {
        dict_iter_init(&it, &in->changes[kind]);
        for (struct dict_entry *e; (e = dict_next(&it)) != NULL;)
            dict_delete(&in->changes[kind], e);
    }
    pthread_mutex_unlock(&in->mu);
    return err;
}

int interest_local_names(struct interest *in, enum interest_kind kind,
                         struct interest_names *out)
{
    int err = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_iter it;
    dict_iter_init(&it, &in->tables[kind]);
    for (const struct dict_entry *e; err == 0 && (e = dict_next(&it)) != NULL;)
        append_name(out, e->key, e->key_len, &err);
    pthread_mutex_unlock(&in->mu);
    return err;
}

static void peer_drop(struct interest *in, enum interest_kind kind,
                      struct dict_entry *e, int peer)
{
    struct remote *r = e->value;
    uint64_t bit = (uint64_t)1 << peer;
    if ((r->peers & bit) == 0)
        return;
    r->peers &= ~bit;
    r->stale &= ~bit;
    in->remote_names[peer][kind]--;
    if (r->peers == 0) {
        dict_delete(&in->remote[kind], e);
        free(r);
    }
}

int interest_peer_set(struct interest *in, enum interest_kind kind,
                      const char *name, size_t len, int peer, bool on)
{
    ASSERT(kind == INTEREST_CHANNEL || kind == INTEREST_PATTERN);
    ASSERT(peer >= 0 && peer < INTEREST_MAX_PEERS);
    uint64_t bit = (uint64_t)1 << peer;
    int err = 0;
    pthread_mutex_lock(&in->mu);
    struct dict_entry *e = dict_find(&in->remote[kind], name, len);
    if (!on) {
        if (e != NULL)
            peer_drop(in, kind, e, peer);
    } else {
        if (e == NULL) {
            struct remote *r = calloc(1, sizeof *r);
            if (r == NULL ||
                (e = dict_add(&in->remote[kind], name, len, r)) == NULL) {
                free(r);
                err = -ENOMEM;
            }
        }
        if (err == 0) {
            struct remote *r = e->value;
            if ((r->peers & bit) == 0)
                in->remote_names[peer][kind]++;
            r->peers |= bit;
            r->stale &= ~bit;
        }
    }
    pthread_mutex_unlock(&in->mu);
    return err;
}

/* Applies @p what to every name of @p peer: mark, sweep or clear. */
enum peer_walk { WALK_MARK, WALK_SWEEP, WALK_CLEAR };

static void peer_walk(struct interest *in, int peer, enum peer_walk what)
{
    ASSERT(peer >= 0 && peer < INTEREST_MAX_PEERS);
    uint64_t bit = (uint64_t)1 << peer;
    pthread_mutex_lock(&in->mu);
    for (int k = 0; k < INTEREST_KINDS; k++) {
        struct dict_iter it;
        dict_iter_init(&it, &in->remote[k]);
        for (struct dict_entry *e; (e = dict_next(&it)) != NULL;) {
            struct remote *r = e->value;
            if (what == WALK_MARK)
                r->stale |= r->peers & bit;
            else if (what == WALK_CLEAR || (r->stale & bit) != 0)
                peer_drop(in, (enum interest_kind)k, e, peer);
        }
    }
    pthread_mutex_unlock(&in->mu);
}

void interest_peer_mark(struct interest *in, int peer)
{
    peer_walk(in, peer, WALK_MARK);
}

void interest_peer_sweep(struct interest *in, int peer)
{
    peer_walk(in, peer, WALK_SWEEP);
}

void interest_peer_clear(struct interest *in, int peer)
{
    peer_walk(in, peer, WALK_CLEAR);
}

uint64_t interest_peer_names(struct interest *in, int peer,
                             enum interest_kind kind)
{
    pthread_mutex_lock(&in->mu);
    uint64_t n = in->remote_names[peer][kind];
    pthread_mutex_unlock(&in->mu);
    return n;
}
