/* A debouncer holds at most one timer: the pending call. A poke replaces
 * it with a new one-shot a quiet period from now, so the call comes after
 * the last poke. Replacing costs a cancel and an add; the chapter's lazy
 * cancel makes the cancel one bucket of the id table, which is what lets
 * a debouncer take a poke per event cheaply (the "churn" benchmark). */
#include "debounce.h"

#include "net/event_loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

struct debounce {
    struct event_loop *loop;
    int64_t quiet_us;
    debounce_fn *fn;
    void *ctx;
    uint64_t timer; /* the pending call; 0 when there is none */
    int pokes;      /* since the last call started */
};

static void on_quiet(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct debounce *d = ctx;
    (void)loop;
    (void)id;
    int pokes = d->pokes;
    /* Reset before the call: a poke from inside it sets a new timer and a
     * new count, which must survive the return to here. */
    d->timer = 0;
    d->pokes = 0;
    d->fn(d, pokes, d->ctx);
}

struct debounce *debounce_new(struct event_loop *loop, int64_t quiet_us,
                              debounce_fn *fn, void *ctx)
{
    if (quiet_us <= 0 || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct debounce *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    *d = (struct debounce){
        .loop = loop, .quiet_us = quiet_us, .fn = fn, .ctx = ctx};
    return d;
}

int debounce_poke(struct debounce *d)
{
    /* Add first: if that fails, the pending call (if any) is still there. */
    uint64_t timer = event_loop_run_after(d->loop, d->quiet_us, on_quiet, d);
    if (timer == 0)
        return -errno;
    /* 0 when nothing was pending: cancelling it is a harmless no-op. */
    event_loop_cancel_timer(d->loop, d->timer);
    d->timer = timer;
    if (d->pokes < INT_MAX)
        d->pokes++;
    return 0;
}

bool debounce_pending(const struct debounce *d)
{
    return d->timer != 0;
}

void debounce_free(struct debounce *d)
{
    if (d == NULL)
        return;
    /* The loop would call on_quiet with d after the free otherwise. */
    event_loop_cancel_timer(d->loop, d->timer);
    free(d);
}
