/* Exercise 02.1, the heartbeat: see exercises/ch02/README.md. This
 * skeleton compiles and keeps its object clean, but never beats. */
#include "heartbeat.h"

#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct heartbeat {
    struct event_loop *loop;
    heartbeat_fn *fn;
    void *ctx;
    /* TODO: what does the heartbeat need to know to stop itself, and to
     * be stopped? (README, 02.1) */
};

struct heartbeat *heartbeat_new(struct event_loop *loop, int64_t interval_us,
                                int beats, heartbeat_fn *fn, void *ctx)
{
    /* TODO: refuse bad arguments; start one repeating timer
     * (event_loop_run_every) whose callback counts the beats and calls fn,
     * and stops the timer at the last beat. (README, 02.1) */
    (void)interval_us;
    (void)beats;
    struct heartbeat *hb = calloc(1, sizeof *hb);
    if (hb == NULL)
        return NULL;
    *hb = (struct heartbeat){.loop = loop, .fn = fn, .ctx = ctx};
    return hb;
}

void heartbeat_stop(struct heartbeat *hb)
{
    /* TODO: cancel the timer (event_loop_cancel_timer). */
    (void)hb;
}

int heartbeat_beats(const struct heartbeat *hb)
{
    /* TODO */
    (void)hb;
    return 0;
}

bool heartbeat_running(const struct heartbeat *hb)
{
    /* TODO */
    (void)hb;
    return false;
}

void heartbeat_free(struct heartbeat *hb)
{
    /* TODO: what must happen before the memory goes? */
    free(hb);
}
