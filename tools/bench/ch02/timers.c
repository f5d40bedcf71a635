/*
 * timers: the timer workloads of timer_common.h on this chapter's loop.
 * Prints one line per run: "add_us cancel_us run_cpu_us" (expire) or
 * "churn_us" (churn).
 */
#include "timer_common.h"

#include "net/event_loop.h"

static long remaining;

static void on_expire(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    (void)ctx;
    if (--remaining == 0)
        event_loop_quit(loop);
}

static void never(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)loop;
    (void)id;
    (void)ctx;
    fprintf(stderr, "timers: a churn timer fired\n");
    exit(1);
}

static void run_expire(long n, uint64_t *rng)
{
    struct event_loop *loop = event_loop_new();
    uint64_t *ids = malloc((size_t)n * sizeof *ids);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    if (loop == NULL || ids == NULL || order == NULL)
        exit(1);
    bench_shuffle(order, (uint32_t)n, rng);
    double t0 = bench_now_us();
    for (long i = 0; i < n; i++) {
        int64_t delay = (int64_t)(bench_rand(rng) % EXPIRE_SPAN_US);
        ids[i] = event_loop_run_after(loop, delay, on_expire, NULL);
        if (ids[i] == 0)
            exit(1);
    }
    double t1 = bench_now_us();
    for (long i = 0; i < n / 2; i++)
        event_loop_cancel_timer(loop, ids[order[i]]);
    double t2 = bench_now_us();
    remaining = n - n / 2;
    double c0 = bench_cpu_us();
    event_loop_run(loop);
    double c1 = bench_cpu_us();
    printf("%.0f %.0f %.0f\n", t1 - t0, t2 - t1, c1 - c0);
    event_loop_free(loop);
    free(ids);
    free(order);
}

static void run_churn(long n, uint64_t *rng)
{
    struct event_loop *loop = event_loop_new();
    uint64_t *ids = malloc(CHURN_POPULATION * sizeof *ids);
    if (loop == NULL || ids == NULL)
        exit(1);
    for (long i = 0; i < CHURN_POPULATION; i++)
        ids[i] = event_loop_run_after(
            loop, CHURN_BASE_US + (int64_t)(bench_rand(rng) % CHURN_BASE_US),
            never, NULL);
    double t0 = bench_now_us();
    for (long i = 0; i < n; i++) {
        uint64_t k = bench_rand(rng) % CHURN_POPULATION;
        event_loop_cancel_timer(loop, ids[k]);
        ids[k] = event_loop_run_after(
            loop, CHURN_BASE_US + (int64_t)(bench_rand(rng) % CHURN_BASE_US),
            never, NULL);
    }
    double t1 = bench_now_us();
    printf("%.0f\n", t1 - t0);
    event_loop_free(loop);
    free(ids);
}

int main(int argc, char **argv)
{
    struct bench_options o = bench_parse(argc, argv, "timers");
    for (int r = 0; r < o.runs; r++) {
        uint64_t rng = 0x9E3779B97F4A7C15u + (uint64_t)r;
        if (strcmp(o.mode, "expire") == 0)
            run_expire(o.n, &rng);
        else
            run_churn(o.n, &rng);
        fflush(stdout);
    }
    return 0;
}
