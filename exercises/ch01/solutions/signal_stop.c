/* Reference solution of exercise 01.1: a signalfd watched by a channel. */
#include "signal_stop.h"

#include "base/list.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct signal_stop {
    struct channel ch; /* watches fd, which this object owns */
    int fd;
    int last_signal;
};

static void watched_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

static void on_signal(struct channel *ch, int64_t receive_time_us, void *ctx)
{
    struct signal_stop *s = container_of(ch, struct signal_stop, ch);
    (void)receive_time_us;
    (void)ctx;
    /* Standard signals do not queue: at most one of each is pending, so
     * two records hold all there can be. One read takes them all. */
    struct signalfd_siginfo info[2];
    ssize_t n = read(s->fd, info, sizeof info);
    if (n < (ssize_t)sizeof info[0])
        return; /* EAGAIN: someone else took it (sigwait in another
                 * thread); nothing to do, the fd is not readable any more */
    s->last_signal = (int)info[n / (ssize_t)sizeof info[0] - 1].ssi_signo;
    event_loop_quit(ch->loop);
}

struct signal_stop *signal_stop_new(struct event_loop *loop)
{
    sigset_t watched, blocked;
    watched_signals(&watched);
    int err = pthread_sigmask(SIG_BLOCK, NULL, &blocked);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    /* An unblocked SIGINT would kill the process before the fd could
     * report it: refuse now rather than fail at the first Ctrl-C. */
    if (!sigismember(&blocked, SIGINT) || !sigismember(&blocked, SIGTERM)) {
        errno = EINVAL;
        return NULL;
    }
    struct signal_stop *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->fd = signalfd(-1, &watched, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        err = errno;
        free(s);
        errno = err;
        return NULL;
    }
    channel_init(&s->ch, loop, s->fd, s);
    channel_set_read_fn(&s->ch, on_signal);
    err = channel_enable_reading(&s->ch);
    if (err != 0) {
        /* The interest was not taken: the channel is not registered. */
        channel_destroy(&s->ch);
        close(s->fd);
        free(s);
        errno = -err;
        return NULL;
    }
    return s;
}

int signal_stop_signal(const struct signal_stop *s)
{
    return s->last_signal;
}

void signal_stop_free(struct signal_stop *s)
{
    if (s == NULL)
        return;
    /* Remove before close: the poller must forget the fd while it is
     * still the fd it was told about. */
    channel_remove(&s->ch);
    channel_destroy(&s->ch);
    close(s->fd);
    free(s);
}
