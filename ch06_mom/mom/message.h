/**
 * @file message.h
 * @brief A published message, encoded once as the push its subscribers
 * receive, and shared by all of them.
 *
 * PUBLISH news hello reaches a subscriber of `news` as
 * `*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n`, and a subscriber
 * of the pattern `n*` as the same with `pmessage` and the pattern before
 * the channel. Those bytes are the same for every subscriber of the
 * channel (or of one pattern), so the broker builds them once per publish
 * (and once per matching pattern) and hands out references.
 *
 * Contract
 * - message_new_*() returns a message with one reference, owned by the
 *   caller. message_ref/unref are thread-safe (an atomic count): loops
 *   share a message, and the last unref frees it.
 * - The bytes never change after creation, so any thread holding a
 *   reference may read them.
 */
#ifndef MUDUO_MOM_MESSAGE_H
#define MUDUO_MOM_MESSAGE_H

#include <stdatomic.h>
#include <stddef.h>

/** @brief The kind of push, which names its first element. */
enum message_kind {
    MESSAGE_CHANNEL, /**< `message` channel payload */
    MESSAGE_PATTERN, /**< `pmessage` pattern channel payload */
    MESSAGE_SHARD,   /**< `smessage` channel payload */
};

/** @brief An encoded push. */
struct message {
    atomic_uint refs;       /**< References held. */
    enum message_kind kind; /**< Which push. */
    size_t topic_off; /**< Where the subscription's name starts in bytes:
                           the pattern of a pmessage, else the channel. */
    size_t topic_len; /**< Its length. */
    size_t len;       /**< Bytes of the push. */
    char bytes[];     /**< The push, in RESP2. */
};

/** @brief Encodes a push. @p pattern is used (and required) only for
 * MESSAGE_PATTERN. @return NULL when memory ran out. */
struct message *message_new(enum message_kind kind, const char *pattern,
                            size_t pattern_len, const char *channel,
                            size_t channel_len, const char *payload,
                            size_t payload_len);
/** @brief Takes one more reference. */
void message_ref(struct message *m);
/** @brief Drops one reference; the last frees the message. NULL: no-op. */
void message_unref(struct message *m);

#endif /* MUDUO_MOM_MESSAGE_H */
