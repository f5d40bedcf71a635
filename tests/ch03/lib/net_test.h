/*
 * Helpers for the network suites (chapter 3 on).
 *
 * The server under test runs in the test's own loop, in the main thread.
 * Clients are plain blocking sockets driven by a client thread, so that a
 * test reads like a conversation. In chapter 3 the loop may only be used
 * from its own thread, so a client thread that finishes does not touch the
 * loop: it writes a byte into a pipe that a channel of the loop watches,
 * and that channel quits the loop (the self-pipe pattern).
 *
 * Client code never calls ck_assert (it runs in another thread): it fails
 * with client_fail(), and the test checks client_thread_error() after
 * joining.
 */
#ifndef MUDUO_TESTS_NET_TEST_H
#define MUDUO_TESTS_NET_TEST_H

#include "test_support.h"

#include "net/channel.h"
#include "net/event_loop.h"
#include "net/inet_address.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct client_thread {
    pthread_t thread;
    void (*fn)(struct client_thread *ct);
    void *arg;
    struct inet_address server;
    int done_pipe[2];
    struct channel done;
    struct event_loop *loop;
    bool finished;   /* loop thread: the client thread has ended */
    char error[256]; /* empty while all is well */
};

/* Starts fn(ct) in a thread; the loop quits when it returns. */
void client_thread_start(struct client_thread *ct, struct event_loop *loop,
                         const struct inet_address *server,
                         void (*fn)(struct client_thread *ct), void *arg);

/* Runs the loop until the client thread is done (fails the test after
 * timeout_ms), joins it, and releases its pipe; then fails the test if the
 * client reported an error. Several client threads may run at once: the
 * loop keeps running (and serving them all) until this one is done. */
void client_thread_finish(struct client_thread *ct, int timeout_ms);

/* Runs the loop until *counter >= target (checked every millisecond);
 * fails the test after timeout_ms. */
void run_loop_until(struct event_loop *loop, const int *counter, int target,
                    int timeout_ms);

/* For client code: records the first failure (printf-style). */
void client_fail(struct client_thread *ct, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Blocking client socket operations; on failure they call client_fail and
 * return -1 (or false). */
int client_connect(struct client_thread *ct);
/* Like client_connect, with a 16 KiB receive buffer (set before connect,
 * so that the window is small): the server's output then has to queue. */
int client_connect_small_rcvbuf(struct client_thread *ct);
bool client_write_all(struct client_thread *ct, int fd, const void *buf,
                      size_t len);
/* Reads exactly len bytes, or fails. */
bool client_read_exact(struct client_thread *ct, int fd, void *buf,
                       size_t len);
/* Reads until end of file; returns the byte count (or -1 on error). */
long client_read_to_eof(struct client_thread *ct, int fd, char *buf,
                        size_t cap);
/* True when the next read sees end of file or a reset within timeout. */
bool client_expect_closed(struct client_thread *ct, int fd, int timeout_ms);

/* A deterministic byte pattern, so that echoed data can be checked. */
void fill_pattern(char *buf, size_t len, unsigned seed);

/* Starts a server on 127.0.0.1 (or ::1), any free port; fails the test on
 * error. Its address goes to *addr. */
struct tcp_server;
struct tcp_callbacks;
struct tcp_server *start_test_server(struct event_loop *loop,
                                     const struct tcp_callbacks *cb,
                                     bool ipv6, struct inet_address *addr);

#endif /* MUDUO_TESTS_NET_TEST_H */
