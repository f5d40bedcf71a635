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
 *
 * Peers (peers.h). The table also holds what each peer broker said it is
 * interested in: a set of channels and a set of patterns per peer (a bit
 * per peer, 0 .. INTEREST_MAX_PEERS-1), so that a publish's plan names the
 * peers to forward it to under the same lock. And it notes which local
 * channels and patterns went from no subscriber to one or back (only
 * once interest_track() is on), for the peers code to tell the peers.
 * The peers code may call in here while it holds its own lock; this code
 * never calls out, so the order of the two locks is always peers, then
 * interest.
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
/** @brief Most peers a table can tell apart (a bit each in a mask). */
#define INTEREST_MAX_PEERS 64

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
    /** Channels and patterns (not shard channels) that peers want:
     * name -> its peer masks; guarded by mu. */
    struct dict remote[INTEREST_KINDS];
    /** Names per peer in remote, by kind (for INFO); guarded by mu. */
    uint32_t remote_names[INTEREST_MAX_PEERS][INTEREST_KINDS];
    /** Local channels and patterns whose presence changed since the last
     * interest_take_changes(); guarded by mu. */
    struct dict changes[INTEREST_KINDS];
    bool tracking;         /**< Changes are noted; guarded by mu. */
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
    uint64_t peers;               /**< Peers that want the channel (bit i:
                                       peer i), by name or pattern. */
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
 * @return 0; 1 when this noted a change that the peers have not been told
 * of (the caller wakes the peers code: peers_queue_sync(), which
 * queues one sync however many call it); or -ENOMEM (nothing changed). */
int interest_add(struct interest *in, enum interest_kind kind,
                 const char *name, size_t len, int loop);
/** @brief Counts one subscription less (there must be one).
 * @return 1 as for interest_add(), else 0. */
int interest_remove(struct interest *in, enum interest_kind kind,
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

/* --- peers ------------------------------------------------------------ */

/** @brief Names written as RESP bulk strings, back to back: what a peer
 * command's arguments will be. */
struct interest_names {
    struct buffer bulks; /**< The names, each `$len\r\nname\r\n`. */
    size_t count;        /**< How many. */
};

/** @brief Starts noting changes (once there are peers). Until then none is
 * noted, and each peer gets the full set when its link comes up anyway. */
void interest_track(struct interest *in);
/**
 * @brief Takes the channels (@p kind INTEREST_CHANNEL) or patterns
 * (INTEREST_PATTERN) whose presence changed since the last call: those
 * with local subscribers now go to @p added, the others to @p removed.
 * @return 0, or -ENOMEM (the changes are kept for the next call).
 */
int interest_take_changes(struct interest *in, enum interest_kind kind,
                          struct interest_names *added,
                          struct interest_names *removed);
/** @brief Every channel or pattern with local subscribers, into @p out:
 * the full set a peer gets after each handshake. @return 0 or -ENOMEM. */
int interest_local_names(struct interest *in, enum interest_kind kind,
                         struct interest_names *out);

/** @brief Peer @p peer wants @p name (@p on) or no longer does.
 * Idempotent. @return 0, or -ENOMEM (nothing changed). */
int interest_peer_set(struct interest *in, enum interest_kind kind,
                      const char *name, size_t len, int peer, bool on);
/** @brief Marks every name of @p peer as stale: the names that the next
 * interest_peer_set() calls do not confirm go at interest_peer_sweep(). */
void interest_peer_mark(struct interest *in, int peer);
/** @brief Forgets the names of @p peer still marked stale. */
void interest_peer_sweep(struct interest *in, int peer);
/** @brief Forgets everything @p peer wanted. */
void interest_peer_clear(struct interest *in, int peer);
/** @brief How many names of @p kind @p peer wants (INFO). */
uint64_t interest_peer_names(struct interest *in, int peer,
                             enum interest_kind kind);

#endif /* MUDUO_MOM_INTEREST_H */
