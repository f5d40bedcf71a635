/**
 * @file config.h
 * @brief The broker's configuration: defaults, command-line options and
 * an optional config file, gathered into one struct broker_config.
 *
 * Sources apply in the order they are met, the last one winning: the
 * defaults (broker_config_init), then the command line from left to
 * right, where `--config FILE` reads the file at that point. So an
 * option given before `--config` is overridden by the file and one given
 * after it overrides the file. A repeatable option (`--retain`) adds to
 * what came before instead of replacing it.
 *
 * Command line: `--name value` or `--name=value`; `--help` and `--version`
 * take no value. A config file holds one option a line, as Redis's does:
 * `name value`, the name being the long option without its dashes
 * (`port 6380`, `retain news.*`). A line whose first non-blank character
 * is `#` is a comment; blank lines are skipped. A value with blanks is
 * written in double quotes, inside which a backslash makes the next
 * character stand for itself (`requirepass "two words"`, `"a\"b"`).
 * Option names match without regard to case, as in Redis.
 *
 * Values:
 * - sizes: a number of bytes, or a number followed by a unit as Redis
 *   reads its config (k = 1000, kb = 1024, m = 1000², mb = 1024²,
 *   g = 1000³, gb = 1024³, b = 1), the unit in any case;
 * - counts and milliseconds: a plain decimal number;
 * neither takes a sign, blanks, a fraction or another base, and each has
 * the range given in its option's help.
 *
 * Errors: the functions return 0 or a negative errno and write a message
 * for a person into the caller's buffer (CONFIG_ERROR_CAP is enough room;
 * a longer message is cut). A message names the option as it was written
 * (`--port: '70000' is not a port (1-65535, or 0 for any)`); one from a
 * file starts with the file and the line (`momd.conf:3: unknown option
 * 'prot'`). After an error the struct holds whatever was set before the
 * bad option: still valid to destroy, not meant to be used.
 *
 * Contract
 * - The struct is embedded: broker_config_init() then, whatever happens,
 *   broker_config_destroy(). Its strings and lists are owned by it.
 * - Nothing here prints, except broker_config_usage(), which writes the
 *   help text to the stream it is given. Not thread-safe: one thread reads
 *   the configuration at start-up, then hands copies of the values out.
 */
#ifndef MUDUO_MOM_CONFIG_H
#define MUDUO_MOM_CONFIG_H

#include "mom/request.h"
#include "net/inet_address.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** @brief What the broker does with a subscriber whose pending output is
 * over its memory limit and its disk cap. */
enum broker_policy {
    BROKER_POLICY_DISCONNECT,  /**< Closes the subscriber's connection. */
    BROKER_POLICY_DROP_OLDEST, /**< Drops its oldest pending messages. */
};

/** @brief Default listening address. */
#define CONFIG_DEFAULT_BIND "127.0.0.1"
/** @brief Default TCP port (next to Redis's 6379). */
#define CONFIG_DEFAULT_PORT 6380
/** @brief Highest TCP port. */
#define CONFIG_MAX_PORT 65535
/** @brief Default number of I/O loops besides the main loop. */
#define CONFIG_DEFAULT_THREADS 2
/** @brief Most I/O loops. */
#define CONFIG_MAX_THREADS 64
/** @brief Spill folder when the environment has no (or an empty) TMPDIR. */
#define CONFIG_DEFAULT_SPILL_DIR "/tmp"
/** @brief Default most clients connected at once (Redis's maxclients). */
#define CONFIG_DEFAULT_MAX_CLIENTS ((uint64_t)10000)
/** @brief Default longest bulk string of a request. */
#define CONFIG_DEFAULT_MAX_BULK ((uint64_t)REQUEST_MAX_BULK)
/** @brief Default most arguments of a request. */
#define CONFIG_DEFAULT_MAX_MULTIBULK ((uint64_t)REQUEST_MAX_MULTIBULK)
/** @brief Default longest inline request or header line. */
#define CONFIG_DEFAULT_MAX_INLINE ((uint64_t)REQUEST_MAX_INLINE)
/** @brief Default most unparsed input of one client (Redis's
 * client-query-buffer-limit). */
#define CONFIG_DEFAULT_QUERY_BUFFER_LIMIT ((uint64_t)1024 * 1024 * 1024)
/** @brief Default output of one subscriber held in memory before the
 * rest goes to its spill file: Redis's soft limit for pub/sub clients
 * (client-output-buffer-limit pubsub 32mb 8mb 60), so that a subscriber
 * that Redis would keep in memory stays in memory here too. */
