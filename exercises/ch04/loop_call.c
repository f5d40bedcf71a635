/* Exercise 04.1: see exercises/ch04/README.md, "04.1 Calling into a loop
 * and waiting". The contract is in loop_call.h. */
#include "loop_call.h"

#include "net/event_loop.h"

#include <errno.h>

int loop_call(struct event_loop *loop, event_loop_fn *fn, void *ctx)
{
    /* TODO: in the loop's own thread, run fn at once. From any other
     * thread, queue a functor that runs fn and then tells the caller
     * (base/count_down_latch.h), and wait for it. Where can the state
     * the two threads share live, given that the caller waits? */
    (void)loop;
    (void)fn;
    (void)ctx;
    return -ENOSYS;
}
