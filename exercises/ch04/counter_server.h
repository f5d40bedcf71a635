/**
 * @file counter_server.h
 * @brief A counter service sharded by I/O loop: each loop counts what its
 * own connections add, with no lock, and a read adds up the counts of
 * every loop by visiting each loop in its own thread.
 *
 * Protocol: lines ending in '\n', at most COUNTER_LINE_MAX bytes before it.
 * - `add KEY N` adds N (a decimal integer, |N| <= COUNTER_MAX_DELTA) to
 *   counter KEY. There is no reply: adds are sent and forgotten, as with
 *   statsd-style counters.
 * - `get KEY` is answered with `TOTAL\n`: KEY's count summed over every
 *   I/O loop, 0 for a key never added to. Totals are 64-bit and wrap.
 * - KEY is 1 to COUNTER_KEY_MAX bytes, with no space. Any other line, or
 *   a line longer than COUNTER_LINE_MAX, closes the connection.
 *
 * Guarantees
 * - A get counts every add read before it on its own connection, and no
 *   add read after it there.
 * - Totals only move forward in time: an add that a reply has counted is
 *   counted by every get that arrives after that reply was sent, on any
 *   connection.
 * - The replies of one connection come in the order of its gets.
 * - Each I/O loop holds at most COUNTER_MAX_KEYS keys; an add of a new key
 *   to a loop that is full is dropped, and counted
 *   (counter_server_dropped_adds()).
 *
 * Threads and ownership
 * - The server owns a tcp_server on the base loop given to
 *   counter_server_new(), with @p io_threads I/O loops: the base loop
 *   only accepts, every connection lives in an I/O loop.
 * - The counts of a loop (its shard) are touched only in that loop's
 *   thread. A get reads the other shards by visiting their loops, never
 *   by reading another thread's memory.
 * - counter_server_new(), _start(), _listen_address() and _free(): the
 *   base loop's thread only. counter_server_dropped_adds(): thread-safe.
 * - counter_server_free() closes every connection and stops the I/O
 *   threads; gets still in flight are dropped, unanswered. It returns
 *   when nothing of the server runs any more.
 */
#ifndef EXERCISES_CH04_COUNTER_SERVER_H
#define EXERCISES_CH04_COUNTER_SERVER_H

#include <stdint.h>

#include "net/inet_address.h"

struct event_loop;
struct counter_server;

/** @brief Longest line, without its '\n'. */
#define COUNTER_LINE_MAX 128
/** @brief Longest key. */
#define COUNTER_KEY_MAX 32
/** @brief Most keys one I/O loop counts. */
#define COUNTER_MAX_KEYS 256
/** @brief Largest amount one add may add (or, negative, take away). */
#define COUNTER_MAX_DELTA 1000000000LL
/** @brief Most I/O threads. */
#define COUNTER_MAX_IO_THREADS 64

/**
 * @brief Creates a server bound to @p listen_addr (port 0: any free port)
 * with @p io_threads I/O loops (1 to COUNTER_MAX_IO_THREADS). It accepts
 * once started.
 * @return the server, or NULL with errno set (EINVAL, ENOMEM, or the error
 * of tcp_server_new()).
 */
struct counter_server *
counter_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr, int io_threads);

/** @brief Starts the I/O threads and listening.
 * @return 0 or a negative errno. */
int counter_server_start(struct counter_server *server);

/** @brief The address it listens on, with the real port.
 * @return 0 or a negative errno. */
int counter_server_listen_address(const struct counter_server *server,
                                  struct inet_address *addr);

/** @brief Adds dropped because their loop already held COUNTER_MAX_KEYS
 * keys. Thread-safe. */
uint64_t counter_server_dropped_adds(const struct counter_server *server);

/** @brief Closes every connection, stops the I/O threads, frees the
 * server (NULL is ignored). */
void counter_server_free(struct counter_server *server);

#endif /* EXERCISES_CH04_COUNTER_SERVER_H */
