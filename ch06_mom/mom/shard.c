#include "mom/shard.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/log.h"
#include "mom/broker_internal.h"
#include "mom/glob.h"
#include "mom/message.h"
#include "mom/peer_commands.h"
#include "mom/peers.h"
#include "mom/session.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A batch of messages for one loop, queued to it in one call. */
struct handoff {
    struct shard *to;
    size_t count;
    struct message *messages[];
};

static void shard_flush(struct event_loop *loop, void *ctx);

int shard_init(struct shard *sh, struct broker *b, int index)
{
    sh->broker = b;
    atomic_init(&sh->count.commands, 0);
    atomic_init(&sh->count.published, 0);
    atomic_init(&sh->count.delivered, 0);
    atomic_init(&sh->count.bytes_out, 0);
    sh->loop = NULL;
    sh->index = index;
    for (int k = 0; k < INTEREST_KINDS; k++)
        dict_init(&sh->topics[k]);
    list_init(&sh->dirty);
    sh->flush_queued = false;
    interest_plan_init(&sh->plan);
    buffer_init(&sh->scratch);
    atomic_init(&sh->inbound, 0);
    sh->outboxes = calloc((size_t)b->shard_count, sizeof *sh->outboxes);
    sh->peer_out = calloc(PEERS_MAX, sizeof *sh->peer_out);
    sh->peer_msgs = calloc(PEERS_MAX, sizeof *sh->peer_msgs);
    sh->peer_dirty = 0;
    buffer_init(&sh->rpub);
    for (int i = 0; sh->peer_out != NULL && i < PEERS_MAX; i++)
        buffer_init(&sh->peer_out[i]);
    return sh->outboxes == NULL || sh->peer_out == NULL ||
                   sh->peer_msgs == NULL
               ? -ENOMEM
               : 0;
}

void shard_destroy(struct shard *sh)
{
    for (int k = 0; k < INTEREST_KINDS; k++) {
        ASSERT(dict_size(&sh->topics[k]) == 0);
        dict_destroy(&sh->topics[k]);
    }
    ASSERT(list_empty(&sh->dirty));
    for (int i = 0; sh->outboxes != NULL && i < sh->broker->shard_count; i++) {
        struct outbox *box = &sh->outboxes[i];
        for (size_t j = 0; j < box->count; j++)
            message_unref(box->messages[j]);
        free(box->messages);
    }
    free(sh->outboxes);
    for (int i = 0; sh->peer_out != NULL && i < PEERS_MAX; i++)
        buffer_destroy(&sh->peer_out[i]);
    free(sh->peer_out);
    free(sh->peer_msgs);
    buffer_destroy(&sh->rpub);
    interest_plan_destroy(&sh->plan);
    buffer_destroy(&sh->scratch);
}

int shard_subscribe(struct shard *sh, struct session *s,
                    enum interest_kind kind, const char *name, size_t len)
{
    if (dict_find(&s->subs[kind], name, len) != NULL)
        return 0;
    struct subscription *sub = calloc(1, sizeof *sub);
    if (sub == NULL)
        return -ENOMEM;
    struct dict_entry *te = dict_find(&sh->topics[kind], name, len);
    bool new_topic = te == NULL;
    if (new_topic) {
        struct topic *t = malloc(sizeof *t);
        if (t == NULL || (te = dict_add(&sh->topics[kind], name, len, t)) == NULL) {
            free(t);
            free(sub);
            return -ENOMEM;
        }
        list_init(&t->subscriptions);
    }
    sub->own = dict_add(&s->subs[kind], name, len, sub);
    int added = sub->own == NULL ? -ENOMEM
                                 : interest_add(&sh->broker->interest, kind,
                                                name, len, sh->index);
    if (added < 0) {
        if (sub->own != NULL)
            dict_delete(&s->subs[kind], sub->own);
        if (new_topic) {
            free(te->value);
            dict_delete(&sh->topics[kind], te);
        }
        free(sub);
        return -ENOMEM;
    }
    sub->session = s;
    sub->topic = te;
    sub->kind = kind;
    list_push_back(&((struct topic *)te->value)->subscriptions, &sub->in_topic);
    list_push_back(&s->order[kind], &sub->in_session);
    if (added == 1)
        peers_queue_sync(sh->broker->peers);
    return 1;
}

