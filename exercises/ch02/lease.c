/* Exercise 02.4, the lease: see exercises/ch02/README.md. This skeleton
 * compiles and keeps its object clean, but never warns nor expires. */
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
    /* TODO: the term's two timers, and whether the lease has expired.
     * (README, 02.4) */
};

struct lease *lease_new(struct event_loop *loop, int64_t expires_at_us,
                        int64_t warn_before_us, lease_fn *on_warn,
                        lease_fn *on_expire, void *ctx)
{
    /* TODO: refuse bad arguments; start the first term: its warning and
     * its expiry (event_loop_run_at), in the order that makes the warning
     * come first. (README, 02.4) */
    struct lease *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    *l = (struct lease){.loop = loop,
                        .on_warn = on_warn,
                        .on_expire = on_expire,
                        .ctx = ctx,
                        .warn_before_us = warn_before_us,
                        .expires_at_us = expires_at_us};
    return l;
}

int lease_renew(struct lease *l, int64_t expires_at_us)
{
    /* TODO: a new term replaces the current one, whose timers may be due
     * in the batch that is running right now. (README, 02.4) */
    (void)l;
    (void)expires_at_us;
    return -ENOSYS;
}

int64_t lease_expiration(const struct lease *l)
{
    return l->expires_at_us;
}

bool lease_expired(const struct lease *l)
{
    /* TODO */
    (void)l;
    return false;
}

void lease_free(struct lease *l)
{
    /* TODO: this may be called from the lease's own callbacks, or from
     * another timer of the same batch. What must happen first? */
    free(l);
}
