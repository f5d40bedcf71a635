/* A chained hash table whose bucket array doubles when the table holds
 * as many entries as buckets; entries never move, only their links. */
#include "mom/dict.h"

#include "base/assertion.h"
#include "base/timestamp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static uint64_t hash_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)timestamp_wall_us() ^ (uint64_t)getpid();
    hash_seed = seed;
}

static uint64_t hash_bytes(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL ^ hash_seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void dict_init(struct dict *d)
{
    pthread_once(&seed_once, seed_init);
    d->buckets = NULL;
    d->bucket_count = 0;
    d->count = 0;
}

void dict_destroy(struct dict *d)
{
    for (size_t i = 0; i < d->bucket_count; i++) {
        struct dict_entry *e = d->buckets[i];
        while (e != NULL) {
            struct dict_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(d->buckets);
    dict_init(d);
}

struct dict_entry *dict_find(const struct dict *d, const char *key,
                             size_t key_len)
{
    if (d->count == 0)
        return NULL;
    uint64_t h = hash_bytes(key, key_len);
    for (struct dict_entry *e = d->buckets[h & (d->bucket_count - 1)];
         e != NULL; e = e->next) {
        if (e->hash == h && e->key_len == key_len &&
            memcmp(e->key, key, key_len) == 0)
            return e;
    }
    return NULL;
}

static int grow(struct dict *d)
{
    size_t n = d->bucket_count == 0 ? DICT_MIN_BUCKETS : d->bucket_count * 2;
    struct dict_entry **b = calloc(n, sizeof(struct dict_entry *));
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < d->bucket_count; i++) {
        struct dict_entry *e = d->buckets[i];
        while (e != NULL) {
            struct dict_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->bucket_count = n;
    return 0;
}

struct dict_entry *dict_add(struct dict *d, const char *key, size_t key_len,
                            void *value)
{
    ASSERT(dict_find(d, key, key_len) == NULL);
    if (key_len > SIZE_MAX - sizeof(struct dict_entry) - 1)
        return NULL;
    /* A full table grows first; if it cannot, a longer chain still works. */
    if (d->count >= d->bucket_count && grow(d) != 0 && d->bucket_count == 0)
        return NULL;
    struct dict_entry *e = malloc(sizeof *e + key_len + 1);
    if (e == NULL)
        return NULL;
    e->hash = hash_bytes(key, key_len);
    e->value = value;
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    size_t i = e->hash & (d->bucket_count - 1);
    e->next = d->buckets[i];
    d->buckets[i] = e;
    d->count++;
    return e;
}

void dict_delete(struct dict *d, struct dict_entry *e)
{
    struct dict_entry **link = &d->buckets[e->hash & (d->bucket_count - 1)];
    while (*link != e) {
        ASSERT(*link != NULL);
        link = &(*link)->next;
    }
    *link = e->next;
    d->count--;
    free(e);
}

size_t dict_size(const struct dict *d)
{
    return d->count;
}

void dict_iter_init(struct dict_iter *it, const struct dict *d)
{
    it->dict = d;
    it->bucket = 0;
    it->next = NULL;
}

struct dict_entry *dict_next(struct dict_iter *it)
{
    while (it->next == NULL) {
        if (it->bucket >= it->dict->bucket_count)
            return NULL;
        it->next = it->dict->buckets[it->bucket++];
    }
    struct dict_entry *e = it->next;
    it->next = e->next;
    return e;
}
