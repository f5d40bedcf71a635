/*
 * relay: libevent's classic loop benchmark (test/bench.c), on this
 * chapter's event loop.
 *
 * N socketpairs, each watched for reading. A of them get one byte to start.
 * Each read callback reads its byte and writes one to the next pair, until
 * W writes have been made; the run ends when every byte written has been
 * read. The time of a run covers only the loop, not the setup, and is
 * printed in microseconds, one line per run.
 *
 *   relay -n N -a A -w W -r RUNS        (MUDUO_POLLER picks epoll or poll)
 */
#include "../bench_util.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static int num_pipes, num_active, num_writes;
static int count, writes, fired, failures;
static int *pipes; /* pipes[2 * i] is read by channel i */

static void on_read(struct channel *ch, int64_t receive_time, void *ctx)
{
    (void)receive_time;
    intptr_t widx = (intptr_t)ctx + 1;
    unsigned char byte;
    ssize_t n = recv(ch->fd, &byte, 1, 0);
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
        event_loop_quit(ch->loop);
}

static double run_once(struct event_loop *loop)
{
    int space = num_pipes / num_active * 2;
    count = 0;
    fired = 0;
    writes = num_writes;
    for (int i = 0; i < num_active; i++, fired++)
        if (send(pipes[i * space + 1], "e", 1, 0) != 1)
            failures++;
    double start = bench_now_us();
    event_loop_run(loop);
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
            fprintf(stderr, "usage: relay -n N -a A -w W -r RUNS\n");
            return 2;
        }
    }
    if (num_active > num_pipes)
        num_active = num_pipes;
    if (bench_raise_fd_limit() < 2L * num_pipes + 16) {
        fprintf(stderr, "relay: fd limit too low for %d socketpairs\n",
                num_pipes);
        return 1;
    }
    struct event_loop *loop = event_loop_new();
    pipes = calloc((size_t)num_pipes * 2, sizeof *pipes);
    struct channel *channels = calloc((size_t)num_pipes, sizeof *channels);
    if (loop == NULL || pipes == NULL || channels == NULL)
        return 1;
    for (int i = 0; i < num_pipes; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, &pipes[2 * i]) != 0) {
            perror("socketpair");
            return 1;
        }
        channel_init(&channels[i], loop, pipes[2 * i], (void *)(intptr_t)i);
        channel_set_read_fn(&channels[i], on_read);
        if (channel_enable_reading(&channels[i]) != 0)
            return 1;
    }
    for (int r = 0; r < runs; r++)
        printf("%.0f\n", run_once(loop));
    for (int i = 0; i < num_pipes; i++) {
        channel_remove(&channels[i]);
        channel_destroy(&channels[i]);
        close(pipes[2 * i]);
        close(pipes[2 * i + 1]);
    }
    event_loop_free(loop);
    free(channels);
    free(pipes);
    if (failures != 0)
        fprintf(stderr, "relay: %d failed reads or writes\n", failures);
    return failures == 0 ? 0 : 1;
}
