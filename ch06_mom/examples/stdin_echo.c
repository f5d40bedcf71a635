/*
 * stdin_echo: the smallest reactor.
 *
 * One channel watches standard input. Each time it is readable the loop
 * calls on_readable(), which reads what is there and echoes it, tagged with
 * the loop round and the receive time. When the writer goes away the loop
 * sees a hang-up and calls on_hang_up() (a pipe), or the read returns 0
 * (Ctrl-D on a terminal); either way the loop quits.
 *
 *   (echo one; sleep 1; echo two) | build/examples/stdin_echo
 *   MUDUO_POLLER=poll build/examples/stdin_echo < some_file
 */
#include "base/list.h"
#include "base/timestamp.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct echo {
    struct channel ch; /* watches STDIN_FILENO, which it does not own */
    int64_t start_us;
    long total;
};

static void finish(struct echo *e, const char *why)
{
    printf("%s after %ld bytes: quitting\n", why, e->total);
    event_loop_quit(e->ch.loop);
}

static void on_readable(struct channel *ch, int64_t receive_time_us,
                        void *ctx)
{
    struct echo *e = container_of(ch, struct echo, ch);
    (void)ctx;
    char buf[4096];
    /* One read per wake-up is enough: the poller is level-triggered, so
     * whatever is left makes the fd readable again next round. */
    ssize_t n = read(ch->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        finish(e, n == 0 ? "end of input" : strerror(errno));
        return;
    }
    e->total += n;
    int shown = (int)n;
    while (shown > 0 && buf[shown - 1] == '\n')
        shown--;
    printf("[round %llu, +%.3f s] %zd bytes: %.*s\n",
           (unsigned long long)event_loop_iterations(ch->loop),
           (double)(receive_time_us - e->start_us) / 1e6, n, shown, buf);
    fflush(stdout);
}

static void on_hang_up(struct channel *ch, void *ctx)
{
    (void)ctx;
    finish(container_of(ch, struct echo, ch), "hang-up");
}

int main(void)
{
    struct event_loop *loop = event_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "event_loop_new: %s\n", strerror(errno));
        return 1;
    }
    struct echo e = {.start_us = timestamp_mono_us()};
    channel_init(&e.ch, loop, STDIN_FILENO, NULL);
    channel_set_read_fn(&e.ch, on_readable);
    channel_set_close_fn(&e.ch, on_hang_up);
    int err = channel_enable_reading(&e.ch);
    if (err != 0) {
        fprintf(stderr, "cannot watch stdin with %s: %s%s\n",
                event_loop_poller_name(loop), strerror(-err),
                err == -EPERM ? " (a regular file? try MUDUO_POLLER=poll)"
                              : "");
        channel_destroy(&e.ch);
        event_loop_free(loop);
        return 1;
    }
    printf("watching stdin with %s\n", event_loop_poller_name(loop));
    int rc = event_loop_run(loop);
    channel_remove(&e.ch);
    channel_destroy(&e.ch);
    event_loop_free(loop);
    return rc == 0 ? 0 : 1;
}