void shard_unsubscribe(struct shard *sh, struct subscription *sub)
{
    struct dict_entry *te = sub->topic;
    struct topic *t = te->value;
    if (interest_remove(&sh->broker->interest, sub->kind, te->key,
                        te->key_len, sh->index) == 1)
        peers_queue_sync(sh->broker->peers);
    list_remove(&sub->in_topic);
    list_remove(&sub->in_session);
    message_unref(sub->retained);
    dict_delete(&sub->session->subs[sub->kind], sub->own);
    if (list_empty(&t->subscriptions)) {
        dict_delete(&sh->topics[sub->kind], te);
        free(t);
    }
    free(sub);
}

static void queue_flush(struct shard *sh)
{
    if (sh->flush_queued)
        return;
    sh->flush_queued = true;
    if (event_loop_queue(sh->loop, shard_flush, sh) != 0)
        sh->flush_queued = false; /* the loop is closing */
}

bool shard_inbound_pending(struct shard *sh)
{
    return atomic_load(&sh->inbound) > 0;
}

void shard_mark_dirty(struct shard *sh, struct session *s)
{
    if (list_unlinked(&s->dirty_node))
        list_push_back(&sh->dirty, &s->dirty_node);
    queue_flush(sh);
}

/* Gives @p m to this loop's subscribers of its topic. */
static void deliver(struct shard *sh, struct message *m)
{
    enum interest_kind kind = m->kind == MESSAGE_PATTERN ? INTEREST_PATTERN
                              : m->kind == MESSAGE_SHARD ? INTEREST_SHARD
                                                         : INTEREST_CHANNEL;
    struct dict_entry *te =
        dict_find(&sh->topics[kind], m->bytes + m->topic_off, m->topic_len);
    if (te == NULL)
        return; /* they left while the message was on its way */
    struct topic *t = te->value;
    struct list_node *node;
    uint64_t n = 0;
    /* session_output() never closes a session at once (session_kill
     * defers it), so the list stays as it is during the walk. */
    list_for_each(node, &t->subscriptions) {
        struct subscription *sub =
            container_of(node, struct subscription, in_topic);
        /* The message it got from the cache when it subscribed, arriving
         * now from the publish that cached it: once is enough. The cache's
         * reference keeps the address from being reused meanwhile. */
        if (sub->retained == m)
            continue;
        session_output(sub->session, m->bytes, m->len, true);
        n++;
    }
    shard_count(&sh->count.delivered, n);
}

static void deliver_handoff(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct handoff *h = ctx;
    for (size_t i = 0; i < h->count; i++) {
        deliver(h->to, h->messages[i]);
        message_unref(h->messages[i]);
    }
    atomic_fetch_sub(&h->to->inbound, 1);
    free(h);
}

/* Sends @p m to every loop of @p loops: this one at once, the others
 * through their outboxes. Takes no reference from the caller. */
static int route(struct shard *sh, struct message *m, uint64_t loops)
{
    for (int i = 0; i < sh->broker->shard_count; i++) {
        if ((loops & ((uint64_t)1 << i)) == 0)
            continue;
        if (i == sh->index) {
            deliver(sh, m);
            continue;
        }
        struct outbox *box = &sh->outboxes[i];
        struct message **p = array_reserve(box->messages, &box->cap,
                                           box->count + 1,
                                           sizeof(struct message *));
        if (p == NULL)
            return -ENOMEM;
        box->messages = p;
        message_ref(m);
        box->messages[box->count++] = m;
        queue_flush(sh);
    }
    return 0;
}

static bool shard_retains(const struct shard *sh, const char *channel,
                          size_t len)
{
    const struct broker_config *cfg = sh->broker->config;
    for (size_t i = 0; i < cfg->retain_count; i++) {
        if (glob_match(cfg->retain[i], strlen(cfg->retain[i]), channel, len))
            return true;
    }
    return false;
}

struct message *shard_retained(struct shard *sh, const char *channel,
                               size_t len)
{
    if (!shard_retains(sh, channel, len))
        return NULL;
    return interest_retained(&sh->broker->interest, channel, len);
}

/* Queues the RPUB of this publish for every peer in @p peers; they are
 * sent at the end of the batch (flush_peers). */
