/**
 * @file peer_commands.h
 * @brief The protocol between brokers: RESP arrays on the broker's normal
 * port, read by the same parser as a client's commands, so that a link
 * can be watched, and even driven, with redis-cli.
 *
 * | command | sent by | when |
 * |---|---|---|
 * | `PEER node epoch addr [password]` | the dialer | first |
 * | `PEER node epoch addr` | the acceptor | as the answer |
 * | `RSUB ch...` / `RUNSUB ch...` | both | a channel's local subscribers go 0->1 / 1->0 |
 * | `RPSUB pat...` / `RPUNSUB pat...` | both | the same for a pattern |
 * | `RSYNC` | both | after the full set that follows each handshake |
 * | `RPUB channel payload` | both | a local PUBLISH that the peer wants |
 * | `PEERS addr...` | both | a link came up: gossip |
 * | `PING` | both | every heartbeat interval |
 *
 * Only PEER is answered (by PEER, or by an error before the connection
 * closes: `-WRONGPASS ...`, `-ERR PEER refused: ...`). On a link nothing
 * else is answered, except an error (a command that is not a peer
 * command, a wrong number of arguments, a bad address), after which the
 * link is closed. The peer commands sent by an ordinary client get
 * `-ERR 'name' is a peer command: send PEER first`, with the name in
 * lower case; its connection stays.
 *
 * Contract: the session's loop thread only. The encoders write into a
 * buffer the caller owns.
 */
#ifndef MUDUO_MOM_PEER_COMMANDS_H
#define MUDUO_MOM_PEER_COMMANDS_H

#include "mom/request.h"
#include "net/buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reply;
struct session;

/** @brief Appends the header of a command of @p verb and @p args more
 * arguments: `*<args+1>` and the verb as a bulk string. */
void peer_command_begin(struct buffer *out, const char *verb, size_t args);
/** @brief Appends one argument, a bulk string. */
void peer_command_arg(struct buffer *out, const char *arg);
/** @brief Appends `PEER node epoch addr [password]`. */
void peer_command_hello(struct buffer *out, const char *node, uint64_t epoch,
                        const char *addr, const char *password);
/** @brief Bytes of `RPUB channel payload` on the wire (INFO counts the
 * same on both ends of a link). */
size_t peer_command_rpub_size(size_t channel_len, size_t payload_len);
/** @brief The length of the first command in @p data, which holds whole
 * commands of this broker's own encoding (RPUB batches). */
size_t peer_command_size(const char *data, size_t len);
/** @brief The length of the bulk string at @p at (`$<n>\r\n...\r\n`), of
 * this broker's own encoding. */
size_t peer_command_bulk_size(const char *at);
/** @brief Appends `RPUB channel payload`. */
void peer_command_rpub(struct buffer *out, const char *channel,
                       size_t channel_len, const char *payload,
                       size_t payload_len);

/** @brief Whether @p name is one of the commands only a link may send. */
bool peer_command_is_link_only(const struct request_arg *name);
/** @brief PEER sent on an ordinary connection: checks the password, then
 * tries the handshake (peers_handshake()); writes an error into @p r on
 * failure, and the connection closes after it. */
void peer_command_accept(struct session *s, const struct request *req,
                         struct reply *r);
/** @brief Runs a request that arrived on a link, or on a connection that
 * we dialed and that waits for the answer to its PEER. */
void peer_command_execute(struct session *s, const struct request *req,
                          struct reply *r);

#endif /* MUDUO_MOM_PEER_COMMANDS_H */
