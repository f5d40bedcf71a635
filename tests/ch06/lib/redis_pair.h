/*
 * A real redis-server and the broker side by side, for the suites that
 * check that the broker answers as Redis does (chapter 6 on).
 *
 * redis_pair_start() runs redis-server as a child process that listens
 * on a unix socket in a private temporary directory (no TCP port), and
 * the broker in this process: a loop thread of its own as the base loop,
 * port 0, two I/O loops. redis_pair_stop() ends both: SIGTERM and waitpid
 * for Redis, then its directory goes; the broker is stopped and freed in
 * its loop's thread, and the thread is joined, so no fd, file or thread is
 * left behind.
 *
 * The client side is plain blocking sockets with send and receive
 * timeouts, so that a missing reply fails the test instead of hanging it.
 * Replies are read by counting complete RESP2 values as the bytes arrive:
 * no sleeping, and no guessing when a reply is complete.
 *
 * Everything here runs in the test's thread and fails the test through
 * Check on any error. A machine without redis-server fails too, with a
 * message that says how to install it: a comparison that was skipped
 * would prove nothing.
 */
#ifndef MUDUO_TESTS_REDIS_PAIR_H
#define MUDUO_TESTS_REDIS_PAIR_H

#include "mom/config.h"
#include "net/buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct broker;
struct event_loop_thread;

/* How long a client waits for a reply (or a close) before the test
 * fails: generous, since the suites also run under valgrind. */
#define REDIS_PAIR_TIMEOUT_MS 10000
/* How long redis-server may take to accept on its socket. */
#define REDIS_PAIR_START_MS 10000
/* Client connections a scenario may use: numbers 0 .. REDIS_PAIR_CONNS-1. */
#define REDIS_PAIR_CONNS 8

/* The two servers of a pair. */
enum redis_pair_side { REDIS_PAIR_REDIS, REDIS_PAIR_BROKER };

/* What both servers are told. */
struct redis_pair_options {
    const char *requirepass; /* NULL: no password */
    unsigned max_clients;    /* 0: each server's default */
};

/* A client connection, and what it has read that nobody has taken yet
 * (a read may bring the replies of later steps too). */
struct redis_pair_client {
    int fd;           /* -1: not connected */
    struct buffer in; /* read, not yet taken */
};

/* A running pair; its fields are private to redis_pair.c. */
struct redis_pair {
    char dir[160];          /* Redis's directory: socket, log */
    char socket_path[108];  /* where Redis listens (a sun_path) */
    pid_t redis_pid;        /* 0 once stopped */
    struct broker_config config;
    bool config_ready;      /* config needs broker_config_destroy */
    struct event_loop_thread *thread; /* the broker's base loop */
    struct broker *broker;
    int port;               /* the broker's */
    int start_error;        /* errno of broker_new/start, in its thread */
    int saved_log_level;
    bool running;
    struct redis_pair_client clients[2][REDIS_PAIR_CONNS]; /* by side */
};

/* How the replies of a step are compared. */
enum redis_pair_compare {
    REDIS_PAIR_SAME,      /* byte for byte */
    REDIS_PAIR_ANY_ORDER, /* as a multiset: Redis's order is its hash's */
    REDIS_PAIR_ELEMENTS,  /* each reply an array whose elements (in groups
                             of .group) may come in any order */
};

/*
 * One step of a scenario: a request sent on one connection to both
 * servers, and what each must send back. The connection is opened at its
 * first use (and again after a step that closed it).
 */
struct redis_pair_step {
    int conn;         /* which connection, 0 .. REDIS_PAIR_CONNS-1 */
    const char *cmd;  /* words separated by one space, sent as a multibulk
                         request; the word '' is an empty argument */
    const char *raw;  /* or these raw_len bytes as they are (neither: the
                         step sends nothing and only reads) */
    size_t raw_len;
    int replies;      /* complete RESP2 values each server must send */
    bool closes;      /* and then the server must close */
    enum redis_pair_compare how;
    int group;        /* REDIS_PAIR_ELEMENTS: elements per group (0: 1) */
    int mask;         /* > 0: the value at this place (1-based, in reading
                         order, within each reply) is the server's own (a
                         client id): its type is compared, not its value */
    int in_order;     /* REDIS_PAIR_ANY_ORDER: the value at this place of
                         each reply is compared in the order of the
                         replies, apart from them: the counts of an
                         UNSUBSCRIBE of all fall by one per reply, whatever
                         the order of the names */
    const char *ours; /* only the broker gets the request, and must send
                         exactly these bytes: a known, intended difference */
};

