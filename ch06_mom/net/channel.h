/**
 * @file channel.h
 * @brief One file descriptor's interest set and event dispatch in one loop.
 *
 * Contract
 * - A channel binds one fd to one event loop. It never owns the fd: the
 *   object that embeds the channel opened the fd and closes it, after
 *   channel_remove() and channel_destroy().
 * - A channel is embedded in its owner (channel_init/channel_destroy); the
 *   owner recovers itself in a callback with container_of() or the ctx.
 * - Loop thread only: every function here must be called in the thread that
 *   runs the channel's loop; interest changes, remove and destroy assert it.
 * - Callbacks: once per ready event, in this order and under these rules
 *   (muduo's), each re-checked just before it is called, because an earlier
 *   callback of the same batch may have changed the interest or removed the
 *   channel:
 *   1. hang-up without readable data (POLLHUP, no POLLIN): close callback;
 *   2. error or invalid fd (POLLERR, POLLNVAL): error callback. An
 *      invalid fd (closed while still watched, which only poll(2)
 *      reports) is also logged, once: the channel then drops its interest;
 *   3. readable or priority data (POLLIN, POLLPRI) while reading is
 *      enabled: read callback, with the time at which the poller returned.
 *      A peer's half-close is readable too: read() returns 0. A hang-up
 *      that no close callback takes comes here as well, so that a channel
 *      that only reads sees the end of file instead of being woken by it
 *      in every round;
 *   4. writable (POLLOUT) while writing is enabled: write callback.
 *   Close and error callbacks need some interest enabled; a channel with
 *   none gets no callback at all. Hang-up interest alone
 *   (channel_enable_hang_up()) keeps a channel that neither reads nor
 *   writes listening for hang-ups and errors, and nothing else. Dropping interest during a batch forgets
 *   the events of that batch it covered, even if the interest comes back
 *   in the same batch; a channel removed during a batch gets no callback
 *   later in that batch.
 * - Lifetime: an owner must not free a channel while it is registered with
 *   its loop or while its event is being dispatched (both asserted in
 *   channel_destroy). Owners that may be closed from inside a callback defer
 *   their free with event_loop_queue().
 */
#ifndef MUDUO_NET_CHANNEL_H
#define MUDUO_NET_CHANNEL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

struct event_loop;
struct channel;

/** @brief No interest: the channel is known to the loop but not polled. */
#define CHANNEL_EVENT_NONE 0
/** @brief Interest in readability (normal and priority data). */
#define CHANNEL_EVENT_READ (POLLIN | POLLPRI)
/** @brief Interest in writability. */
#define CHANNEL_EVENT_WRITE POLLOUT
/** @brief Interest in hang-ups and errors. Every other interest includes
 * it (the pollers report both whatever is asked); on its own it keeps the
 * channel polled when it neither reads nor writes. */
#define CHANNEL_EVENT_HANG_UP POLLHUP

/**
 * @brief Read callback.
 * @param ch              the channel whose fd is readable.
 * @param receive_time_us when the poller returned (timestamp_mono_us()).
 * @param ctx             the ctx given to channel_init().
 */
typedef void channel_read_fn(struct channel *ch, int64_t receive_time_us,
                             void *ctx);

/** @brief Write, close and error callbacks. */
typedef void channel_event_fn(struct channel *ch, void *ctx);

/** @brief Takes or drops the owner's hold on itself (see channel_tie()). */
typedef void channel_tie_fn(void *ctx);

/** @brief One fd in one loop. Fields are private to channel.c, the loop
 * and the pollers; use the functions. */
struct channel {
    /* Immutable after channel_init(). */
    struct event_loop *loop; /**< The loop that polls this channel. */
    int fd;                  /**< Watched, never closed, by the channel. */
    void *ctx;               /**< Passed to every callback. */

