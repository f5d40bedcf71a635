/*
 * Small helpers shared by the benchmark programs in tools/bench/chNN/:
 * a monotonic clock, raising the fd limit, and option parsing. Header-only
 * so that ours and the peers' programs stay single files.
 */
#ifndef MUDUO_BENCH_UTIL_H
#define MUDUO_BENCH_UTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Raises the soft fd limit to the hard one; returns the new soft limit. */
static inline long bench_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

/* Peers that write with write(2) would die of SIGPIPE when the other end
 * closes first; the benchmark programs ignore it, as servers do. */
static inline void bench_ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static inline long bench_arg(const char *value, const char *name, long min)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < min) {
        fprintf(stderr, "bad %s: '%s' (want an integer >= %ld)\n", name,
                value, min);
        exit(2);
    }
    return v;
}

#endif /* MUDUO_BENCH_UTIL_H */
