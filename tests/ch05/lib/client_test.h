/*
 * Helpers for the client suites (chapter 5 on): a loopback port that
 * refuses (or, once listening, accepts), and running a loop for a while.
 */
#ifndef MUDUO_TESTS_CLIENT_TEST_H
#define MUDUO_TESTS_CLIENT_TEST_H

#include "net/event_loop.h"
#include "net/inet_address.h"

#include <stdbool.h>
#include <stdint.h>

/* A socket bound to a free 127.0.0.1 port (any port the kernel picks: of
 * the ephemeral range), its address in *addr; listening or not. A
 * connect to a bound socket that does not listen is refused, and nobody
 * else can take the port meanwhile. Fails the test on error. */
int bound_socket(struct inet_address *addr, bool listening);

/* Runs the loop for about @p us: for checking that nothing happens. */
void run_loop_for(struct event_loop *loop, int64_t us);

#endif /* MUDUO_TESTS_CLIENT_TEST_H */
