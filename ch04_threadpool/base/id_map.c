#include "base/id_map.h"

#include "base/assertion.h"

#include <errno.h>
#include <stdlib.h>

#define ID_MAP_MIN_CAPACITY 64

/* Fibonacci hashing: multiplying by 2^64 / golden ratio spreads even
 * consecutive ids (which is what sequence numbers are) evenly over the
 * table; the top bits pick the bucket. */
static uint32_t home_of(const struct id_map *map, uint64_t id)
{
    return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> map->shift);
}

/* How far the entry in bucket i sits from its home bucket. */
static uint32_t distance(const struct id_map *map, uint32_t i)
{
    return (i - home_of(map, map->buckets[i].id)) & (map->capacity - 1);
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

/* Robin Hood insertion: walking from the home bucket, an entry that is
 * nearer its home than we are to ours gives up its bucket and moves on in
 * our place. Entries stay close to home, and a lookup can stop as soon as
 * it meets an entry nearer its home than the id would be. */
static void insert_fresh(struct id_map *map, struct id_map_entry entry)
{
    uint32_t mask = map->capacity - 1;
    uint32_t i = home_of(map, entry.id);
    for (uint32_t dist = 0;; i = (i + 1) & mask, dist++) {
        if (map->buckets[i].id == 0) {
            map->buckets[i] = entry;
            break;
        }
        uint32_t theirs = distance(map, i);
        if (theirs < dist) {
            struct id_map_entry displaced = map->buckets[i];
            map->buckets[i] = entry;
            entry = displaced;
            dist = theirs;
        }
    }
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
    map->shift = 64 - __builtin_ctz(capacity);
    map->len = 0;
    for (uint32_t i = 0; i < old.capacity; i++)
        if (old.buckets[i].id != 0)
            insert_fresh(map, old.buckets[i]);
    free(old.buckets);
    return 0;
}

int id_map_put(struct id_map *map, uint64_t id, uint32_t value)
{
    ASSERT(id != 0);
    /* Grow at three quarters full: Robin Hood keeps probes short even
     * there, and a smaller table stays in cache longer. */
    if (map->len + 1 > map->capacity / 4 * 3) {
        uint32_t capacity =
            map->capacity == 0 ? ID_MAP_MIN_CAPACITY : map->capacity * 2;
        if (capacity == 0 || resize(map, capacity) != 0)
            return -ENOMEM;
    }
    insert_fresh(map, (struct id_map_entry){id, value});
    return 0;
}

/* The bucket holding id, or capacity when it is absent. */
static uint32_t find(const struct id_map *map, uint64_t id)
{
    if (map->capacity == 0 || id == 0)
        return map->capacity;
    uint32_t mask = map->capacity - 1;
    uint32_t i = home_of(map, id);
    for (uint32_t dist = 0;; i = (i + 1) & mask, dist++) {
        if (map->buckets[i].id == id)
            return i;
        /* An empty bucket, or an entry nearer its home than id would be
         * here: id would have taken this bucket, so it is absent. */
        if (map->buckets[i].id == 0 || distance(map, i) < dist)
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
    /* Backward shift: pull each following entry one bucket nearer its
     * home, until an empty bucket or an entry already at home. */
    uint32_t mask = map->capacity - 1;
    for (uint32_t next = (hole + 1) & mask;
         map->buckets[next].id != 0 && distance(map, next) > 0;
         next = (next + 1) & mask) {
        map->buckets[hole] = map->buckets[next];
        hole = next;
    }
    map->buckets[hole].id = 0;
    map->len--;
    return true;
}