#define CONFIG_DEFAULT_SUB_MEMORY_LIMIT ((uint64_t)8 * 1024 * 1024)
/** @brief Default most bytes in one subscriber's spill file. */
#define CONFIG_DEFAULT_SUB_DISK_CAP ((uint64_t)1024 * 1024 * 1024)
/** @brief Default most bytes in all spill files together. */
#define CONFIG_DEFAULT_DISK_CAP ((uint64_t)4 * 1024 * 1024 * 1024)
/** @brief Default policy for a subscriber over its limits. */
#define CONFIG_DEFAULT_POLICY BROKER_POLICY_DISCONNECT
/** @brief Default time, in ms, that a shutdown waits for output to
 * drain before closing the connections. */
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS ((uint64_t)2000)
/** @brief Default interval, in ms, of the heartbeat on links to peers. */
#define CONFIG_DEFAULT_PEER_HEARTBEAT_MS ((uint64_t)2000)
/** @brief Shortest heartbeat interval, in ms. */
#define CONFIG_MIN_PEER_HEARTBEAT_MS ((uint64_t)10)
/** @brief Default time, in ms, that a peer whose link was lost keeps its
 * interest here, its messages spilling until it comes back. */
#define CONFIG_DEFAULT_PEER_GRACE_MS ((uint64_t)60000)
/** @brief Longest node name, without the NUL. */
#define CONFIG_NODE_NAME_MAX 63
/** @brief Largest size: every size fits an off_t and a long long. */
#define CONFIG_MAX_SIZE ((uint64_t)INT64_MAX)
/** @brief Largest count (clients, arguments, milliseconds): each ends up
 * in an int (a file descriptor, Redis's argument count, a poll timeout). */
#define CONFIG_MAX_COUNT ((uint64_t)INT32_MAX)
/** @brief Room for any error message with its NUL; a longer one (a very
 * long value quoted back) is cut. */
#define CONFIG_ERROR_CAP 512

