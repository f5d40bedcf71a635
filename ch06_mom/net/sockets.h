/**
 * @file sockets.h
 * @brief Thin wrappers of the socket system calls that the TCP classes use.
 *
 * Contract
 * - Every socket made here is non-blocking and close-on-exec from its
 *   first moment (SOCK_NONBLOCK | SOCK_CLOEXEC, accept4()), so no fd
 *   leaks into a child process and none can block the loop.
 * - Functions return 0 (or an fd) on success and a negative errno on
 *   failure; they never log, so the caller decides how loud a failure is.
 * - The caller owns every fd returned and closes it.
 * - Thread-safe (they only make system calls).
 */
#ifndef MUDUO_NET_SOCKETS_H
#define MUDUO_NET_SOCKETS_H

#include <stdbool.h>

#include "net/inet_address.h"

/** @brief A non-blocking, close-on-exec TCP socket of @p family.
 * @return the fd, or a negative errno. */
int sockets_create_nonblocking(int family);

/** @brief bind(2) to @p addr. @return 0 or a negative errno. */
int sockets_bind(int fd, const struct inet_address *addr);

/** @brief listen(2) with the system's maximum backlog. */
int sockets_listen(int fd);

/**
 * @brief Accepts one connection as a non-blocking, close-on-exec fd.
 * @param fd   the listening socket.
 * @param peer set to the peer's address when not NULL.
 * @return the new fd, or a negative errno (-EAGAIN when none is waiting).
 */
int sockets_accept(int fd, struct inet_address *peer);

/** @brief connect(2); on a non-blocking socket usually -EINPROGRESS. */
int sockets_connect(int fd, const struct inet_address *addr);

/** @brief shutdown(fd, SHUT_WR): sends FIN after the queued data. */
int sockets_shutdown_write(int fd);

/** @brief Sets SO_REUSEADDR. @return 0 or a negative errno. */
int sockets_set_reuse_addr(int fd, bool on);
/** @brief Sets SO_REUSEPORT. @return 0 or a negative errno. */
int sockets_set_reuse_port(int fd, bool on);
/** @brief Sets TCP_NODELAY (no Nagle delay). @return 0 or -errno. */
int sockets_set_tcp_nodelay(int fd, bool on);
/** @brief Sets SO_KEEPALIVE. @return 0 or a negative errno. */
int sockets_set_keepalive(int fd, bool on);

/** @brief The pending error of the socket (SO_ERROR), as a positive errno
 * or 0; reading it clears it. */
int sockets_get_error(int fd);

/** @brief The socket's own address. @return 0 or a negative errno. */
int sockets_local_address(int fd, struct inet_address *addr);
/** @brief The connected peer's address. @return 0 or a negative errno. */
int sockets_peer_address(int fd, struct inet_address *addr);

/**
 * @brief True when a connected socket is connected to itself: the same
 * address and port at both ends. This happens when a client connects to
 * a free port in the ephemeral range on its own machine (TCP simultaneous
 * open); chapter 5's connector checks for it and retries.
 */
bool sockets_is_self_connect(int fd);

#endif /* MUDUO_NET_SOCKETS_H */
