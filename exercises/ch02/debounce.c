/* Exercise 02.2, the debouncer: see exercises/ch02/README.md. This
 * skeleton compiles and keeps its object clean, but never calls back. */
#include "debounce.h"

#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct debounce {
    struct event_loop *loop;
    int64_t quiet_us;
    debounce_fn *fn;
    void *ctx;
    /* TODO: the pending call, and the pokes it covers. (README, 02.2) */
};

struct debounce *debounce_new(struct event_loop *loop, int64_t quiet_us,
                              debounce_fn *fn, void *ctx)
{
    /* TODO: refuse bad arguments. (README, 02.2) */
    struct debounce *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    *d = (struct debounce){
        .loop = loop, .quiet_us = quiet_us, .fn = fn, .ctx = ctx};
    return d;
}

int debounce_poke(struct debounce *d)
{
    /* TODO: replace the pending call by one a quiet period from now
     * (event_loop_run_after, event_loop_cancel_timer). (README, 02.2) */
    (void)d;
    return -ENOSYS;
}

bool debounce_pending(const struct debounce *d)
{
    /* TODO */
    (void)d;
    return false;
}

void debounce_free(struct debounce *d)
{
    /* TODO: what must happen before the memory goes? */
    free(d);
}
