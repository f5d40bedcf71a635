/* A lease holds two one-shot timers per term, the warning and the expiry.
 * Everything it promises rests on two rules of the timer queue:
 * - due timers run in (expiration, id) order, and ids grow: adding the
 *   warning's timer first puts it first even at an equal expiration;
 * - a cancelled id never runs, even when it was collected into the batch
 *   being run: the batch checks each id just before its call.
 * So renewing or freeing only has to cancel both ids, wherever it is
 * called from. The other half is the lease's own: once it has called the
 * holder's callback, it must not touch itself, because the callback may
 * have freed it. */
#include "lease.h"

#include "net/event_loop.h"

#include <errno.h>
#include <stdlib.h>

struct lease {
    struct event_loop *loop;
    lease_fn *on_warn;
    lease_fn *on_expire;
    void *ctx;
    int64_t warn_before_us;
    int64_t expires_at_us;
    uint64_t warn_timer;   /* 0 once this term's warning has started */
    uint64_t expire_timer; /* 0 once expired */
    bool expired;
};

static void on_warn_timer(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct lease *l = ctx;
    (void)loop;
    (void)id;
    l->warn_timer = 0;
    l->on_warn(l, l->ctx); /* l may be renewed or gone: the last use */
}

static void on_expire_timer(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct lease *l = ctx;
    (void)loop;
    (void)id;
    l->expire_timer = 0;
    l->expired = true;       /* before the call: it may try to renew */
    l->on_expire(l, l->ctx); /* l may be gone: the last use */
}

/* The warning time; warn_before_us >= 0, so only a time near the
 * earliest one can overflow, and its warning is due at once anyway. */
static int64_t warn_time(int64_t expires_at_us, int64_t warn_before_us)
{
    if (expires_at_us < INT64_MIN + warn_before_us)
        return INT64_MIN;
    return expires_at_us - warn_before_us;
}

/* Starts a term: both new timers first, then the old ones go, so that a
 * failure leaves the current term untouched. */
static int start_term(struct lease *l, int64_t expires_at_us)
{
    uint64_t warn = event_loop_run_at(
        l->loop, warn_time(expires_at_us, l->warn_before_us), on_warn_timer, l);
    if (warn == 0)
        return -errno;
    uint64_t expire =
        event_loop_run_at(l->loop, expires_at_us, on_expire_timer, l);
    if (expire == 0) {
        int err = errno;
        event_loop_cancel_timer(l->loop, warn);
        return -err;
    }
    /* Either may be 0 (already run, or the first term): a no-op then. */
    event_loop_cancel_timer(l->loop, l->warn_timer);
    event_loop_cancel_timer(l->loop, l->expire_timer);
    l->warn_timer = warn;
    l->expire_timer = expire;
    l->expires_at_us = expires_at_us;
    return 0;
}

struct lease *lease_new(struct event_loop *loop, int64_t expires_at_us,
                        int64_t warn_before_us, lease_fn *on_warn,
                        lease_fn *on_expire, void *ctx)
{
    if (on_warn == NULL || on_expire == NULL || warn_before_us < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct lease *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    *l = (struct lease){.loop = loop,
                        .on_warn = on_warn,
                        .on_expire = on_expire,
                        .ctx = ctx,
                        .warn_before_us = warn_before_us};
    int rc = start_term(l, expires_at_us);
    if (rc < 0) {
        free(l);
        errno = -rc;
        return NULL;
    }
    return l;
}

int lease_renew(struct lease *l, int64_t expires_at_us)
{
    if (l->expired)
        return -ETIMEDOUT;
    return start_term(l, expires_at_us);
}

int64_t lease_expiration(const struct lease *l)
{
    return l->expires_at_us;
}

bool lease_expired(const struct lease *l)
{
    return l->expired;
}

void lease_free(struct lease *l)
{
    if (l == NULL)
        return;
    /* The queue never frees or checks a ctx: without these cancels, a
     * timer still pending, or due later in the batch that called us,
     * would run with l after the free. */
    event_loop_cancel_timer(l->loop, l->warn_timer);
    event_loop_cancel_timer(l->loop, l->expire_timer);
    free(l);
}
