/* A reference answer to exercise 04.1 (exercises/ch04/README.md). */
#include "loop_call.h"

#include "base/count_down_latch.h"
#include "net/event_loop.h"

/* One call in flight. It lives on the caller's stack: the caller does not
 * return before the loop's thread has counted the latch down, which is
 * the last thing that thread does with it. */
struct call {
    event_loop_fn *fn;
    void *ctx;
    struct count_down_latch done;
};

static void run_call(struct event_loop *loop, void *arg)
{
    struct call *call = arg;
    call->fn(loop, call->ctx);
    /* The latch's mutex orders everything fn wrote before the caller's
     * return: the caller needs no atomics to read it. */
    count_down_latch_count_down(&call->done);
}

int loop_call(struct event_loop *loop, event_loop_fn *fn, void *ctx)
{
    /* Queued from its own thread, the functor could only run after this
     * call returns, and this call would wait for it for ever. */
    if (event_loop_is_in_loop_thread(loop)) {
        fn(loop, ctx);
        return 0;
    }
    struct call call = {.fn = fn, .ctx = ctx};
    count_down_latch_init(&call.done, 1);
    int err = event_loop_queue(loop, run_call, &call);
    if (err == 0) /* not handed over: nothing will count down */
        count_down_latch_wait(&call.done);
    count_down_latch_destroy(&call.done);
    return err;
}
