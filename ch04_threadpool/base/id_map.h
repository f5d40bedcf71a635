/**
 * @file id_map.h
 * @brief A hash map from 64-bit ids to 32-bit slot numbers.
 *
 * Contract
 * - Keys are non-zero 64-bit ids (0 marks an empty bucket); values are
 *   32-bit slot numbers. The map owns only its table.
 * - Open addressing with Robin Hood linear probing and Fibonacci hashing:
 *   a lookup touches one or two neighbouring buckets, and deletion shifts
 *   the entries after it back (no tombstones). The table doubles when it
 *   is three quarters full.
 * - Not thread-safe: its owner serialises access.
 *
 * The timer queue uses it to find a timer by id, because a timer id is a
 * sequence number rather than a pointer (see docs/ch02_timers.md).
 */
#ifndef MUDUO_BASE_ID_MAP_H
#define MUDUO_BASE_ID_MAP_H

#include <stdbool.h>
#include <stdint.h>

/** @brief One bucket: an id (0 when empty) and its value. */
struct id_map_entry {
    uint64_t id;    /**< The key, or 0 for an empty bucket. */
    uint32_t value; /**< The slot stored for @p id. */
};

/** @brief The map; initialise with id_map_init(). */
struct id_map {
    struct id_map_entry *buckets; /**< capacity buckets, or NULL. */
    uint32_t capacity;            /**< A power of two, or 0. */
    uint32_t len;                 /**< Ids stored. */
    int shift;                    /**< 64 - log2(capacity), for hashing. */
};

/** @brief Makes @p map empty; it allocates on the first put. */
void id_map_init(struct id_map *map);

/** @brief Frees the table. */
void id_map_destroy(struct id_map *map);

/**
 * @brief Stores @p value for @p id, which must be non-zero and absent.
 * @return 0, or -ENOMEM (the map is unchanged).
 */
int id_map_put(struct id_map *map, uint64_t id, uint32_t value);

/** @brief Finds @p id. @return true and its value in @p *value, or false.
 */
bool id_map_get(const struct id_map *map, uint64_t id, uint32_t *value);

/** @brief Removes @p id. @return false when it was absent. */
bool id_map_remove(struct id_map *map, uint64_t id);

#endif /* MUDUO_BASE_ID_MAP_H */
