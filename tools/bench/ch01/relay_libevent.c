/*
 * relay_libevent: the same benchmark as relay.c on libevent 2.1, written
 * as libevent's own test/bench.c does it (persistent read events on
 * socketpairs), except that the run ends with event_base_loopbreak(), as
 * ours ends with event_loop_quit(), rather than by polling the loop once
 * per call.
 *
 *   relay_libevent -n N -a A -w W -r RUNS    (EVENT_NOEPOLL=1 for poll)
 */
#include "../bench_util.h"

#include <event2/event.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static int num_pipes, num_active, num_writes;
static int count, writes, fired, failures;
static int *pipes;
static struct event_base *base;

static void on_read(evutil_socket_t fd, short which, void *arg)
{
    (void)which;
    intptr_t widx = (intptr_t)arg + 1;
    unsigned char byte;
    ssize_t n = recv(fd, &byte, 1, 0);
    if (n >= 0)
        count += (int)n;
    else
        failures++;
    if (writes > 0) {
        if (widx >= num_pipes)
            widx -= num_pipes;
        if (send(pipes[2 * widx + 1], "e", 1, 0) != 1)
            failures++;
        writes--;
        fired++;
    }
    if (count == fired)
        event_base_loopbreak(base);
}

static double run_once(void)
{
    int space = num_pipes / num_active * 2;
    count = 0;
    fired = 0;
    writes = num_writes;
    for (int i = 0; i < num_active; i++, fired++)
        if (send(pipes[i * space + 1], "e", 1, 0) != 1)
            failures++;
    double start = bench_now_us();
    event_base_dispatch(base);
    return bench_now_us() - start;
}

int main(int argc, char **argv)
{
    num_pipes = 100;
    num_active = 1;
    num_writes = 100;
    int runs = 25, opt;
    while ((opt = getopt(argc, argv, "n:a:w:r:")) != -1) {
        switch (opt) {
        case 'n': num_pipes = (int)bench_arg(optarg, "-n", 1); break;
        case 'a': num_active = (int)bench_arg(optarg, "-a", 1); break;
        case 'w': num_writes = (int)bench_arg(optarg, "-w", 0); break;
        case 'r': runs = (int)bench_arg(optarg, "-r", 1); break;
        default:
            fprintf(stderr, "usage: relay_libevent -n N -a A -w W -r RUNS\n");
            return 2;
        }
    }
    if (num_active > num_pipes)
        num_active = num_pipes;
    if (bench_raise_fd_limit() < 2L * num_pipes + 16) {
        fprintf(stderr, "relay_libevent: fd limit too low for %d pairs\n",
                num_pipes);
        return 1;
    }
    base = event_base_new();
    pipes = calloc((size_t)num_pipes * 2, sizeof *pipes);
    struct event **events = calloc((size_t)num_pipes, sizeof *events);
    if (base == NULL || pipes == NULL || events == NULL)
        return 1;
    for (int i = 0; i < num_pipes; i++) {
        if (evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, &pipes[2 * i]) != 0) {
            perror("socketpair");
            return 1;
        }
        events[i] = event_new(base, pipes[2 * i], EV_READ | EV_PERSIST,
                              on_read, (void *)(intptr_t)i);
        if (events[i] == NULL || event_add(events[i], NULL) != 0)
            return 1;
    }
    for (int r = 0; r < runs; r++)
        printf("%.0f\n", run_once());
    for (int i = 0; i < num_pipes; i++) {
        event_free(events[i]);
        close(pipes[2 * i]);
        close(pipes[2 * i + 1]);
    }
    event_base_free(base);
    free(events);
    free(pipes);
    if (failures != 0)
        fprintf(stderr, "relay_libevent: %d failed reads or writes\n",
                failures);
    return failures == 0 ? 0 : 1;
}