    /* Loop thread only. */
    channel_read_fn *on_read;   /**< Readable; may be NULL. */
    channel_event_fn *on_write; /**< Writable; may be NULL. */
    channel_event_fn *on_close; /**< Hang-up; may be NULL. */
    channel_event_fn *on_error; /**< Error; may be NULL. */
    channel_tie_fn *hold;       /**< Before an event's callbacks; or NULL. */
    channel_tie_fn *release;    /**< After them; NULL when hold is. */
    int events;      /**< Interest set (CHANNEL_EVENT_* bits). */
    int revents;     /**< Events returned for the current batch. */
    int poller_slot; /**< The poller's bookkeeping; -1 when unknown to it. */
    int active_slot; /**< Index in the loop's ready list; -1 when none. */
};

/**
 * @brief Initialises @p ch for @p fd in @p loop with no interest.
 *
 * The fd is not polled until reading or writing is enabled.
 */
void channel_init(struct channel *ch, struct event_loop *loop, int fd,
                  void *ctx);

/**
 * @brief Ends the life of @p ch. Asserts that it was removed from its loop
 * (or never enabled) and is not being dispatched right now.
 */
void channel_destroy(struct channel *ch);

/** @brief Sets the read callback. */
void channel_set_read_fn(struct channel *ch, channel_read_fn *fn);
/** @brief Sets the write callback. */
void channel_set_write_fn(struct channel *ch, channel_event_fn *fn);
/** @brief Sets the close (hang-up) callback. */
void channel_set_close_fn(struct channel *ch, channel_event_fn *fn);
/** @brief Sets the error callback. */
void channel_set_error_fn(struct channel *ch, channel_event_fn *fn);

/**
 * @brief Ties the owner's life to each dispatch: @p hold(ctx) runs before
 * the callbacks of every event and @p release(ctx) after them, so that an
 * owner kept by references outlives its own callbacks, even one that drops
 * every other reference to it. (muduo calls this Channel::tie.)
 */
void channel_tie(struct channel *ch, channel_tie_fn *hold,
                 channel_tie_fn *release);

/**
 * @brief Adds read interest.
 * @return 0, or a negative errno from the poller (for example -EPERM when
 * epoll cannot watch this kind of fd); on error the interest is unchanged.
 */
int channel_enable_reading(struct channel *ch);
/** @brief Drops read interest. @return 0 or a negative errno. */
int channel_disable_reading(struct channel *ch);
/** @brief Adds write interest. @return 0 or a negative errno. */
int channel_enable_writing(struct channel *ch);
/** @brief Drops write interest. @return 0 or a negative errno. */
int channel_disable_writing(struct channel *ch);
/** @brief Adds hang-up interest: the channel hears hang-ups and errors
 * even while it neither reads nor writes (a connection that stopped
 * reading still hears a reset). Dropped only by channel_disable_all().
 * @return 0 or a negative errno. */
int channel_enable_hang_up(struct channel *ch);
/** @brief Drops all interest; the fd stays known to the loop.
 * @return 0 or a negative errno. */
int channel_disable_all(struct channel *ch);

/** @brief True when read interest is enabled. */
bool channel_is_reading(const struct channel *ch);
/** @brief True when write interest is enabled. */
bool channel_is_writing(const struct channel *ch);
/** @brief True when no interest is enabled. */
bool channel_has_no_events(const struct channel *ch);

/**
 * @brief Forgets the channel in its loop: drops all interest and removes
 * it from the poller, and from the rest of the current batch.
 *
 * After this the owner may close the fd. Idempotent.
 */
void channel_remove(struct channel *ch);

/**
 * @brief Dispatches the events in ch->revents to the callbacks, following
 * the rules in the contract above. Called by the loop.
 */
void channel_handle_event(struct channel *ch, int64_t receive_time_us);

/** @brief A readable rendering of an event set, e.g. "IN HUP", for logs;
 * names that do not fit in @p len are left out whole. @return @p buf. */
const char *channel_events_to_string(int events, char *buf, int len);

#endif /* MUDUO_NET_CHANNEL_H */
