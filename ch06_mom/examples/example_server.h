/*
 * The set-up every example server shares: a loop, a tcp_server on
 * 127.0.0.1:PORT, a clean quit on Ctrl-C (SIGINT) or SIGTERM, and the
 * tear-down. An example adds only its callbacks and timers in between:
 *
 *   struct example_server es;
 *   if (!example_server_open(&es, "echo", port))
 *       return 1;
 *   tcp_server_set_callbacks(es.server, &callbacks);
 *   int rc = example_server_run(&es);   // until a signal
 *   example_server_close(&es);
 *   return rc;
 *
 * A header of static functions, like args.h: each example is one program
 * built from one source file.
 */
#ifndef MUDUO_EXAMPLES_EXAMPLE_SERVER_H
#define MUDUO_EXAMPLES_EXAMPLE_SERVER_H

#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct example_server {
    const char *name;
    struct event_loop *loop;
    struct tcp_server *server;
    struct channel quit; /* the read end of the signal pipe */
};

/* A signal handler may only do async-signal-safe things; write() is one.
 * So SIGINT/SIGTERM -> one byte into a pipe -> a channel of the loop,
 * which quits it, and the program frees everything on its way out. */
static int example_signal_pipe[2] = {-1, -1};

static inline void example_on_signal(int signo)
{
    (void)signo;
    int saved = errno;
    (void)!write(example_signal_pipe[1], "x", 1);
    errno = saved;
}

static inline void example_on_quit(struct channel *ch, int64_t t, void *ctx)
{
    (void)t;
    (void)ctx;
    log_info("signal received: quitting");
    event_loop_quit(ch->loop);
}

/* Makes the loop, the server @p name on 127.0.0.1:@p port (0: any free
 * port) and the signal pipe. On failure it says why on stderr, frees what
 * it made and returns false. */
static inline bool example_server_open(struct example_server *es,
                                       const char *name, long port)
{
    *es = (struct example_server){.name = name};
    es->loop = event_loop_new();
    if (es->loop == NULL) {
        fprintf(stderr, "%s: %s\n", name, strerror(errno));
        return false;
    }
    struct inet_address addr;
    inet_address_loopback(&addr, (uint16_t)port, false);
    es->server = tcp_server_new(es->loop, &addr, name, 0);
    if (es->server == NULL ||
        pipe2(example_signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "%s: port %ld: %s\n", name, port, strerror(errno));
        tcp_server_free(es->server);
        event_loop_free(es->loop);
        return false;
    }
    channel_init(&es->quit, es->loop, example_signal_pipe[0], NULL);
    channel_set_read_fn(&es->quit, example_on_quit);
    (void)channel_enable_reading(&es->quit);
    struct sigaction sa = {.sa_handler = example_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return true;
}

/* Starts listening, says where, and runs the loop until a signal quits
 * it. @return the exit status for main(): 0, or 1 when it failed. */
static inline int example_server_run(struct example_server *es)
{
    int rc = tcp_server_start(es->server);
    if (rc != 0) {
        fprintf(stderr, "%s: listen: %s\n", es->name, strerror(-rc));
        return 1;
    }
    struct inet_address bound;
    char text[INET_ADDRESS_STRLEN] = "?";
    if (tcp_server_listen_address(es->server, &bound) == 0)
        inet_address_to_string(&bound, text, sizeof text);
    printf("%s listening on %s\n", es->name, text);
    fflush(stdout);
    return event_loop_run(es->loop) == 0 ? 0 : 1;
}

/* Frees the server (closing its connections), the pipe and the loop. */
static inline void example_server_close(struct example_server *es)
{
    tcp_server_free(es->server);
    channel_remove(&es->quit);
    channel_destroy(&es->quit);
    close(example_signal_pipe[0]);
    close(example_signal_pipe[1]);
    event_loop_free(es->loop);
}

#endif /* MUDUO_EXAMPLES_EXAMPLE_SERVER_H */
