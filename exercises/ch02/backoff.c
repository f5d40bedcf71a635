/* Exercise 02.3, retries with back-off: see exercises/ch02/README.md.
 * This skeleton compiles and keeps its object clean, but never attempts
 * anything. */
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
    /* TODO: the attempts so far, the current wait, the pending attempt's
     * timer. (README, 02.3) */
};

struct backoff *backoff_new(struct event_loop *loop, int64_t first_delay_us,
                            int64_t max_delay_us, int max_attempts,
                            backoff_attempt_fn *attempt, backoff_done_fn *done,
                            void *ctx)
{
    /* TODO: refuse bad arguments; schedule attempt 1 for the next round.
     * Its timer's callback makes the attempt and, when it fails, adds the
     * timer of the next one. (README, 02.3) */
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
    return b;
}

int backoff_attempts(const struct backoff *b)
{
    /* TODO */
    (void)b;
    return 0;
}

int64_t backoff_wait(const struct backoff *b)
{
    /* TODO */
    (void)b;
    return 0;
}

void backoff_free(struct backoff *b)
{
    /* TODO: what must happen before the memory goes? */
    free(b);
}
