/*
 * timers_libevent: the timer workloads of timer_common.h on libevent 2.1,
 * written as libevent does it best: struct events preallocated in one
 * array and set with evtimer_assign() (no malloc per timer), relative
 * timeouts with evtimer_add(), evtimer_del() to cancel.
 */
#include "timer_common.h"

#include <event2/event.h>
#include <event2/event_struct.h>

static long remaining;
static struct event_base *base;

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (--remaining == 0)
        event_base_loopbreak(base);
}

static void never(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "timers_libevent: a churn timer fired\n");
    exit(1);
}

static struct timeval tv_of(int64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    return tv;
}

static void run_expire(long n, uint64_t *rng)
{
    base = event_base_new();
    struct event *evs = calloc((size_t)n, sizeof *evs);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    if (base == NULL || evs == NULL || order == NULL)
        exit(1);
    bench_shuffle(order, (uint32_t)n, rng);
    double t0 = bench_now_us();
    for (long i = 0; i < n; i++) {
        struct timeval tv =
            tv_of((int64_t)(bench_rand(rng) % EXPIRE_SPAN_US));
        evtimer_assign(&evs[i], base, on_expire, NULL);
        if (evtimer_add(&evs[i], &tv) != 0)
            exit(1);
    }
    double t1 = bench_now_us();
    for (long i = 0; i < n / 2; i++)
        evtimer_del(&evs[order[i]]);
    double t2 = bench_now_us();
    remaining = n - n / 2;
    double c0 = bench_cpu_us();
    event_base_dispatch(base);
    double c1 = bench_cpu_us();
    printf("%.0f %.0f %.0f\n", t1 - t0, t2 - t1, c1 - c0);
    for (long i = 0; i < n; i++)
        evtimer_del(&evs[i]);
    event_base_free(base);
    free(evs);
    free(order);
}

static void run_churn(long n, uint64_t *rng)
{
    base = event_base_new();
    struct event *evs = calloc(CHURN_POPULATION, sizeof *evs);
    if (base == NULL || evs == NULL)
        exit(1);
    for (long i = 0; i < CHURN_POPULATION; i++) {
        struct timeval tv = tv_of(
            CHURN_BASE_US + (int64_t)(bench_rand(rng) % CHURN_BASE_US));
        evtimer_assign(&evs[i], base, never, NULL);
        evtimer_add(&evs[i], &tv);
    }
    double t0 = bench_now_us();
    for (long i = 0; i < n; i++) {
        uint64_t k = bench_rand(rng) % CHURN_POPULATION;
        struct timeval tv = tv_of(
            CHURN_BASE_US + (int64_t)(bench_rand(rng) % CHURN_BASE_US));
        evtimer_del(&evs[k]);
        evtimer_add(&evs[k], &tv);
    }
    double t1 = bench_now_us();
    printf("%.0f\n", t1 - t0);
    for (long i = 0; i < CHURN_POPULATION; i++)
        evtimer_del(&evs[i]);
    event_base_free(base);
    free(evs);
}

int main(int argc, char **argv)
{
    struct bench_options o = bench_parse(argc, argv, "timers_libevent");
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
