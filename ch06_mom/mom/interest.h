/**
 * @file interest.h
 * @brief The broker-wide table of interest: for every channel, pattern and
 * shard channel that somebody is subscribed to, how many subscriptions
 * each loop holds.
 *
 * The subscribers themselves live in their loop's shard (shard.h), which
 * only that loop's thread touches. This table is what a publisher on any
 * loop needs to know to reach them: how many receivers there are (the
 * reply to PUBLISH), which loops to send the message to, and which
 * patterns it matches. It holds counts and names only, never a pointer
 * into another loop.
 *
 * Contract
 * - Every function is thread-safe: one mutex guards the table. It is the
 *   broker's only lock, and nothing but the table's own code runs while
 *   it is held (no loop, no session, no callback), so there is no lock
 *   order to get wrong.
 * - It also keeps the last-value cache (`--retain`): the last message of
 *   each retained channel, which every loop may read.
 * - A loop is named by its index, 0 .. loops-1; at most INTEREST_MAX_LOOPS.
 * - Counts change only through interest_add/interest_remove, which a shard
 *   calls for every subscription it adds or removes, so that the table and
 *   the shards always agree once the calls return.
 */
#ifndef MUDUO_MOM_INTEREST_H
#define MUDUO_MOM_INTEREST_H

#include "mom/dict.h"
#include "net/buffer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct reply;

/** @brief Most loops a table can tell apart (a bit each in a mask). */
#define INTEREST_MAX_LOOPS 64

/** @brief The three namespaces of Redis pub/sub. */
enum interest_kind {
    INTEREST_CHANNEL, /**< SUBSCRIBE / PUBLISH */
    INTEREST_PATTERN, /**< PSUBSCRIBE, matched by PUBLISH */
    INTEREST_SHARD,   /**< SSUBSCRIBE / SPUBLISH */
    INTEREST_KINDS    /**< How many kinds. */
};

/** @brief The table. Fields are private. */
struct interest {
    pthread_mutex_t mu;                /**< Guards the tables. */
    int loops;                         /**< Immutable after init. */
    struct dict tables[INTEREST_KINDS]; /**< name -> counts; guarded by mu */
    struct dict retained;  /**< channel -> struct message; guarded by mu */
};

struct message;

/** @brief A pattern that matched a publish, and where its subscribers are. */
struct interest_match {
    size_t name_off;  /**< Where its name starts in the plan's names. */
    size_t name_len;  /**< Its length. */
    uint64_t loops;   /**< Bit i: loop i holds a subscription to it. */
};

/** @brief What a publish must do, worked out under the lock. Reusable:
 * interest_plan() overwrites it; the storage is kept for the next one. */
struct interest_plan {
    long long receivers;          /**< The reply to PUBLISH. */
    uint64_t channel_loops;       /**< Loops with subscribers of the channel. */
    struct interest_match *patterns; /**< Matching patterns. */
    size_t pattern_count;         /**< How many. */
    size_t pattern_cap;           /**< Room in patterns. */
    struct buffer names;          /**< The patterns' names, back to back. */
};

/** @brief An empty table for @p loops loops. @return 0 or -EINVAL. */
int interest_init(struct interest *in, int loops);
/** @brief Frees the table. */
void interest_destroy(struct interest *in);

/** @brief Counts one more subscription of loop @p loop to @p name.
 * @return 0, or -ENOMEM (nothing changed). */
int interest_add(struct interest *in, enum interest_kind kind,
                 const char *name, size_t len, int loop);
/** @brief Counts one subscription less (there must be one). */
void interest_remove(struct interest *in, enum interest_kind kind,
                     const char *name, size_t len, int loop);

/** @brief An empty plan. */
void interest_plan_init(struct interest_plan *plan);
/** @brief Frees a plan's storage. */
void interest_plan_destroy(struct interest_plan *plan);
/**
 * @brief Plans a publish to @p channel: a PUBLISH (@p kind
 * INTEREST_CHANNEL) reaches the channel's subscribers and those of every
 * matching pattern; an SPUBLISH (INTEREST_SHARD) only the shard channel's.
 * @return 0, or -ENOMEM (the plan is then empty).
 */
int interest_plan(struct interest *in, enum interest_kind kind,
                  const char *channel, size_t len,
                  struct interest_plan *plan);

/** @brief Subscriptions to @p name, over all loops (PUBSUB NUMSUB). */
uint64_t interest_count(struct interest *in, enum interest_kind kind,
                        const char *name, size_t len);
/** @brief Names with at least one subscription (PUBSUB NUMPAT counts
 * patterns so). */
uint64_t interest_names(struct interest *in, enum interest_kind kind);
/**
 * @brief Writes the names of @p kind that match @p pattern (NULL: all) as
 * a reply array (PUBSUB CHANNELS, SHARDCHANNELS). The order is the
 * table's, as arbitrary as Redis's.
 */
void interest_list(struct interest *in, enum interest_kind kind,
                   const char *pattern, size_t pattern_len, struct reply *r);

/**
 * @brief The last-value cache: keeps @p m (taking a reference) as the last
 * message of @p channel, or forgets the channel's when @p m is NULL.
 * @return 0, or -ENOMEM (nothing changed).
 */
int interest_retain(struct interest *in, const char *channel, size_t len,
                    struct message *m);
/** @brief The last message kept for @p channel, with a reference for the
 * caller, or NULL. */
struct message *interest_retained(struct interest *in, const char *channel,
                                  size_t len);

#endif /* MUDUO_MOM_INTEREST_H */
