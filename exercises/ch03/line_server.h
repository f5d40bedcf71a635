/**
 * @file line_server.h
 * @brief Exercise 03.1: a server that speaks a small line protocol.
 *
 * The protocol. A client sends lines; each ends with "\n", and a "\r"
 * just before it is dropped, so "PING\r\n" is "PING". Every line gets one
 * reply line, in the order the lines came, even when many lines arrive in
 * one read or one line arrives in many:
 *
 * | line                 | reply                                         |
 * |----------------------|-----------------------------------------------|
 * | `PING`               | `+PONG`                                       |
 * | `ECHO <text>`        | `+<text>`, the text after the first space     |
 * | `ECHO`               | `+`                                           |
 * | `QUIT`               | `+BYE`, then the server closes the connection |
 * | anything else        | `-ERR unknown command` (the connection stays) |
 * | longer than the max. | `-ERR line too long`, then the close          |
 *
 * Commands are upper case and matched exactly. Replies end with "\n".
 *
 * Contract
 * - The maximum line length counts the line with its "\n" (and "\r").
 *   A line that long is served; one byte more is refused, and that is
 *   known as soon as that many bytes have arrived without a "\n": the
 *   server never waits for the end of a line it will refuse, so a client
 *   cannot make it hold on to a longer line.
 * - Closing after `QUIT` or a refused line is graceful: the reply and
 *   every reply before it reach the client, then end of file (not a
 *   reset). Lines that come after are read and ignored.
 * - The server owns its tcp_server and therefore its connections.
 *   Everything runs in the loop's thread.
 * - line_server_free() may be called with connections open: it closes
 *   them (their ends reach the clients once the loop runs again).
 */
#ifndef EXERCISES_CH03_LINE_SERVER_H
#define EXERCISES_CH03_LINE_SERVER_H

#include <stddef.h>

#include "net/event_loop.h"
#include "net/inet_address.h"

/** @brief Longest line, with its end, when line_server_new() is given 0. */
#define LINE_SERVER_MAX_LINE 1024
/** @brief Shortest maximum accepted: room for "QUIT\r\n" and a little. */
#define LINE_SERVER_MIN_LINE 8

struct line_server;

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port),
 * refusing lines longer than @p max_line bytes (0: LINE_SERVER_MAX_LINE).
 * @return the server, or NULL with errno set: EINVAL when @p max_line is
 * below LINE_SERVER_MIN_LINE, or the error of tcp_server_new().
 */
struct line_server *line_server_new(struct event_loop *loop,
                                    const struct inet_address *listen_addr,
                                    size_t max_line);

/** @brief Starts listening. @return 0 or a negative errno. */
int line_server_start(struct line_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int line_server_listen_address(const struct line_server *server,
                               struct inet_address *addr);

/** @brief Closes every connection and frees the server. NULL is a no-op. */
void line_server_free(struct line_server *server);

#endif /* EXERCISES_CH03_LINE_SERVER_H */
