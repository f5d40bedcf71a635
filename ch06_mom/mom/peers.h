/**
 * @file peers.h
 * @brief Brokers in a mesh: the links to the other brokers (peers), what
 * each of them wants, and the messages on their way to them.
 *
 * A link is an ordinary connection to the broker's port, with a session
 * like a client's; it becomes a link when the PEER handshake succeeds
 * (peer_commands.h has the protocol). For each pair of brokers the lower
 * address (IPv4 as a number, then the port) dials the higher, with chapter
 * 5's tcp_client and its backoff. A broker named with `--peer` whose
 * address is lower than ours is sent an introduction: a PEER that it
 * refuses, after which it dials us.
 *
 * Interest. Whenever a local channel or pattern gets its first subscriber
 * or loses its last (interest.h notes it), the base loop tells every linked
 * peer (RSUB, RUNSUB, RPSUB, RPUNSUB); a new link gets the full set, then
 * RSYNC. What the peers want lives in the interest table, so that a
 * publish's plan names the peers to forward to (shard.h collects their
 * RPUB commands, peers_forward() sends them at the end of the batch).
 *
 * Failures. A heartbeat PING goes on every link each interval; a link
 * silent for PEERS_SILENT_BEATS intervals is closed, and its dialer dials
 * again. A peer whose link is lost keeps its interest for the grace
 * period, its messages going to a spill file (the caps of the subscribers'
 * spill files apply); they are replayed, in order, if it comes back with
 * the same boot epoch, dropped if it comes back with a new one (it
 * restarted: its subscribers are new) or when the grace ends. A handshake
 * with a newer epoch replaces a link that still looks alive.
 *
 * Files: peers.c holds the table, the links and the heartbeat;
 * peer_sync.c the interest sent and received; peer_backlog.h what waits
 * for a peer; peer_commands.h the protocol.
 *
 * Contract
 * - The table of peers is guarded by one mutex. Lock order: this mutex,
 *   then the interest table's (which never calls out), then a loop's
 *   queue (tcp_conn_send from another thread). Nothing else is called
 *   with it held, and no callback runs under it.
 * - peers_new, peers_start, peers_stop and peers_free run in the base
 *   loop's thread, as broker_* do; the rest are called from the I/O loops
 *   (in the thread of the session they name) and are thread-safe.
 * - A peer's record lives until peers_free(); its index, 0..PEERS_MAX-1,
 *   is its bit in the interest table's masks.
 */
#ifndef MUDUO_MOM_PEERS_H
#define MUDUO_MOM_PEERS_H

#include "mom/config.h"
#include "mom/interest.h"
#include "mom/request.h"
#include "net/buffer.h"
#include "net/inet_address.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct session;
struct spill;
struct tcp_client;
struct tcp_conn;

/** @brief Most peers a broker knows (links grow as n(n-1)/2 in a mesh:
 * this is far more than a mesh should hold). */
#define PEERS_MAX 32
/** @brief Room for "255.255.255.255:65535" and its NUL. */
#define PEERS_ADDR_MAX 24
/** @brief Heartbeat intervals of silence after which a link is closed. */
#define PEERS_SILENT_BEATS 3
/** @brief First wait, in microseconds, before dialing a peer again. */
#define PEERS_RETRY_MIN_US ((int64_t)100 * 1000)
/** @brief Longest wait, in microseconds, between two dials: short, so that
 * a broker that restarts is found again within a couple of seconds. */
#define PEERS_RETRY_MAX_US ((int64_t)2000 * 1000)
/** @brief Most names in one RSUB, RUNSUB, RPSUB or RPUNSUB: a link needs
 * a --max-multibulk of at least one more. */
#define PEERS_NAMES_PER_COMMAND 100
/** @brief Most bytes of a spill file sent to a link at once. */
#define PEERS_DRAIN_CHUNK ((size_t)256 * 1024)

static_assert(PEERS_MAX <= INTEREST_MAX_PEERS, "a bit per peer");

/** @brief Where a peer stands. */
enum peer_state {
    PEER_CONNECTING, /**< No link, nothing kept for it. */
    PEER_UP,         /**< Linked: the handshake succeeded. */
    PEER_DOWN,       /**< Its link was lost: within the grace period its
                          interest is kept and its messages spill. */
};

/** @brief Counters of one peer (relaxed atomics, for INFO). */
struct peer_counters {
    atomic_uint_fast64_t msgs_in;   /**< RPUB received from it. */
    atomic_uint_fast64_t bytes_in;  /**< Their payload bytes. */
    atomic_uint_fast64_t msgs_out;  /**< RPUB sent or spilled to it. */
    atomic_uint_fast64_t bytes_out; /**< Their bytes on the wire. */
    atomic_uint_fast64_t dropped;   /**< RPUB for it that were dropped. */
    atomic_uint_fast64_t links;     /**< Handshakes that succeeded. */
};

/** @brief Another broker. Guarded by the table's mutex, except what says
 * otherwise. */