static int to_peers(struct shard *sh, uint64_t peers, const char *channel,
                    size_t channel_len, const char *payload,
                    size_t payload_len)
{
    struct buffer *rpub = &sh->rpub;
    buffer_retrieve_all(rpub);
    peer_command_rpub(rpub, channel, channel_len, payload, payload_len);
    for (int i = 0; i < PEERS_MAX; i++) {
        if ((peers & ((uint64_t)1 << i)) == 0)
            continue;
        if (buffer_append(&sh->peer_out[i], buffer_peek(rpub),
                          buffer_readable(rpub)) != 0)
            return -ENOMEM;
        sh->peer_msgs[i]++;
        sh->peer_dirty |= (uint64_t)1 << i;
    }
    buffer_retrieve_all(rpub);
    queue_flush(sh);
    return 0;
}

long long shard_publish(struct shard *sh, enum interest_kind kind,
                        const char *channel, size_t channel_len,
                        const char *payload, size_t payload_len,
                        bool peers)
{
    struct interest_plan *plan = &sh->plan;
    shard_count(&sh->count.published, 1);
    if (interest_plan(&sh->broker->interest, kind, channel, channel_len,
                      plan) != 0)
        return -ENOMEM;
    int err = 0;
    bool retain = kind == INTEREST_CHANNEL && shard_retains(sh, channel, channel_len);
    if (plan->channel_loops != 0 || retain) {
        struct message *m = message_new(
            kind == INTEREST_SHARD ? MESSAGE_SHARD : MESSAGE_CHANNEL, NULL, 0,
            channel, channel_len, payload, payload_len);
        if (m == NULL)
            return -ENOMEM;
        /* Cached before it is routed: a subscriber that joins meanwhile
         * gets it from the cache, and the delivery skips it. An empty
         * message clears the channel's. */
        if (retain)
            err = interest_retain(&sh->broker->interest, channel, channel_len,
                                  payload_len > 0 ? m : NULL);
        if (err == 0)
            err = route(sh, m, plan->channel_loops);
        message_unref(m);
    }
    for (size_t i = 0; err == 0 && i < plan->pattern_count; i++) {
        const struct interest_match *p = &plan->patterns[i];
        struct message *m = message_new(
            MESSAGE_PATTERN, buffer_peek(&plan->names) + p->name_off,
            p->name_len, channel, channel_len, payload, payload_len);
        if (m == NULL)
            return -ENOMEM;
        err = route(sh, m, p->loops);
        message_unref(m);
    }
    if (err == 0 && peers && plan->peers != 0)
        err = to_peers(sh, plan->peers, channel, channel_len, payload,
                       payload_len);
    return err != 0 ? err : plan->receivers;
}

/* Hands each outbox to its loop as one queued call. */
static void flush_outboxes(struct shard *sh)
{
    for (int i = 0; i < sh->broker->shard_count; i++) {
        struct outbox *box = &sh->outboxes[i];
        if (box->count == 0)
            continue;
        struct handoff *h =
            malloc(sizeof *h + box->count * sizeof(struct message *));
        int err = -ENOMEM;
        if (h != NULL) {
            h->to = &sh->broker->shards[i];
            h->count = box->count;
            for (size_t j = 0; j < box->count; j++)
                h->messages[j] = box->messages[j];
            /* Counted before it is queued, so that the other loop never
             * sees it queued and not counted. */
            atomic_fetch_add(&h->to->inbound, 1);
            err = event_loop_queue(h->to->loop, deliver_handoff, h);
            if (err != 0)
                atomic_fetch_sub(&h->to->inbound, 1);
        }
        if (err != 0) {
            log_error("loop %d: %zu message(s) for loop %d lost: %s",
                      sh->index, box->count, i, log_strerror(-err));
            for (size_t j = 0; j < box->count; j++)
                message_unref(box->messages[j]);
            free(h);
        }
        box->count = 0;
    }
}

/* Hands each peer the RPUB commands of this batch in one piece. */
static void flush_peers(struct shard *sh)
{
    for (int i = 0; sh->peer_dirty != 0 && i < PEERS_MAX; i++) {
        uint64_t bit = (uint64_t)1 << i;
        if ((sh->peer_dirty & bit) == 0)
            continue;
        sh->peer_dirty &= ~bit;
        peers_forward(sh->broker->peers, i, &sh->peer_out[i], sh->peer_msgs[i]);
        sh->peer_msgs[i] = 0;
    }
}

static void shard_flush(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct shard *sh = ctx;
    sh->flush_queued = false;
    flush_outboxes(sh);
    flush_peers(sh);
    while (!list_empty(&sh->dirty)) {
        struct session *s =
            container_of(list_first(&sh->dirty), struct session, dirty_node);
        list_remove(&s->dirty_node);
        session_flush(s);
    }
}
