/**
 * @file dict.h
 * @brief A hash table from byte-string keys to pointers, for the broker's
 * subscription tables (channel name -> subscribers, and so on).
 *
 * Contract
 * - Embedded (dict_init/dict_destroy); not thread-safe: the owner guards
 *   it like the rest of its state.
 * - Keys are copied into the entry; values are the caller's pointers,
 *   never freed by the table.
 * - An entry stays at the same address until it is deleted, so a caller
 *   may keep a pointer to it (a subscription keeps its topic's entry).
 * - Iteration (dict_next) may delete the entry it just returned; any other
 *   insertion or deletion during an iteration invalidates it.
 * - The hash is seeded at random once per process, so that the order of
 *   an iteration (what PUBSUB CHANNELS lists) says nothing to a client and
 *   keys chosen to collide are hard to find. It is FNV-1a, not a keyed
 *   cryptographic hash: it raises the cost of such an attack, it does not
 *   rule it out.
 */
#ifndef MUDUO_MOM_DICT_H
#define MUDUO_MOM_DICT_H

#include <stddef.h>
#include <stdint.h>

/** @brief Buckets of an empty table's first allocation. */
#define DICT_MIN_BUCKETS 16

/** @brief One key and its value. */
struct dict_entry {
    struct dict_entry *next; /**< Next in the same bucket. */
    uint64_t hash;           /**< Hash of the key. */
    void *value;             /**< The caller's pointer. */
    size_t key_len;          /**< Bytes of the key. */
    char key[];              /**< The key, NUL-terminated for printing. */
};

/** @brief The table. Fields are private. */
struct dict {
    struct dict_entry **buckets; /**< bucket_count heads, or NULL. */
    size_t bucket_count;         /**< A power of two, or 0. */
    size_t count;                /**< Entries. */
};

/** @brief Where an iteration stands. */
struct dict_iter {
    const struct dict *dict;  /**< The table walked. */
    size_t bucket;            /**< Next bucket to look at. */
    struct dict_entry *next;  /**< Next entry, taken before returning one. */
};

/** @brief An empty table (it allocates on the first insertion). */
void dict_init(struct dict *d);
/** @brief Frees the entries (not the values). */
void dict_destroy(struct dict *d);
/** @brief The entry of @p key, or NULL. */
struct dict_entry *dict_find(const struct dict *d, const char *key,
                             size_t key_len);
/** @brief Adds @p key (which must not be present) with @p value.
 * @return the new entry, or NULL when memory ran out (nothing changed). */
struct dict_entry *dict_add(struct dict *d, const char *key, size_t key_len,
                            void *value);
/** @brief Removes and frees @p e, an entry of @p d. */
void dict_delete(struct dict *d, struct dict_entry *e);
/** @brief Number of entries. */
size_t dict_size(const struct dict *d);
/** @brief Starts an iteration over @p d. */
void dict_iter_init(struct dict_iter *it, const struct dict *d);
/** @brief The next entry, or NULL at the end. */
struct dict_entry *dict_next(struct dict_iter *it);

#endif /* MUDUO_MOM_DICT_H */
