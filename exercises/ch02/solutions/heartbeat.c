/* A heartbeat is one repeating timer of the loop plus a count. The timer
 * keeps the beats on their grid; the count tells the last beat, which
 * cancels the timer from inside its own callback. That is safe because
 * the loop puts a repeating timer back after its callback only if its id
 * is still live: a cancelled id is simply not put back. */
#include "heartbeat.h"

#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct heartbeat {
    struct event_loop *loop;
    heartbeat_fn *fn;
    void *ctx;
    uint64_t timer; /* the repeating timer; 0 once stopped */
    int beats;      /* started so far */
    int last;       /* the beat that stops it */
};

static void on_beat(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct heartbeat *hb = ctx;
    (void)loop;
    (void)id;
    int beat = ++hb->beats;
    /* Stop before the call, so that the last beat's callback already sees
     * a stopped heartbeat and may call heartbeat_stop() again harmlessly. */
    if (beat == hb->last)
        heartbeat_stop(hb);
    hb->fn(hb, beat, hb->ctx);
}

struct heartbeat *heartbeat_new(struct event_loop *loop, int64_t interval_us,
                                int beats, heartbeat_fn *fn, void *ctx)
{
    if (interval_us <= 0 || beats <= 0 || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct heartbeat *hb = calloc(1, sizeof *hb);
    if (hb == NULL)
        return NULL;
    *hb = (struct heartbeat){.loop = loop, .fn = fn, .ctx = ctx, .last = beats};
    hb->timer = event_loop_run_every(loop, interval_us, on_beat, hb);
    if (hb->timer == 0) {
        int err = errno; /* free() may change errno */
        free(hb);
        errno = err;
        return NULL;
    }
    return hb;
}

void heartbeat_stop(struct heartbeat *hb)
{
    /* Cancelling 0, or an id already cancelled, is a no-op for the loop
     * (ids are never reused); the 0 left behind is the "stopped" state. */
    event_loop_cancel_timer(hb->loop, hb->timer);
    hb->timer = 0;
}

int heartbeat_beats(const struct heartbeat *hb)
{
    return hb->beats;
}

bool heartbeat_running(const struct heartbeat *hb)
{
    return hb->timer != 0;
}

void heartbeat_free(struct heartbeat *hb)
{
    if (hb == NULL)
        return;
    /* The queue never frees a ctx, and it would call on_beat with this one
     * after the free: the timer must go first. */
    heartbeat_stop(hb);
    free(hb);
}
