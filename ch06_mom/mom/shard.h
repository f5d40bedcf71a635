/**
 * @file shard.h
 * @brief The part of the broker that one I/O loop owns: the subscribers of
 * its connections, and the output it has yet to hand to them or to the
 * other loops.
 *
 * Each loop keeps its own tables, name -> the subscriptions of its own
 * sessions, for channels, patterns and shard channels. A message reaches
 * a loop once (a hand-off carrying references to encoded pushes), and the
 * loop finds its subscribers in its own tables: no lock, and no pointer
 * from one loop into another. The broker-wide counts that tell a
 * publisher which loops to reach are in interest.h.
 *
 * Output is gathered during a batch of events and written at its end:
 * a session's replies and pushes go to its staging buffer, and the hand-
 * offs for other loops to one outbox per loop; shard_flush(), queued once
 * per batch, sends each session's bytes in one write and each outbox as
 * one queued call. So a pipelined burst of publishes costs one write per
 * subscriber and one wakeup per loop, not one per message.
 *
 * A message in flight. A publish on loop A reaches a subscriber on loop B
 * through B's queue, so for a moment the publisher has its reply while the
 * message is still on its way. If the subscriber's next command (an
 * UNSUBSCRIBE, a PING) were run before the hand-off, it would miss a
 * message that was published before it asked, or see its answer first.
 * So a loop with hand-offs on their way (shard.inbound) runs no command
 * at once: it queues the work behind them (shard_inbound_pending()).
 *
 * Contract: loop thread only, except the hand-offs that other loops queue
 * with event_loop_queue(), and shard.inbound, which they count.
 */
#ifndef MUDUO_MOM_SHARD_H
#define MUDUO_MOM_SHARD_H

#include "base/list.h"
#include "mom/dict.h"
#include "mom/interest.h"
#include "net/buffer.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct event_loop;
struct message;
struct session;

/** @brief A name that local sessions subscribe to, and who they are. */
struct topic {
    struct list_node subscriptions; /**< struct subscription.in_topic */
};

/** @brief One session subscribed to one name. */
struct subscription {
    struct list_node in_topic;   /**< In the topic's list. */
    struct list_node in_session; /**< In the session's list, in order. */
    struct session *session;     /**< Who. */
    struct dict_entry *topic;    /**< The shard's entry: name, topic. */
    struct dict_entry *own;      /**< The session's entry for it. */
    enum interest_kind kind;     /**< Channel, pattern or shard channel. */
    struct message *retained;    /**< The cached message it was given on
                                      subscribing (a reference), or NULL:
                                      not to be delivered a second time. */
};

/** @brief Messages on their way to one other loop. */
struct outbox {
    struct message **messages; /**< References, in publish order. */
    size_t count;              /**< How many. */
    size_t cap;                /**< Room. */
};

/** @brief Counters of one loop, written by its thread only and read by
 * INFO from any: a relaxed load and store, never a shared read-modify-
 * write, so loops do not fight over a cache line per command. */
struct shard_counters {
    atomic_uint_fast64_t commands;  /**< Commands executed. */
    atomic_uint_fast64_t published; /**< PUBLISH and SPUBLISH. */
    atomic_uint_fast64_t delivered; /**< Pushes queued to subscribers. */
    atomic_uint_fast64_t bytes_out; /**< Bytes queued to clients. */
};

/** @brief Adds @p n to a counter of the caller's own shard. */
static inline void shard_count(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_store_explicit(
        counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
        memory_order_relaxed);
}

/** @brief A loop's share of the broker. Aligned to a cache line, so that
 * two shards side by side in the broker's array share none. */
struct shard {
    _Alignas(64) struct shard_counters count; /**< For INFO. */
    struct broker *broker;    /**< Immutable. */
    struct event_loop *loop;  /**< Immutable once the loop has started. */
    int index;                /**< Immutable: bit of this loop in masks. */
    struct dict topics[INTEREST_KINDS]; /**< name -> struct topic */
    struct list_node dirty;   /**< Sessions with staged output. */
    bool flush_queued;        /**< shard_flush() is queued. */
    struct outbox *outboxes;  /**< One per loop (this one's unused). */
    struct buffer *peer_out;  /**< RPUB commands for each peer (PEERS_MAX),
                                   sent at the end of the batch. */
    size_t *peer_msgs;        /**< How many commands each holds. */
    struct buffer rpub;       /**< Reused to encode one RPUB. */
    uint64_t peer_dirty;      /**< Bit i: peer_out[i] holds some. */
    struct interest_plan plan; /**< Reused by every publish. */
    struct buffer scratch;    /**< Reused to build replies and chunks. */
    atomic_int_fast64_t inbound; /**< Hand-offs queued to this loop and not
                                      yet delivered; other loops add. */
};

/** @brief Sets up shard @p index of @p b (its loop comes later).
 * @return 0 or -ENOMEM. */
int shard_init(struct shard *sh, struct broker *b, int index);
/** @brief Frees what the shard holds; its sessions must be gone. */
void shard_destroy(struct shard *sh);

/**
 * @brief Subscribes @p s to @p name in @p kind, here and in the broker's
 * interest table.
 * @return 1 when new, 0 when @p s already was, -ENOMEM.
 */
int shard_subscribe(struct shard *sh, struct session *s,
                    enum interest_kind kind, const char *name, size_t len);
/** @brief Ends the subscription @p sub (here and in the interest table)
 * and frees it. */
void shard_unsubscribe(struct shard *sh, struct subscription *sub);

/**
 * @brief A PUBLISH (INTEREST_CHANNEL) or SPUBLISH (INTEREST_SHARD) from a
 * session of this loop: plans it, encodes each push once, delivers to the
 * local subscribers and puts the rest in the outboxes. A PUBLISH goes to
 * the peers that want it too, when @p to_peers (a message that came from
 * a peer does not: one hop).
 * @return the number of local receivers (the reply), or -ENOMEM.
 */
long long shard_publish(struct shard *sh, enum interest_kind kind,
                        const char *channel, size_t channel_len,
                        const char *payload, size_t payload_len,
                        bool to_peers);

/** @brief The cached last message of @p channel (`--retain`), with a
 * reference for the caller, or NULL. */
struct message *shard_retained(struct shard *sh, const char *channel,
                               size_t len);

/** @brief Whether hand-offs from other loops are queued here and not yet
 * delivered: work that must come after them is then queued, not run. */
bool shard_inbound_pending(struct shard *sh);

/** @brief Marks @p s as having staged output, and makes sure that
 * shard_flush() runs after the current batch. */
void shard_mark_dirty(struct shard *sh, struct session *s);

#endif /* MUDUO_MOM_SHARD_H */
