/**
 * @file poller.h
 * @brief The interface between a loop and its demultiplexer (epoll or
 * poll), and the two backends.
 *
 * Contract
 * - A poller belongs to one loop and is used only in that loop's thread.
 * - It watches channels, not fds: it keeps its bookkeeping in
 *   channel->poller_slot (-1 when the channel is unknown to it) and never
 *   touches a channel after remove().
 * - poll() reports ready channels by storing their events in
 *   channel->revents and their pointers in the caller's array.
 * - Level-triggered: a channel that stays ready is reported again in the
 *   next round, so a batch cut short by a full array loses nothing.
 */
#ifndef MUDUO_NET_POLLER_H
#define MUDUO_NET_POLLER_H

struct channel;
struct poller;

/** @brief The operations every backend implements. */
struct poller_ops {
    const char *name; /**< "epoll" or "poll". */
    /** Waits up to @p timeout_ms (-1: forever) and stores at most @p max
     * ready channels in @p ready. Returns their number, or a negative
     * errno (-EINTR when a signal interrupted the wait). */
    int (*poll)(struct poller *p, int timeout_ms, struct channel **ready,
                int max);
    /** Applies ch->events: adds, modifies, or stops watching a channel
     * with no interest. Returns 0 or a negative errno. */
    int (*update)(struct poller *p, struct channel *ch);
    /** Forgets @p ch; a no-op for a channel it does not know. */
    void (*remove)(struct poller *p, struct channel *ch);
    /** Frees the poller; every channel must have been removed. */
    void (*free)(struct poller *p);
};

/** @brief The part of a poller that every backend embeds first. */
struct poller {
    const struct poller_ops *ops; /**< The backend. */
    int channels;                 /**< Channels it knows (for asserts). */
};

/** @brief Creates an epoll backend. @return NULL with errno set on error.
 */
struct poller *poller_epoll_new(void);

/** @brief Creates a poll(2) backend. @return NULL with errno set. */
struct poller *poller_poll_new(void);

#endif /* MUDUO_NET_POLLER_H */
