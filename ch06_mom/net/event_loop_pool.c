#include "net/event_loop_pool.h"

#include "base/assertion.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <errno.h>
#include <stdlib.h>

struct event_loop_pool {
    struct event_loop *base;
    struct event_loop_thread **threads;
    int count;
    int next; /* round-robin position */
    bool started;
};

struct event_loop_pool *event_loop_pool_new(struct event_loop *base)
{
    struct event_loop_pool *pool = calloc(1, sizeof *pool);
    if (pool != NULL)
        pool->base = base;
    return pool;
}

int event_loop_pool_start(struct event_loop_pool *pool, int threads,
                          event_loop_thread_init_fn *init, void *ctx)
{
    event_loop_assert_in_loop_thread(pool->base);
    ASSERT(!pool->started);
    if (threads < 0 || threads > EVENT_LOOP_POOL_MAX_THREADS)
        return -EINVAL;
    if (threads > 0) {
        pool->threads =
            calloc((size_t)threads, sizeof(struct event_loop_thread *));
        if (pool->threads == NULL)
            return -ENOMEM;
    }
    for (int i = 0; i < threads; i++) {
        pool->threads[i] = event_loop_thread_new(init, ctx);
        if (pool->threads[i] == NULL) {
            int err = -errno;
            while (i-- > 0)
                event_loop_thread_free(pool->threads[i]);
            free(pool->threads);
            pool->threads = NULL;
            return err;
        }
    }
    pool->count = threads;
    pool->started = true;
    if (threads == 0 && init != NULL)
        init(pool->base, ctx);
    return 0;
}

struct event_loop *event_loop_pool_next(struct event_loop_pool *pool)
{
    event_loop_assert_in_loop_thread(pool->base);
    for (int tries = 0; tries < pool->count; tries++) {
        struct event_loop_thread *t = pool->threads[pool->next];
        pool->next = (pool->next + 1) % pool->count;
        if (!event_loop_thread_failed(t))
            return event_loop_thread_loop(t);
    }
    return pool->base; /* no threads, or all of them failed */
}

struct event_loop *event_loop_pool_for_hash(const struct event_loop_pool *pool,
                                            size_t hash)
{
    for (int i = 0; i < pool->count; i++) {
        size_t at = (hash % (size_t)pool->count + (size_t)i) %
                    (size_t)pool->count;
        if (!event_loop_thread_failed(pool->threads[at]))
            return event_loop_thread_loop(pool->threads[at]);
    }
    return pool->base;
}

int event_loop_pool_size(const struct event_loop_pool *pool)
{
    return pool->count;
}

void event_loop_pool_free(struct event_loop_pool *pool)
{
    if (pool == NULL)
        return;
    event_loop_assert_in_loop_thread(pool->base);
    for (int i = 0; i < pool->count; i++)
        event_loop_thread_free(pool->threads[i]);
    free(pool->threads);
    free(pool);
}