/* A step of words; the optional rest sets more fields (.closes = true). */
#define REDIS_PAIR_CMD(c, text, n, ...) \
    {.conn = (c), .cmd = (text), .replies = (n), __VA_ARGS__}
/* A step that only reads: what an earlier step made the server send. */
#define REDIS_PAIR_READ(c, n, ...) {.conn = (c), .replies = (n), __VA_ARGS__}
/* A step of raw bytes, given as a string literal (NULs allowed). */
#define REDIS_PAIR_RAW(c, bytes, n, ...) \
    {.conn = (c), .raw = (bytes), .raw_len = sizeof(bytes) - 1, \
     .replies = (n), __VA_ARGS__}

/* Unchecked fixture of a suite (it runs in Check's own process): makes
 * the directory under which every pair of the suite keeps its files, and
 * at the end removes it with whatever a test that died left in it. */
void redis_pair_suite_setup(void);
void redis_pair_suite_teardown(void);

/* Starts both servers with @p options (NULL: the defaults). */
void redis_pair_start(struct redis_pair *p,
                      const struct redis_pair_options *options);
/* Closes the clients a scenario left open, stops both servers and removes
 * Redis's directory; a no-op when not running. */
void redis_pair_stop(struct redis_pair *p);

/*
 * Runs @p count steps against both servers, in order, comparing what each
 * sends back; a difference fails the test and shows both byte strings.
 * Then no connection may have bytes left over; all are closed.
 */
void redis_pair_run(struct redis_pair *p, const struct redis_pair_step *steps,
                    size_t count);

/* Appends the words of @p words (as in redis_pair_step.cmd) to @p out as
 * one multibulk request; no words, nothing. */
void redis_pair_encode(const char *words, struct buffer *out);

/* A new blocking client connection to one side, with the timeouts set. */
int redis_pair_connect(const struct redis_pair *p, enum redis_pair_side side);

/* Sends all of @p len bytes. @return 0, or -errno when the server has
 * closed the connection (EPIPE, ECONNRESET): the caller decides whether
 * that was expected. Any other failure fails the test. */
int redis_pair_send(int fd, const void *data, size_t len);

/* Takes @p count complete RESP2 values from @p c into @p out (appended),
 * reading as long as it needs: bytes beyond them stay in @p c for the
 * next call. A timeout, a close or bytes that are not RESP2 fail the
 * test, saying what had arrived; @p who names the side in the message. */
void redis_pair_read_replies(struct redis_pair_client *c, size_t count,
                             struct buffer *out, const char *who);

/* The server must close the connection now: nothing may be left in @p c,
 * and the next read ends (EOF, or a reset when the server closed with our
 * bytes unread); bytes or a timeout fail the test. */
void redis_pair_expect_close(struct redis_pair_client *c, const char *who);

/* Fails the test when @p c holds or has bytes waiting (a reply nobody
 * asked for). Does not wait. */
void redis_pair_expect_silence(struct redis_pair_client *c, const char *who);

/*
 * The length of the RESP2 value at the start of @p data: > 0 when it is
 * complete, 0 when more bytes are needed, -1 when the bytes are not RESP2.
 */
ssize_t redis_pair_value_length(const char *data, size_t len);

/* Writes @p len bytes into @p out as a C string literal would show them
 * (\r, \n, \0, \xHH), cut after @p max input bytes with "...". */
void redis_pair_escape(const char *data, size_t len, size_t max,
                       struct buffer *out);

#endif /* MUDUO_TESTS_REDIS_PAIR_H */
