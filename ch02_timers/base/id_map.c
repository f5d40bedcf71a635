#include "base/id_map.h"

#include "base/assertion.h"

#include <errno.h>
#include <stdlib.h>

#define ID_MAP_MIN_CAPACITY 64

/* Fibonacci hashing: multiplying by 2^64 / golden ratio spreads even
 * consecutive ids (which is what sequence numbers are) evenly over the
 * table, and the top bits are the bucket. */
static uint32_t home_of(const struct id_map *map, uint64_t id)
{
    return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> map->shift);
}

void id_map_init(struct id_map *map)
{
    *map = (struct id_map){.buckets = NULL, .capacity = 0, .len = 0,
                           .shift = 64};
}

void id_map_destroy(struct id_map *map)
{
    free(map->buckets);
    id_map_init(map);
}

static void insert_fresh(struct id_map *map, uint64_t id, uint32_t value)
{
    uint32_t mask = map->capacity - 1;
    uint32_t i = home_of(map, id);
    while (map->buckets[i].id != 0)
        i = (i + 1) & mask;
    map->buckets[i] = (struct id_map_entry){id, value};
    map->len++;
}

static int resize(struct id_map *map, uint32_t capacity)
{
    struct id_map_entry *buckets = calloc(capacity, sizeof *buckets);
    if (buckets == NULL)
        return -ENOMEM;
    struct id_map old = *map;
    map->buckets = buckets;
    map->capacity = capacity;
    map->len = 0;
    map->shift = 64 - __builtin_ctz(capacity);
    for (uint32_t i = 0; i < old.capacity; i++)
        if (old.buckets[i].id != 0)
            insert_fresh(map, old.buckets[i].id, old.buckets[i].value);
    free(old.buckets);
    return 0;
}

int id_map_put(struct id_map *map, uint64_t id, uint32_t value)
{
    ASSERT(id != 0);
    if (map->len + 1 > map->capacity / 2) { /* keep probes short */
        uint32_t capacity =
            map->capacity == 0 ? ID_MAP_MIN_CAPACITY : map->capacity * 2;
        if (capacity == 0 || resize(map, capacity) != 0)
            return -ENOMEM;
    }
    insert_fresh(map, id, value);
    return 0;
}

/* The bucket holding id, or capacity when it is absent. */
static uint32_t find(const struct id_map *map, uint64_t id)
{
    if (map->capacity == 0 || id == 0)
        return map->capacity;
    uint32_t mask = map->capacity - 1;
    for (uint32_t i = home_of(map, id);; i = (i + 1) & mask) {
        if (map->buckets[i].id == id)
            return i;
        if (map->buckets[i].id == 0)
            return map->capacity;
    }
}

bool id_map_get(const struct id_map *map, uint64_t id, uint32_t *value)
{
    uint32_t i = find(map, id);
    if (i == map->capacity)
        return false;
    *value = map->buckets[i].value;
    return true;
}

bool id_map_remove(struct id_map *map, uint64_t id)
{
    uint32_t hole = find(map, id);
    if (hole == map->capacity)
        return false;
    /* Backward-shift deletion: walk the rest of the cluster and move back
     * every entry whose home bucket is not between the hole and itself,
     * so that no lookup ever meets an empty bucket before its key. */
    uint32_t mask = map->capacity - 1;
    for (uint32_t j = (hole + 1) & mask; map->buckets[j].id != 0;
         j = (j + 1) & mask) {
        uint32_t home = home_of(map, map->buckets[j].id);
        bool stays = hole <= j ? (hole < home && home <= j)
                               : (hole < home || home <= j);
        if (!stays) {
            map->buckets[hole] = map->buckets[j];
            hole = j;
        }
    }
    map->buckets[hole].id = 0;
    map->len--;
    return true;
}
