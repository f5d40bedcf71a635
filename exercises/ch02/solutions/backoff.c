/* A backoff is a chain of one-shot timers: each failed attempt, from
 * inside its own callback, adds the timer of the next. A repeating timer
 * would not do: the waits change, and each counts from the end of the
 * attempt before it, not from a fixed grid. The one id to keep is the
 * pending attempt's; a new one replaces it each time, and backoff_free()
 * cancels whichever is current. */
#include "backoff.h"

#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct backoff {
    struct event_loop *loop;
    backoff_attempt_fn *attempt;
    backoff_done_fn *done;
    void *ctx;
    int64_t first_delay_us;
    int64_t max_delay_us;
    int max_attempts;
    int attempts;    /* started so far */
    int64_t wait_us; /* before the current or pending attempt */
    uint64_t timer;  /* the pending attempt; 0 when none is */
};

/* The wait after the current attempt, if it fails. */
static int64_t next_wait(const struct backoff *b)
{
    if (b->wait_us == 0)
        return b->first_delay_us;
    /* Doubling past the cap would overflow when the cap is large: compare
     * with half the cap instead. */
    if (b->wait_us > b->max_delay_us / 2)
        return b->max_delay_us;
    return 2 * b->wait_us;
}

/* The end: nothing is pending any more, and the done callback may free
 * b, so it is the last use of b. */
static void finish(struct backoff *b, int status)
{
    b->done(b, status, b->ctx);
}

static void on_attempt(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct backoff *b = ctx;
    (void)id;
    b->timer = 0; /* this one-shot is running: nothing is pending */
    int attempt = ++b->attempts;
    if (b->attempt(b, attempt, b->ctx)) {
        finish(b, 0);
        return;
    }
    if (attempt == b->max_attempts) {
        finish(b, -ETIMEDOUT);
        return;
    }
    int64_t wait = next_wait(b);
    /* Added from inside a callback, this timer runs in a later round even
     * if the wait is short: the batch being run was collected already. */
    uint64_t next = event_loop_run_after(loop, wait, on_attempt, b);
    if (next == 0) {
        /* Without the timer no attempt would ever come: say so rather
         * than leave the caller waiting for a done that never comes. */
        finish(b, -errno);
        return;
    }
    b->timer = next;
    b->wait_us = wait;
}

struct backoff *backoff_new(struct event_loop *loop, int64_t first_delay_us,
                            int64_t max_delay_us, int max_attempts,
                            backoff_attempt_fn *attempt, backoff_done_fn *done,
                            void *ctx)
{
    if (first_delay_us <= 0 || max_delay_us < first_delay_us ||
        max_attempts <= 0 || attempt == NULL || done == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct backoff *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    *b = (struct backoff){.loop = loop,
                          .attempt = attempt,
                          .done = done,
                          .ctx = ctx,
                          .first_delay_us = first_delay_us,
                          .max_delay_us = max_delay_us,
                          .max_attempts = max_attempts};
    /* A delay of 0 runs in the next round, after backoff_new() returned
     * the backoff to the caller. */
    b->timer = event_loop_run_after(loop, 0, on_attempt, b);
    if (b->timer == 0) {
        int err = errno; /* free() may change errno */
        free(b);
        errno = err;
        return NULL;
    }
    return b;
}

int backoff_attempts(const struct backoff *b)
{
    return b->attempts;
}

int64_t backoff_wait(const struct backoff *b)
{
    return b->wait_us;
}

void backoff_free(struct backoff *b)
{
    if (b == NULL)
        return;
    /* 0 after the end: cancelling it is a harmless no-op. */
    event_loop_cancel_timer(b->loop, b->timer);
    free(b);
}
