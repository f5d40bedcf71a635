#include "net/event_loop_thread.h"

#include "base/assertion.h"
#include "base/count_down_latch.h"
#include "base/log.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct event_loop_thread {
    pthread_t thread;
    event_loop_thread_init_fn *init;
    void *ctx;
    struct count_down_latch started; /* counted down once loop is set */
    struct event_loop *loop;         /* set by the thread before the latch */
    int error;                       /* errno of a failed loop creation */
    atomic_bool stopping;            /* set by free() before it quits */
    atomic_bool failed;              /* the poller failed: no more runs */
    struct count_down_latch stop;    /* counted down by free(), last */
};

static void *thread_main(void *arg)
{
    struct event_loop_thread *t = arg;
    struct event_loop *loop = event_loop_new();
    /* The latch orders these writes before the starter's reads. */
    t->loop = loop;
    t->error = loop == NULL ? errno : 0;
    if (loop != NULL && t->init != NULL)
        t->init(loop, t->ctx);
    count_down_latch_count_down(&t->started);
    if (loop == NULL)
        return NULL;
    /* The loop must outlive every user of event_loop_thread_loop(), so it
     * lives until free(), whatever else ends a run: a quit from elsewhere
     * only ends that run. */
    while (!atomic_load(&t->stopping)) {
        int rc = event_loop_run(loop);
        if (rc != 0) {
            /* The poller is broken; running again would spin. Said
             * before the log line, which tests wait for. */
            atomic_store(&t->failed, true);
            log_error("loop thread: event_loop_run: %s; idle until stopped",
                      log_strerror(-rc));
            break;
        }
    }
    /* Wait for free() (idle, after a broken poller), and for it to be
     * done with the loop: it may still be quitting it. */
    count_down_latch_wait(&t->stop);
    event_loop_free(loop); /* runs what is still queued */
    return NULL;
}

struct event_loop_thread *
event_loop_thread_new(event_loop_thread_init_fn *init, void *ctx)
{
    struct event_loop_thread *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->init = init;
    t->ctx = ctx;
    count_down_latch_init(&t->started, 1);
    count_down_latch_init(&t->stop, 1);
    int err = pthread_create(&t->thread, NULL, thread_main, t);
    if (err == 0) {
        count_down_latch_wait(&t->started);
        if (t->loop != NULL)
            return t;
        err = t->error;
        pthread_join(t->thread, NULL);
    }
    count_down_latch_destroy(&t->started);
    count_down_latch_destroy(&t->stop);
    free(t);
    errno = err;
    return NULL;
}

struct event_loop *event_loop_thread_loop(const struct event_loop_thread *t)
{
    return t->loop;
}

bool event_loop_thread_failed(const struct event_loop_thread *t)
{
    return atomic_load(&t->failed);
}

void event_loop_thread_free(struct event_loop_thread *t)
{
    if (t == NULL)
        return;
    ASSERT(!event_loop_is_in_loop_thread(t->loop)); /* it would join itself */
    atomic_store(&t->stopping, true); /* before the quit that it explains */
    event_loop_quit(t->loop);
    /* The last use of the loop here: after it, the thread may free it. */
    count_down_latch_count_down(&t->stop);
    pthread_join(t->thread, NULL);
    count_down_latch_destroy(&t->started);
    count_down_latch_destroy(&t->stop);
    free(t);
}
