/**
 * @file broker.h
 * @brief The message broker: a server that speaks the publish/subscribe
 * part of the Redis protocol (RESP2), so that redis-cli, redis-py, hiredis
 * and redis-benchmark are its clients.
 *
 * A broker listens on one address and spreads its connections over a
 * pool of I/O loops. A PUBLISH is encoded once and handed to every loop
 * that holds a subscriber (one hand-off per loop); a subscriber that reads
 * too slowly has its output moved to a spill file and loses nothing
 * within the configured caps (config.h).
 *
 * Contract
 * - broker_new, broker_start, broker_stop and broker_free are called in
 *   the thread of the base loop given to broker_new, which must be
 *   running (event_loop_run) for the broker to work.
 * - broker_free closes every connection, stops the I/O loops, removes the
 *   spill files and frees everything: no fd or file is left behind. With
 *   no I/O thread (`--threads 0`) the connections live in the base loop
 *   and close after its current batch, and the rest of the free follows
 *   them there: the base loop must then run what it has queued (it does
 *   as it goes on, and event_loop_free() runs what is left).
 * - Never prints; it logs through the library's logger.
 */
#ifndef MUDUO_MOM_BROKER_H
#define MUDUO_MOM_BROKER_H

#include <stdint.h>

/** @brief The Redis version whose behaviour the broker follows; reported
 * where clients look for a version (HELLO, INFO, momd --version). */
#define BROKER_REDIS_VERSION "7.0.15"
/** @brief The broker's own version. */
#define BROKER_VERSION "0.6.0"

struct broker;
struct broker_config;
struct event_loop;

/** @brief Told in the base loop's thread that a broker_stop() finished. */
typedef void broker_stopped_fn(struct broker *b, void *ctx);

/**
 * @brief A broker on @p loop with the settings of @p config, which must
 * outlive it.
 * It binds its address now, so that a taken port is an error here.
 * @return NULL with errno set: EINVAL for a bad setting, EADDRINUSE, ...
 */
struct broker *broker_new(struct event_loop *loop,
                          const struct broker_config *config);
/** @brief Starts the I/O loops and accepting; removes the spill files that
 * a broker on the same port left when it crashed. @return 0 or -errno. */
int broker_start(struct broker *b);
/** @brief The port it listens on (useful after port 0). */
int broker_port(const struct broker *b);
/**
 * @brief Stops gracefully: turns new connections away, gives the clients'
 * output (spill files included) until the configured shutdown timeout to
 * reach their sockets, then calls @p done. broker_free() follows.
 */
void broker_stop(struct broker *b, broker_stopped_fn *done, void *ctx);
/** @brief Frees the broker (see the contract). NULL is a no-op. */
void broker_free(struct broker *b);

#endif /* MUDUO_MOM_BROKER_H */