/** @brief The broker's configuration; each field names its option. */
struct broker_config {
    /** @brief `--bind`: IPv4 address to listen on, dotted quad
     * (CONFIG_DEFAULT_BIND). */
    char bind[INET_ADDRSTRLEN];
    /** @brief `--port`: 1..CONFIG_MAX_PORT, or 0 for any free port
     * (CONFIG_DEFAULT_PORT). */
    int port;
    /** @brief `--threads`: I/O loops, 0..CONFIG_MAX_THREADS; 0 runs every
     * connection in the main loop (CONFIG_DEFAULT_THREADS). */
    int threads;
    /** @brief `--requirepass`: password clients send with AUTH; NULL
     * (the default, or an empty value) for none. Owned. */
    char *requirepass;
    /** @brief `--spill-dir`: folder of the subscribers' spill files;
     * $TMPDIR, else CONFIG_DEFAULT_SPILL_DIR. Owned, never NULL. */
    char *spill_dir;
    /** @brief `--log-file`: file the log is appended to; NULL (the
     * default, or an empty value) for stderr. Owned. */
    char *log_file;
    /** @brief `--max-clients`: most clients at once, 1..CONFIG_MAX_COUNT
     * (CONFIG_DEFAULT_MAX_CLIENTS). */
    uint64_t max_clients;
    /** @brief `--max-bulk-len`: longest bulk string of a request, a size,
     * 1..CONFIG_MAX_SIZE (CONFIG_DEFAULT_MAX_BULK). */
    uint64_t max_bulk;
    /** @brief `--max-multibulk`: most arguments of a request,
     * 1..CONFIG_MAX_COUNT (CONFIG_DEFAULT_MAX_MULTIBULK). */
    uint64_t max_multibulk;
    /** @brief `--max-inline`: longest inline request or header line, a
     * size, 1..CONFIG_MAX_SIZE (CONFIG_DEFAULT_MAX_INLINE). */
    uint64_t max_inline;
    /** @brief `--query-buffer-limit`: most unparsed input of one client,
     * a size, 1..CONFIG_MAX_SIZE (CONFIG_DEFAULT_QUERY_BUFFER_LIMIT). */
    uint64_t query_buffer_limit;
    /** @brief `--sub-memory-limit`: output of one subscriber kept in
     * memory before spilling, a size, 1..CONFIG_MAX_SIZE
     * (CONFIG_DEFAULT_SUB_MEMORY_LIMIT). */
    uint64_t sub_memory_limit;
    /** @brief `--sub-disk-cap`: most bytes of one subscriber's spill file,
     * a size, 0..CONFIG_MAX_SIZE; 0 spills nothing
     * (CONFIG_DEFAULT_SUB_DISK_CAP). */
    uint64_t sub_disk_cap;
    /** @brief `--disk-cap`: most bytes of all spill files together, a
     * size, 0..CONFIG_MAX_SIZE; 0 spills nothing
     * (CONFIG_DEFAULT_DISK_CAP). */
    uint64_t disk_cap;
    /** @brief `--policy`: `disconnect` or `drop-oldest`
     * (CONFIG_DEFAULT_POLICY). */
    enum broker_policy policy;
    /** @brief `--shutdown-timeout`: ms a shutdown waits for output to
     * drain, 0..CONFIG_MAX_COUNT (CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS). */
    uint64_t shutdown_timeout_ms;
    /** @brief `--retain GLOB`, repeatable: channel patterns whose last
     * message is kept; none by default. Owned, as is each pattern. */
    char **retain;
    /** @brief Number of patterns in retain. */
    size_t retain_count;
    /** @brief `--peer HOST:PORT`, repeatable: brokers to join in a mesh
     * (an IPv4 address and a port); none by default. Owned. */
    char **peers;
    /** @brief Number of addresses in peers. */
    size_t peer_count;
    /** @brief `--node-name`: this broker's name among its peers, at most
     * CONFIG_NODE_NAME_MAX characters, no blanks; NULL (the default, or
     * an empty value) for BIND:PORT. Owned. */
    char *node_name;
    /** @brief `--peer-heartbeat`: ms between the PINGs on each link to a
     * peer; a link silent for three intervals is closed,
     * CONFIG_MIN_PEER_HEARTBEAT_MS..CONFIG_MAX_COUNT
     * (CONFIG_DEFAULT_PEER_HEARTBEAT_MS). */
    uint64_t peer_heartbeat_ms;
    /** @brief `--peer-grace`: ms that a peer whose link was lost keeps its
     * interest, its messages spilling, 0..CONFIG_MAX_COUNT
     * (CONFIG_DEFAULT_PEER_GRACE_MS). */
    uint64_t peer_grace_ms;
    /** @brief `--help` was given. */
    bool show_help;
    /** @brief `--version` was given. */
    bool show_version;
};

/** @brief Sets every option to its default (spill_dir from TMPDIR).
 * @return 0, or -ENOMEM (then destroy is still safe). */
int broker_config_init(struct broker_config *c);

/** @brief Frees the owned strings and lists; @p c may be initialized again. */
void broker_config_destroy(struct broker_config *c);

/**
 * @brief Applies the command line as main() receives it: @p argv[0] is
 * the program's name and is skipped.
 *
 * Every other argument is an option or an option's value; `--config FILE`
 * loads FILE at that point.
 * @return 0; -EINVAL on an unknown option, a missing or unexpected value,
 * a bad value or an argument that is not an option; an error of
 * broker_config_load_file(); -ENOMEM. The message is in @p err.
 */
int broker_config_parse_args(struct broker_config *c, int argc,
                             char **argv, char *err, size_t err_len);

/**
 * @brief Applies the options in the config file at @p path, in order.
 *
 * `help`, `version` and `config` are for the command line only.
 * @return 0; -ENOENT (or another errno) when the file cannot be opened or
 * read; -EINVAL on a bad line; -ENOMEM. The message, in @p err, starts
 * with @p path and, for a bad line, its number.
 */
int broker_config_load_file(struct broker_config *c, const char *path,
                            char *err, size_t err_len);

/** @brief Reads a peer's address, `IPV4:PORT` with a port from 1.
 * @return 0 or -EINVAL. */
int broker_config_parse_peer(struct inet_address *addr, const char *text);

/** @brief The name of @p p as options spell it ("disconnect",
 * "drop-oldest"), or "?" for a value that is not a policy. */
const char *broker_policy_name(enum broker_policy p);

/** @brief Writes the help text to @p out: how to call @p prog, and every
 * option with its argument, meaning, range and default. */
void broker_config_usage(FILE *out, const char *prog);

#endif /* MUDUO_MOM_CONFIG_H */
