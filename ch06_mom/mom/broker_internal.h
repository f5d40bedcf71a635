/**
 * @file broker_internal.h
 * @brief The broker's own state, shared by its modules (shard, session,
 * commands); a program that runs a broker includes broker.h only.
 *
 * Threads: the broker is created, started and freed in its base loop's
 * thread. Each I/O loop owns one shard (shard.h) and the sessions of the
 * connections it serves. What several loops read or write is here, and
 * each field says how it is guarded: immutable after start, atomic, or
 * the interest table's own mutex.
 */
#ifndef MUDUO_MOM_BROKER_INTERNAL_H
#define MUDUO_MOM_BROKER_INTERNAL_H

#include "mom/broker.h"
#include "mom/config.h"
#include "mom/interest.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct peers;
struct shard;
struct tcp_conn;
struct tcp_server;
struct buffer;


/** @brief Counters of rare events that every loop adds to (relaxed
 * atomics: figures for INFO, not synchronisation). The counters of every
 * command and message are per loop (struct shard_counters). */
struct broker_counters {
    atomic_uint_fast64_t connections;   /**< Accepted, ever. */
    atomic_uint_fast64_t rejected;      /**< Refused: max clients. */
    atomic_uint_fast64_t spilled_bytes; /**< Written to spill files, ever. */
    atomic_uint_fast64_t dropped;       /**< Pushes lost to drop-oldest. */
    atomic_uint_fast64_t slow_closed;   /**< Closed by the disconnect policy. */
    atomic_int_fast64_t clients;        /**< Connected now. */
    atomic_int_fast64_t disk_bytes;     /**< In spill files now. */
    atomic_int_fast64_t pending;        /**< Sessions with output not
                                             yet written to their socket. */
};

/** @brief The broker. */
struct broker {
    /* Immutable after broker_start(). */
    const struct broker_config *config; /**< The caller's settings. */
    struct event_loop *loop;      /**< The base loop (accepts). */
    struct tcp_server *server;    /**< Listens, owns the connections. */
    struct shard *shards;         /**< One per I/O loop. */
    struct peers *peers;          /**< The other brokers of a mesh
                                       (thread-safe, see peers.h). */
    int shard_count;              /**< How many. */
    int64_t started_us;           /**< For INFO's uptime. */
    int port;                     /**< The port bound (INFO, CONFIG GET):
                                       read here, not from the acceptor,
                                       which is the base loop's. */
    char spill_prefix[64];        /**< Names of this broker's spill files. */

    /* Thread-safe. */
    struct interest interest;     /**< Who is interested in what. */
    struct broker_counters count; /**< Figures for INFO. */
    atomic_int shards_ready;      /**< Shards whose loop has started. */
    atomic_uint_fast64_t next_id; /**< Client ids, from 1. */
    atomic_bool stopping;         /**< New connections are turned away. */

    /* Base loop only. */
    uint64_t stop_timer;          /**< Polls the drain during a stop. */
    int64_t stop_deadline_us;     /**< When the drain gives up. */
    broker_stopped_fn *stopped;   /**< Told when the stop is done. */
    void *stopped_ctx;            /**< Its context. */
};

/* The connection callbacks of the broker (@p ctx is the broker), which
 * the peers' clients use for the connections they dial. */
/** @brief A connection came up or went down. */
void broker_connection(struct tcp_conn *conn, void *ctx);
/** @brief Input arrived. */
void broker_input(struct tcp_conn *conn, struct buffer *in,
                  int64_t receive_time_us, void *ctx);
/** @brief The output drained. */
void broker_write_complete(struct tcp_conn *conn, void *ctx);
/** @brief The output went over the high-water mark. */
void broker_high_water(struct tcp_conn *conn, size_t queued, void *ctx);

/* The spill files of subscribers and peers share the broker's caps and
 * its disk figures. */
struct spill;
/** @brief How many bytes a spill file holding @p held must lose for @p len
 * more to fit under both disk caps (its own and the broker's); 0 when
 * they fit already. */
uint64_t broker_disk_excess(struct broker *b, uint64_t held, size_t len);
/** @brief Drops the oldest droppable records of @p s until @p len more
 * bytes fit under both caps, as far as it can, and keeps the broker's
 * disk figure. @return how many records it dropped. */
uint64_t broker_spill_make_room(struct broker *b, struct spill *s,
                                size_t len);
/** @brief Appends a record to @p s (spill_append()) and counts its bytes
 * in the broker's figures. @return 0 or the error of spill_append(). */
int broker_spill_append(struct broker *b, struct spill *s, const void *data,
                        size_t len, bool droppable);

/** @brief The shard of @p loop, one of the broker's I/O loops. */
struct shard *broker_shard_of(struct broker *b, const struct event_loop *loop);

#endif /* MUDUO_MOM_BROKER_INTERNAL_H */
