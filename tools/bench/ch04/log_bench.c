/*
 * log_bench: the logger front end with the asynchronous back end, against
 * a synchronous sink that writes each line to a file with write(2).
 *
 * T threads each log N lines through log_info(); every call is timed.
 * Prints one line per run: "lines_per_second median_ns p99_ns".
 *
 *   log_bench -m async|sync -t THREADS -n LINES -r RUNS -d DIR
 */
#include "../bench_util.h"

#include "base/async_log.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static long lines_per_thread;

struct worker {
    pthread_t thread;
    int id;
    double *latency_ns;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < lines_per_thread; i++) {
        double t0 = bench_now_us();
        log_info("worker %d line %ld: some payload to make a typical line", w->id, i);
        w->latency_ns[i] = (bench_now_us() - t0) * 1000.0;
    }
    return NULL;
}

/* The synchronous sink: one write(2) per line, straight to the file. */
static void sync_output(const char *line, size_t len, void *ctx)
{
    int fd = *(int *)ctx;
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *mode = "async", *dir = "/tmp";
    long threads = 1;
    lines_per_thread = 200000;
    int runs = 3, opt;
    while ((opt = getopt(argc, argv, "m:t:n:r:d:")) != -1) {
        switch (opt) {
        case 'm': mode = optarg; break;
        case 't': threads = bench_arg(optarg, "-t", 1); break;
        case 'n': lines_per_thread = bench_arg(optarg, "-n", 1); break;
        case 'r': runs = (int)bench_arg(optarg, "-r", 1); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: log_bench -m async|sync -t T -n N -r R "
                            "-d DIR\n");
            return 2;
        }
    }
    bool async = strcmp(mode, "async") == 0;
    log_set_level(LOG_LEVEL_INFO);
    for (int r = 0; r < runs; r++) {
        char base[512];
        snprintf(base, sizeof base, "%s/log_bench_%s", dir, mode);
        struct async_log *al = NULL;
        int fd = -1;
        struct log_sink sync_sink = {sync_output, NULL, &fd};
        if (async) {
            struct async_log_options o = {.basename = base};
            al = async_log_new(&o);
            if (al == NULL)
                return 1;
            log_set_sink(async_log_sink(al));
        } else {
            char path[600];
            snprintf(path, sizeof path, "%s.log", base);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0)
                return 1;
            log_set_sink(&sync_sink);
        }
        struct worker *ws = calloc((size_t)threads, sizeof *ws);
        double start = bench_now_us();
        for (long i = 0; i < threads; i++) {
            ws[i].id = (int)i;
            ws[i].latency_ns = malloc((size_t)lines_per_thread * sizeof(double));
            pthread_create(&ws[i].thread, NULL, work, &ws[i]);
        }
        for (long i = 0; i < threads; i++)
            pthread_join(ws[i].thread, NULL);
        double elapsed_s = (bench_now_us() - start) / 1e6;
        log_set_sink(NULL);
        if (al != NULL)
            async_log_free(al); /* every line reaches the file */
        if (fd >= 0)
            close(fd);
        size_t total = (size_t)(threads * lines_per_thread);
        double *all = malloc(total * sizeof(double));
        for (long i = 0; i < threads; i++) {
            memcpy(all + i * lines_per_thread, ws[i].latency_ns,
                   (size_t)lines_per_thread * sizeof(double));
            free(ws[i].latency_ns);
        }
        qsort(all, total, sizeof(double), compare_doubles);
        printf("%.0f %.0f %.0f\n", (double)total / elapsed_s,
               all[total / 2], all[total * 99 / 100]);
        fflush(stdout);
        free(all);
        free(ws);
    }
    return 0;
}
