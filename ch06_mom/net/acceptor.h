/**
 * @file acceptor.h
 * @brief A listening socket in a loop: accepts connections and hands each
 * new fd to a callback.
 *
 * Contract
 * - Owns the listening fd and one spare fd (an open /dev/null, the "idle
 *   fd"); closes both in acceptor_free(). The fd passed to the callback
 *   belongs to the callback from then on.
 * - Loop thread only.
 * - When the process runs out of fds (EMFILE/ENFILE), a pending
 *   connection cannot be accepted, and under level triggering the listening
 *   socket would stay readable forever: a busy loop. The acceptor then
 *   closes its idle fd, accepts the connection with the freed slot, closes
 *   it at once (the client sees the connection closed), and reopens the
 *   idle fd: one connection per round, and only when one is waiting
 *   (accept() reports EMFILE even when none is). If even the idle fd is
 *   lost, it stops listening for ACCEPTOR_BACKOFF_US and tries again.
 *   Either way the loop never spins, and service resumes by itself when
 *   fds become free.
 * - acceptor_free() may be called from the acceptor's own callback.
 */
#ifndef MUDUO_NET_ACCEPTOR_H
#define MUDUO_NET_ACCEPTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "net/inet_address.h"

struct acceptor;
struct event_loop;

/** @brief Most connections accepted per readiness event. */
#define ACCEPTOR_BATCH 64
/** @brief Pause before listening again when no fd at all is left. */
#define ACCEPTOR_BACKOFF_US 100000

/**
 * @brief A new connection: @p fd (non-blocking, close-on-exec) is the
 * callback's to keep or close.
 */
typedef void acceptor_fn(struct acceptor *acceptor, int fd,
                         const struct inet_address *peer, void *ctx);

/**
 * @brief Creates a socket bound to @p addr (SO_REUSEADDR; SO_REUSEPORT
 * too when @p reuse_port). It does not listen yet.
 * @return the acceptor, or NULL with errno set (EADDRINUSE, ...).
 */
struct acceptor *acceptor_new(struct event_loop *loop,
                              const struct inet_address *addr,
                              bool reuse_port, acceptor_fn *fn, void *ctx);

/** @brief Starts listening and accepting. Idempotent.
 * @return 0 or a negative errno. */
int acceptor_listen(struct acceptor *acceptor);

/** @brief True once acceptor_listen() succeeded. */
bool acceptor_listening(const struct acceptor *acceptor);

/** @brief The bound address, with the real port when 0 was asked for. */
int acceptor_local_address(const struct acceptor *acceptor,
                           struct inet_address *addr);

/** @brief Connections closed at once because no fd was free. */
uint64_t acceptor_shed_count(const struct acceptor *acceptor);

/** @brief Stops accepting, closes both fds, frees the acceptor (after the
 * current batch of events, if called from its own callback). */
void acceptor_free(struct acceptor *acceptor);

#endif /* MUDUO_NET_ACCEPTOR_H */
