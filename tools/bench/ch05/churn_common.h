/*
 * What churn.c (ours) and churn_libuv.c share, so that both read the same
 * options and report the same way.
 *
 *   PROG -p PORT [-n IN_FLIGHT] [-t SECONDS] [-g]
 *
 * Each of IN_FLIGHT slots connects to 127.0.0.1:PORT, sends MESSAGE_LEN
 * bytes, waits until they have come back, closes, and connects again at
 * once, for SECONDS. Closing: by default at once when the reply is in;
 * with -g gracefully (our FIN first, the close when the server's arrives).
 *
 * Reported on one line: connections completed per second, and the CPU
 * time (user + system) the client spent per connection in microseconds.
 * On a shared machine the second is the steadier figure: it leaves out
 * the time the client waited for the server, or for a CPU.
 */
#ifndef MUDUO_BENCH_CHURN_COMMON_H
#define MUDUO_BENCH_CHURN_COMMON_H

#include "../bench_util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#define MESSAGE_LEN 64

struct churn_options {
    long port;
    long in_flight;
    long seconds;
    bool graceful;
};

static inline void churn_parse_args(int argc, char **argv, const char *prog,
                                    struct churn_options *o)
{
    *o = (struct churn_options){.in_flight = 1, .seconds = 2};
    int opt;
    while ((opt = getopt(argc, argv, "p:n:t:g")) != -1) {
        switch (opt) {
        case 'p': o->port = bench_arg(optarg, "-p", 1); break;
        case 'n': o->in_flight = bench_arg(optarg, "-n", 1); break;
        case 't': o->seconds = bench_arg(optarg, "-t", 1); break;
        case 'g': o->graceful = true; break;
        default:
            fprintf(stderr, "usage: %s -p PORT [-n IN_FLIGHT] [-t SECONDS] "
                            "[-g]\n", prog);
            exit(2);
        }
    }
    if (o->port == 0 || o->port > 65535 || optind != argc) {
        fprintf(stderr, "%s: need -p PORT (1-65535), and no other "
                        "arguments\n", prog);
        exit(2);
    }
}

/* CPU time of the process so far (user + system), in microseconds. */
static inline double churn_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Prints the figures of a run that completed @p done connections (and
 * lost @p failed) in @p seconds, using @p cpu_us of CPU time. */
static inline void churn_report(const char *prog, uint64_t done,
                                uint64_t failed, double seconds,
                                double cpu_us)
{
    if (failed > 0)
        fprintf(stderr, "%s: %llu connections failed\n", prog,
                (unsigned long long)failed);
    printf("%.0f %.2f\n", (double)done / seconds,
           done > 0 ? cpu_us / (double)done : 0.0);
}

#endif /* MUDUO_BENCH_CHURN_COMMON_H */