struct peer {
    struct peers *owner;        /**< Immutable. */
    int index;                  /**< Immutable: its bit in masks. */
    struct inet_address addr;   /**< Immutable: where it listens. */
    char addr_text[PEERS_ADDR_MAX]; /**< Immutable: the same, as text. */
    bool named;                 /**< Given with --peer. Immutable. */
    struct tcp_client *client;  /**< Dials it (or introduces us), or NULL.
                                     Immutable once set. */
    bool we_dial;               /**< Ours is the lower address. Immutable. */
    char node[CONFIG_NODE_NAME_MAX + 1]; /**< Its name, "" until known. */
    uint64_t epoch;             /**< Its boot epoch, 0 until known. */
    enum peer_state state;      /**< See enum peer_state. */
    struct tcp_conn *link;      /**< The link (a reference) while UP. */
    struct tcp_conn *dialing;   /**< A dialed connection waiting for its
                                     handshake's answer (a reference). */
    int64_t dialing_since_us;   /**< Since when (monotonic). */
    atomic_int_fast64_t last_input_us; /**< Last input on the link
                                     (monotonic); its loop writes it. */
    bool synced;                /**< It was sent the full set. */
    bool congested;             /**< The link's output is over the mark:
                                     messages go to the spill file. */
    int inflight;               /**< Batches sent to the link's loop and
                                     not yet written to the link. */
    int64_t down_since_us;      /**< When the link was lost (DOWN). */
    int64_t redial_at_us;       /**< After a refusal, when the heartbeat
                                     dials again (0: not waiting). */
    bool idle;                  /**< Learned from gossip and gone past its
                                     grace: not dialed until heard of again. */
    struct spill *backlog;      /**< Messages it could not take yet. */
    uint64_t backlog_seq;       /**< Files made so far (their names). */
    struct peer_counters count; /**< For INFO. */
};

/** @brief The broker's peers. Fields are private. */
struct peers {
    pthread_mutex_t mu;         /**< Guards the table. */
    struct broker *broker;      /**< Immutable. */
    struct inet_address self;   /**< Immutable: our address. */
    char self_text[PEERS_ADDR_MAX]; /**< The same, as text. */
    char node[CONFIG_NODE_NAME_MAX + 1]; /**< Immutable: our name. */
    uint64_t epoch;             /**< Immutable: our boot epoch. */
    struct peer *list[PEERS_MAX]; /**< Known peers, in the order met. */
    int count;                  /**< How many. */
    bool stopped;               /**< peers_stop() ran: no more dialing. */
    atomic_bool sync_queued;    /**< sync_peers() is queued to the base
                                     loop. */
    bool orphaned;              /**< Freed while sync_peers() was queued:
                                     that call frees the rest. Base loop. */
    int64_t last_beat_us;       /**< When the heartbeat last ran. Base loop. */
    uint64_t heartbeat_timer;   /**< Base loop only. */
    struct buffer scratch;      /**< Guarded by mu: chunks, commands. */
};

/** @brief The peers of @p b, which has bound its port. @return NULL when
 * memory ran out. */
struct peers *peers_new(struct broker *b);
/** @brief Starts the heartbeat and dials (or introduces us to) the peers
 * of the configuration. The I/O loops must be running. @return 0 or
 * -errno. */
int peers_start(struct peers *ps);
/** @brief Stops the heartbeat and dialing, and frees the clients (their
 * connections close in their loops, which must be running); links that
 * peers dialed are the server's to close. Idempotent. */
void peers_stop(struct peers *ps);
/** @brief Frees the records and removes their spill files; every session
 * must be gone. The base loop must still run what it has queued (as
 * event_loop_free() does): a sync queued there finishes the free. NULL is
 * a no-op. */
void peers_free(struct peers *ps);

/** @brief Queues sync_peers() to the base loop, once however many ask:
 * it sends the changes of interest to the linked peers, and the full set
 * to a peer linked since the last one (peer_sync.c). A shard calls it when
 * interest_add/remove returned 1. */
void peers_queue_sync(struct peers *ps);

/**
 * @brief A handshake: the session @p s received `PEER node epoch addr`
 * (the password was checked). As the acceptor, it answers with our own
 * PEER; as the dialer, this was that answer.
 * @return 0, the session now being the peer's link; or -EPERM with the
 * error to send, before the connection closes, in @p why.
 */
int peers_handshake(struct peers *ps, struct session *s, const char *node,
                    uint64_t epoch, const struct inet_address *addr,
                    char *why, size_t why_len);
/** @brief RSUB, RUNSUB (@p kind INTEREST_CHANNEL) or RPSUB, RPUNSUB
 * (INTEREST_PATTERN) received on the link @p s: the peer wants @p names
 * (@p on) or no longer does. Ignored unless @p s is still the peer's
 * link. @return 0 or -ENOMEM. */
int peers_set_interest(struct peers *ps, struct session *s,
                       enum interest_kind kind, const struct request_arg *names,
                       size_t count, bool on);
/** @brief RSYNC received on the link @p s: the full set is complete, and
 * what it did not name is forgotten. */
void peers_sweep(struct peers *ps, struct session *s);
/** @brief Addresses received in a PEERS command: dial those we do not
 * know and ours is lower than. */
void peers_learn(struct peers *ps, const struct inet_address *addr);
/** @brief Sends the RPUB commands in @p out (@p count of them), collected
 * by a loop for peer @p index, or spills them; empties @p out. */
void peers_forward(struct peers *ps, int index, struct buffer *out,
                   size_t count);
/** @brief Our PEER on the dialed connection @p s was refused: dialing
 * waits PEERS_RETRY_MAX_US instead of starting again at once. */
void peers_refused(struct peers *ps, struct session *s);
/** @brief The session's connection wrote everything: a link drains its
 * spill file. */
void peers_write_complete(struct peers *ps, struct session *s);
/** @brief The link's output went over the high-water mark. */
void peers_high_water(struct peers *ps, struct session *s);
/** @brief Input arrived on a peer's connection (the heartbeat's clock). */
void peers_input(struct peers *ps, struct session *s);
/** @brief The session of a link, or of a dialed connection, is closing. */
void peers_closed(struct peers *ps, struct session *s);

/** @brief Appends the `# Peers` section of INFO to @p out. */
void peers_info(struct peers *ps, struct buffer *out);
/** @brief Compares two IPv4 addresses as (address, port).
 * @return <0, 0 or >0. */
int peers_address_cmp(const struct inet_address *a,
                      const struct inet_address *b);

#endif /* MUDUO_MOM_PEERS_H */
