/**
 * @file session.h
 * @brief One client of the broker: its connection, its request parser, its
 * subscriptions, and the path of its output to the socket, through a spill
 * file when it reads too slowly.
 *
 * Output path. Replies and pushes are appended to the session's staging
 * buffer (one copy) and written at the end of the batch (shard_flush), one
 * write for all of them. While the bytes waiting for this client, staged
 * plus queued in the connection, stay under the memory limit, that is
 * all. Past it, everything the client would be sent goes, in order, to
 * its own spill file instead; when the connection has written all it had
 * (write-complete), the next chunk of the file is handed to it; when the
 * file is empty it is removed and the client is back in memory. Replies
 * follow the same path as pushes, so a client reads everything in the
 * order it was produced.
 *
 * Caps. The file may hold at most the per-client disk cap, and all files
 * together the broker's disk cap. At a cap, or when a write to the file
 * fails (a full disk), the broker's policy applies: disconnect the client
 * (logged), or drop its oldest pushes (counted; a reply is never dropped:
 * if only replies are left to drop, the client is disconnected).
 *
 * Contract: a session is created and freed in its connection's loop by
 * the broker's connection callback, and used only in that thread.
 */
#ifndef MUDUO_MOM_SESSION_H
#define MUDUO_MOM_SESSION_H

#include "base/list.h"
#include "mom/dict.h"
#include "mom/interest.h"
#include "mom/request.h"
#include "net/buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct peer;
struct shard;
struct spill;
struct tcp_conn;

/** @brief Most bytes of a spill file handed to the connection at once. */
#define SESSION_DRAIN_CHUNK ((size_t)256 * 1024)

/** @brief A client. */
struct session {
    struct shard *shard;      /**< Its loop's shard. */
    struct tcp_conn *conn;    /**< Its connection (a reference). */
    uint64_t id;              /**< CLIENT ID. */
    struct request_parser parser; /**< Reads its requests. */
    struct dict subs[INTEREST_KINDS]; /**< name -> struct subscription */
    struct list_node order[INTEREST_KINDS]; /**< Subscriptions, oldest first. */
    bool authenticated;       /**< AUTH done, or no password set. */
    char *name;               /**< CLIENT SETNAME, or NULL. */
    struct buffer out;        /**< Staged output of this batch. */
    struct list_node dirty_node; /**< In the shard's dirty list. */
    struct spill *spill;      /**< Its spill file while it has one. */
    uint64_t spill_seq;       /**< Files made so far (for their names). */
    bool pending;             /**< Counted in the broker's pending. */
    bool deferred;            /**< Its input waits behind hand-offs. */
    bool close_after_reply;   /**< QUIT or an error: close once written. */
    struct peer *peer;        /**< The peer broker this connection is for
                                   (a link, or a connection we dialed), or
                                   NULL for a client. */
    bool link;                /**< The PEER handshake succeeded: a link. */
    bool closing;             /**< Being closed: nothing more is sent. */
};

/** @brief A session for @p conn (it takes a reference). @return NULL when
 * memory ran out. */
struct session *session_new(struct shard *sh, struct tcp_conn *conn);
/** @brief Ends every subscription, removes the spill file, drops the
 * connection reference and frees. */
void session_free(struct session *s);

/** @brief Channels plus patterns (the count in (P)SUBSCRIBE replies). */
size_t session_subscriptions(const struct session *s);
/** @brief Shard channels (the count in SSUBSCRIBE replies). */
size_t session_shard_subscriptions(const struct session *s);
/** @brief Whether the client is in subscribed context: any of the three. */
bool session_subscribed(const struct session *s);

/** @brief Queues @p len bytes for the client, in order, in memory or in
 * its spill file. A push is @p droppable; a reply is not. */
void session_output(struct session *s, const void *data, size_t len,
                    bool droppable);
/** @brief Writes the staged output (end of batch), then what the spill
 * file can give. */
void session_flush(struct session *s);
/** @brief The connection wrote all it had: feed it from the spill file,
 * or finish a close after reply. */
void session_write_complete(struct session *s);
/** @brief Closes the client now (after this batch), logging @p why;
 * nothing more is sent. */
void session_kill(struct session *s, const char *why);

#endif /* MUDUO_MOM_SESSION_H */
