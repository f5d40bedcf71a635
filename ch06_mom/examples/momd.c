/* momd: the message broker. It speaks the publish/subscribe part of the
 * Redis protocol, so that redis-cli and the Redis client libraries are
 * its clients:
 *
 *   momd --port 6380 --threads 2
 *   redis-cli -p 6380 subscribe news        (in one terminal)
 *   redis-cli -p 6380 publish news hello    (in another)
 *
 * SIGINT or SIGTERM stops it gracefully: no new clients, the output that
 * is queued (spill files included) gets until --shutdown-timeout to reach
 * its clients, then the spill files are removed and momd exits 0. */
#include "base/async_log.h"
#include "base/log.h"
#include "mom/broker.h"
#include "mom/config.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int signal_pipe[2] = {-1, -1};

/* A signal handler may only do async-signal-safe things; write() is one. */
static void on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    (void)!write(signal_pipe[1], "x", 1);
    errno = saved;
}

static void on_stopped(struct broker *b, void *ctx)
{
    (void)b;
    event_loop_quit(ctx);
}

static void on_quit_signal(struct channel *ch, int64_t t, void *ctx)
{
    (void)t;
    struct broker *b = ctx;
    char drain[16];
    (void)!read(ch->fd, drain, sizeof drain);
    log_info("signal received: stopping");
    broker_stop(b, on_stopped, ch->loop);
}

static int serve(const struct broker_config *cfg)
{
    struct event_loop *loop = event_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "momd: %s\n", strerror(errno));
        return 1;
    }
    struct broker *b = broker_new(loop, cfg);
    if (b == NULL) {
        fprintf(stderr, "momd: %s:%d: %s\n", cfg->bind, cfg->port,
                strerror(errno));
        event_loop_free(loop);
        return 1;
    }
    int rc = broker_start(b);
    if (rc != 0 || pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "momd: start: %s\n", strerror(rc != 0 ? -rc : errno));
        broker_free(b);
        event_loop_free(loop);
        return 1;
    }
    struct channel quit;
    channel_init(&quit, loop, signal_pipe[0], b);
    channel_set_read_fn(&quit, on_quit_signal);
    (void)channel_enable_reading(&quit);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("momd listening on %s:%d\n", cfg->bind, broker_port(b));
    fflush(stdout);

    rc = event_loop_run(loop) == 0 ? 0 : 1;

    broker_free(b);
    channel_remove(&quit);
    channel_destroy(&quit);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    event_loop_free(loop);
    return rc;
}

int main(int argc, char **argv)
{
    struct broker_config cfg;
    char err[256];
    if (broker_config_init(&cfg) != 0) {
        fprintf(stderr, "momd: out of memory\n");
        broker_config_destroy(&cfg);
        return 1;
    }
    if (broker_config_parse_args(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "momd: %s (try --help)\n", err);
        broker_config_destroy(&cfg);
        return 2;
    }
    if (cfg.show_help || cfg.show_version) {
        if (cfg.show_help)
            broker_config_usage(stdout, "momd");
        else
            printf("momd %s (Redis %s pub/sub protocol)\n", BROKER_VERSION,
                   BROKER_REDIS_VERSION);
        broker_config_destroy(&cfg);
        return 0;
    }
    struct async_log *alog = NULL;
    if (cfg.log_file != NULL) {
        struct async_log_options opt = {.basename = cfg.log_file};
        alog = async_log_new(&opt);
        if (alog == NULL) {
            fprintf(stderr, "momd: --log-file %s: %s\n", cfg.log_file,
                    strerror(errno));
            broker_config_destroy(&cfg);
            return 1;
        }
        log_set_sink(async_log_sink(alog));
    }
    int rc = serve(&cfg);
    if (alog != NULL) {
        log_set_sink(NULL);
        async_log_free(alog);
    }
    broker_config_destroy(&cfg);
    return rc;
}
