/*
 * queue_bench: the cost of handing work to a loop from other threads.
 *
 * P producer threads queue N functors each to one loop running in its own
 * thread, as fast as they can; the figure is functors run per second,
 * from the first queue to the last functor run. Each run prints one line:
 * "functors_per_second".
 *
 *   queue_bench -p PRODUCERS -n PER_PRODUCER -r RUNS
 */
#include "../bench_util.h"

#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_long done;
static long target;
static double finished_at;

static void work(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (void)ctx;
    if (atomic_fetch_add_explicit(&done, 1, memory_order_relaxed) + 1 ==
        target)
        finished_at = bench_now_us();
}

struct producer {
    pthread_t thread;
    struct event_loop *loop;
    long n;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < p->n; i++)
        while (event_loop_queue(p->loop, work, NULL) != 0)
            usleep(10);
    return NULL;
}

int main(int argc, char **argv)
{
    long producers = 1, n = 1000000;
    int runs = 5, opt;
    while ((opt = getopt(argc, argv, "p:n:r:")) != -1) {
        switch (opt) {
        case 'p': producers = bench_arg(optarg, "-p", 1); break;
        case 'n': n = bench_arg(optarg, "-n", 1); break;
        case 'r': runs = (int)bench_arg(optarg, "-r", 1); break;
        default:
            fprintf(stderr, "usage: queue_bench -p P -n N -r RUNS\n");
            return 2;
        }
    }
    for (int r = 0; r < runs; r++) {
        struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
        if (t == NULL)
            return 1;
        atomic_store(&done, 0);
        target = producers * n;
        struct producer *ps = calloc((size_t)producers, sizeof *ps);
        double start = bench_now_us();
        for (long i = 0; i < producers; i++) {
            ps[i] = (struct producer){.loop = event_loop_thread_loop(t), .n = n};
            pthread_create(&ps[i].thread, NULL, produce, &ps[i]);
        }
        for (long i = 0; i < producers; i++)
            pthread_join(ps[i].thread, NULL);
        event_loop_thread_free(t); /* runs what is left, then joins */
        printf("%.0f\n", (double)target / ((finished_at - start) / 1e6));
        fflush(stdout);
        free(ps);
    }
    return 0;
}
