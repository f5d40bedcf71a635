/**
 * @file chat_room.h
 * @brief Exercise 03.4: a chat room - every line a member sends goes to
 * every other member - that drops the members who do not keep up.
 *
 * Contract
 * - Every client that connects is a member, until its connection ends.
 * - A line is the bytes up to and including "\n", at most
 *   CHAT_ROOM_MAX_LINE of them. Each complete line a member sends is sent
 *   as it is to every other member present at that moment, never back to
 *   its sender. A line is sent whole, never mixed with another one, and
 *   the lines of one member arrive in the order it sent them. Bytes after
 *   a member's last "\n" wait for the rest of their line.
 * - A member that sends a line longer than CHAT_ROOM_MAX_LINE is
 *   disconnected as soon as that is certain (without waiting for its
 *   "\n"), and nothing of that line is sent.
 * - A member that does not read is dropped (force-closed: what was queued
 *   for it is lost) as soon as more than max_queued bytes wait in the
 *   server for it, so that one slow reader neither holds up the others
 *   nor makes the server's memory grow without end. The others keep
 *   receiving every line.
 * - chat_room_members() counts the members now; chat_room_dropped() the
 *   members dropped for not reading, since the room was created.
 * - The room owns its tcp_server and so its connections. Everything runs
 *   in the loop's thread.
 * - chat_room_free() may be called with members present: it closes their
 *   connections (their ends reach the clients once the loop runs again).
 */
#ifndef EXERCISES_CH03_CHAT_ROOM_H
#define EXERCISES_CH03_CHAT_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "net/event_loop.h"
#include "net/inet_address.h"

/** @brief Longest line, with its "\n". */
#define CHAT_ROOM_MAX_LINE 4096
/** @brief Output a member may leave unread, when chat_room_new() is
 * given 0. */
#define CHAT_ROOM_MAX_QUEUED ((size_t)1024 * 1024)

struct chat_room;

/**
 * @brief Creates a room whose server is bound to @p listen_addr (port 0:
 * any free port), dropping members that leave more than @p max_queued
 * bytes unread (0: CHAT_ROOM_MAX_QUEUED).
 * @return the room, or NULL with errno set: EINVAL when @p max_queued is
 * below CHAT_ROOM_MAX_LINE (one line would drop its reader), or the
 * error of tcp_server_new().
 */
struct chat_room *chat_room_new(struct event_loop *loop,
                                const struct inet_address *listen_addr,
                                size_t max_queued);

/** @brief Starts listening. @return 0 or a negative errno. */
int chat_room_start(struct chat_room *room);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int chat_room_listen_address(const struct chat_room *room,
                             struct inet_address *addr);

/** @brief Members now. */
size_t chat_room_members(const struct chat_room *room);

/** @brief Members dropped for not reading, since creation. */
uint64_t chat_room_dropped(const struct chat_room *room);

/** @brief Closes every member's connection and frees the room. NULL is a
 * no-op. */
void chat_room_free(struct chat_room *room);

#endif /* EXERCISES_CH03_CHAT_ROOM_H */
