/**
 * @file peer_backlog.h
 * @brief What a peer broker could not take yet: the RPUB commands for it,
 * kept in order in a spill file (spill.h) while its link is down (within
 * the grace period) or congested (its output over the high-water mark),
 * and handed to the link chunk by chunk once it can take them.
 *
 * While a backlog holds anything, every new message for the peer goes to
 * its end too, so the peer gets everything in publish order. The caps of
 * the subscribers' spill files apply: `--sub-disk-cap` to each backlog,
 * `--disk-cap` to all files together; at a cap `--policy drop-oldest`
 * drops the oldest records to make room, and otherwise the new messages
 * are dropped. Every drop is counted in the peer's `dropped`.
 *
 * Contract: called with the peers' mutex held (peers.h), which guards
 * the peer's backlog fields.
 */
#ifndef MUDUO_MOM_PEER_BACKLOG_H
#define MUDUO_MOM_PEER_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>

struct peer;

/** @brief Appends @p len bytes holding @p count messages, creating the
 * file on the first use. */
void peer_backlog_append(struct peer *p, const void *data, size_t len,
                         size_t count);
/** @brief In the link's loop: hands the link the next chunk (at most
 * PEERS_DRAIN_CHUNK), or, with nothing left, removes the file and lets
 * messages go straight to the link again (clears the peer's congested). */
void peer_backlog_drain(struct peer *p);
/** @brief Removes the file, counting what it held as dropped. */
void peer_backlog_drop(struct peer *p);
/** @brief Whether nothing waits. */
bool peer_backlog_empty(const struct peer *p);

#endif /* MUDUO_MOM_PEER_BACKLOG_H */
