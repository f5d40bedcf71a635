/*
 * tick: timers on the loop.
 *
 * A repeating timer ticks every 400 ms; its expirations stay on the 400 ms
 * grid (each is the previous one plus the interval), even though one tick
 * keeps the loop busy for 250 ms. A one-shot timer cancels another before
 * it fires, and a last one stops the loop.
 *
 *   build/examples/tick
 */
#include "base/timestamp.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct demo {
    int64_t start_us;
    uint64_t ticker;
    uint64_t doomed;
    int ticks;
};

static double since_start(const struct demo *d, int64_t us)
{
    return (double)(us - d->start_us) / 1e6;
}

static void busy_wait_us(int64_t us)
{
    int64_t until = timestamp_mono_us() + us;
    while (timestamp_mono_us() < until)
        ;
}

static void on_tick(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct demo *d = ctx;
    int64_t due;
    event_loop_timer_expiration(loop, id, &due);
    printf("%6.3f s  tick %d (due at %.3f s)\n",
           since_start(d, timestamp_mono_us()), ++d->ticks,
           since_start(d, due));
    if (d->ticks == 2) {
        printf("         ... tick 2 keeps the loop busy for 250 ms\n");
        busy_wait_us(250000);
    }
    fflush(stdout);
}

static void on_doomed(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)id;
    (void)ctx;
    printf("this never prints: the timer was cancelled\n");
}

static void on_cancel(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct demo *d = ctx;
    int64_t due, doomed_due;
    event_loop_timer_expiration(loop, id, &due);
    event_loop_timer_expiration(loop, d->doomed, &doomed_due);
    printf("%6.3f s  timer %llu (due at %.3f s) cancels timer %llu, which "
           "was due at %.3f s\n",
           since_start(d, timestamp_mono_us()), (unsigned long long)id,
           since_start(d, due), (unsigned long long)d->doomed,
           since_start(d, doomed_due));
    event_loop_cancel_timer(loop, d->doomed);
    event_loop_cancel_timer(loop, d->doomed); /* twice is harmless */
}

static void on_stop(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct demo *d = ctx;
    (void)id;
    printf("%6.3f s  stop after %d ticks; %zu timer(s) left, freed with "
           "the loop\n",
           since_start(d, timestamp_mono_us()), d->ticks,
           event_loop_timer_count(loop));
    event_loop_quit(loop);
}

int main(void)
{
    struct event_loop *loop = event_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "event_loop_new: %s\n", strerror(errno));
        return 1;
    }
    struct demo d = {.start_us = timestamp_mono_us()};
    const int64_t ms = 1000;
    d.ticker = event_loop_run_every(loop, 400 * ms, on_tick, &d);
    d.doomed = event_loop_run_at(loop, d.start_us + 1500 * ms, on_doomed, &d);
    uint64_t canceller = event_loop_run_after(loop, 1000 * ms, on_cancel, &d);
    uint64_t stopper = event_loop_run_after(loop, 2100 * ms, on_stop, &d);
    if (d.ticker == 0 || d.doomed == 0 || canceller == 0 || stopper == 0) {
        fprintf(stderr, "cannot add timers: %s\n", strerror(errno));
        event_loop_free(loop);
        return 1;
    }
    printf("timer %llu ticks every 0.4 s, timer %llu is due at 1.5 s, "
           "timer %llu at 1.0 s, timer %llu at 2.1 s\n",
           (unsigned long long)d.ticker, (unsigned long long)d.doomed,
           (unsigned long long)canceller, (unsigned long long)stopper);
    int rc = event_loop_run(loop);
    event_loop_free(loop);
    return rc == 0 ? 0 : 1;
}
