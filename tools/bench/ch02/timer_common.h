/*
 * The workload shared by timers.c (ours) and timers_libevent.c, so that
 * both programs make exactly the same calls in the same order.
 *
 *   expire: add N timers with random delays in [0, 1 s), cancel a random
 *           half, run the loop until the rest have fired. Reported: wall
 *           time to add, wall time to cancel, CPU time of the run (the run
 *           itself mostly waits for the clock, which is not work).
 *   churn:  keep P timers pending (delays 10-20 s, so none fires) and make
 *           N pairs of (cancel a random pending timer, add a new one), as
 *           connection timeouts do. Reported: wall time of the pairs.
 */
#ifndef MUDUO_BENCH_TIMER_COMMON_H
#define MUDUO_BENCH_TIMER_COMMON_H

#include "../bench_util.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPIRE_SPAN_US 1000000 /* delays in [0, 1 s) */
#define CHURN_BASE_US 10000000 /* churn delays in [10 s, 20 s) */
#define CHURN_POPULATION 100000

/* xorshift64: fast, and identical in both programs. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* A random permutation of 0..n-1: the order in which timers are cancelled. */
static inline void bench_shuffle(uint32_t *order, uint32_t n, uint64_t *rng)
{
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)(bench_rand(rng) % i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

static inline double bench_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct bench_options {
    const char *mode; /* "expire" or "churn" */
    long n;
    int runs;
};

static inline struct bench_options bench_parse(int argc, char **argv,
                                               const char *name)
{
    struct bench_options o = {"expire", 1000000, 5};
    int opt;
    while ((opt = getopt(argc, argv, "m:n:r:")) != -1) {
        switch (opt) {
        case 'm': o.mode = optarg; break;
        case 'n': o.n = bench_arg(optarg, "-n", 2); break;
        case 'r': o.runs = (int)bench_arg(optarg, "-r", 1); break;
        default:
            fprintf(stderr, "usage: %s -m expire|churn -n N -r RUNS\n", name);
            exit(2);
        }
    }
    if (strcmp(o.mode, "expire") != 0 && strcmp(o.mode, "churn") != 0) {
        fprintf(stderr, "%s: unknown mode '%s'\n", name, o.mode);
        exit(2);
    }
    return o;
}

#endif /* MUDUO_BENCH_TIMER_COMMON_H */
