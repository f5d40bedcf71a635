/**
 * @file event_loop_internal.h
 * @brief The loop's functions for the library's own modules: how a channel
 * reaches the poller, and the loop's read buffer. Not part of the API;
 * users never include it.
 *
 * Contract
 * - Loop thread only, like the channels these calls are about.
 * - channel.c applies every interest change through
 *   event_loop_update_channel() and every removal through
 *   event_loop_remove_channel(), so the poller and the current batch
 *   always agree with the channel.
 */
#ifndef MUDUO_NET_EVENT_LOOP_INTERNAL_H
#define MUDUO_NET_EVENT_LOOP_INTERNAL_H

#include <stdbool.h>

#include "net/event_loop.h"

struct buffer;
struct channel;

/** @brief Adds, modifies or detaches @p ch in the poller after its
 * interest changed. @return 0 or a negative errno. */
int event_loop_update_channel(struct event_loop *loop, struct channel *ch);

/** @brief Removes @p ch from the poller and from the current batch. */
void event_loop_remove_channel(struct event_loop *loop, struct channel *ch);

/** @brief True while @p ch's event is being dispatched. */
bool event_loop_is_dispatching(const struct event_loop *loop,
                               const struct channel *ch);

/**
 * @brief The loop's read buffer: empty, with at least BUFFER_READ_EXTRA
 * bytes of room, or NULL when that room cannot be had (ENOMEM). A
 * connection with no input pending borrows it for one read and gives it
 * back empty (see tcp_conn.c): one buffer per loop, reused for every read,
 * stays in the cache, where each connection's own would not.
 */
struct buffer *event_loop_read_buffer(struct event_loop *loop);

#endif /* MUDUO_NET_EVENT_LOOP_INTERNAL_H */
