/* Helpers for the broker's tests: momd run as a program, and clients
 * that speak RESP over plain blocking sockets.
 *
 * A test starts momd with mom_start() (any free port, or a free one below
 * the ephemeral range when a test must restart on the same port), talks
 * to it through struct mom_client, and stops it with mom_stop(), which
 * returns its exit status. Every helper fails the test with a message
 * when something does not work; nothing is left running or open. */
#ifndef MUDUO_TESTS_MOM_TEST_H
#define MUDUO_TESTS_MOM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

/* A check for the hot paths (a test reads 100,000 values): it costs
 * nothing when it holds. Check's ck_assert records a mark point for every
 * assertion that passes, which in such loops costs more than the test's
 * own work, above all under valgrind. */
#define MOM_CHECK(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* Seconds a client waits for a reply before the test fails. */
#define MOM_REPLY_TIMEOUT_S 20

struct mom_proc {
    pid_t pid;
    int port;
    int out; /* our end of its stdout and stderr */
};

/* Starts argv[0] (a path, or a name looked up in PATH) with its standard
 * output and error into a pipe, whose read end goes to @p out, and the
 * default signal handlers. It is killed if the calling thread ends first
 * (a test that fails in a forked process leaves nothing running). */
pid_t mom_spawn(const char *const *argv, int *out);
/* Starts build/examples/momd with `--bind 127.0.0.1 --port PORT` (0: any
 * free port) and the NULL-terminated extra arguments, and waits until it
 * says where it listens. */
void mom_start(struct mom_proc *p, int port, const char *const *args);
/* Sends @p sig, waits for the exit and returns the wait status. */
int mom_stop(struct mom_proc *p, int sig);
/* The same, keeping the end of what it printed from now to its exit (a
 * sanitizer's report, say) in @p tail, NUL terminated. */
int mom_stop_with_tail(struct mom_proc *p, int sig, char *tail, size_t cap);
/* A port below the ephemeral range that nothing listens on now. */
int mom_free_low_port(void);
/* @p n different such ports, in ascending order: for brokers that must
 * know each other's ports before they start. */
void mom_free_low_ports(int *ports, int n);
/* Reads what the program has printed so far, without waiting, so that a
 * broker that logs a lot never blocks on a full pipe. The text goes to
 * stderr when MOM_TEST_LOGS is set in the environment, else nowhere. */
void mom_drain(struct mom_proc *p);

/* A client connection with its unread bytes. */
struct mom_client {
    int fd;
    char *buf;  /* received bytes: buf[off..len) are not read yet */
    size_t off;
    size_t len;
    size_t cap;
};

void mom_connect(struct mom_client *c, int port);
/* The same with a receive buffer of @p rcvbuf bytes (0: the default): a
 * subscriber that does not read fills it, and the broker's output backs
 * up, sooner. Keep it above the loopback MSS (64 KiB): a window smaller
 * than one segment makes the sender wait for its zero-window probes,
 * whose interval doubles up to minutes. */
void mom_connect_with_window(struct mom_client *c, int port, int rcvbuf);
/* mom_connect(), then AUTH @p password unless it is NULL. */
void mom_connect_auth(struct mom_client *c, int port, const char *password);
void mom_close(struct mom_client *c);
/* Sends a command, its arguments given as NUL-terminated strings. */
void mom_command(struct mom_client *c, int argc, const char *const *argv);
/* Sends raw bytes. */
void mom_send(struct mom_client *c, const void *data, size_t len);
/* Reads one complete RESP value; returns its length and puts a copy, NUL
 * terminated, in @p out (malloc'ed, the caller frees). */
size_t mom_read_value(struct mom_client *c, char **out);
/* Whether a value's bytes are buffered or arrive within @p timeout_ms. */
bool mom_readable(struct mom_client *c, int timeout_ms);
/* Reads one array of at most @p max bulk strings and integers (fails on
 * anything else) and returns how many; each item, an integer as its
 * digits, is malloc'ed and NUL terminated: free them with
 * mom_free_items(). */
int mom_read_items(struct mom_client *c, char **items, int max);
void mom_free_items(char **items, int n);
/* Reads one value and fails unless it is exactly @p want. */
void mom_expect(struct mom_client *c, const char *want);
/* Reads a `message` push and returns its payload (malloc'ed) and, in
 * @p channel if not NULL, its channel (malloc'ed). */
char *mom_read_message(struct mom_client *c, char **channel);
/* Reads until the server closes the connection; returns how many whole
 * values came before (a value cut by the close is not counted). */
int mom_count_until_closed(struct mom_client *c);
/* Whether the server has closed the connection (reads until EOF, failing
 * if data arrives). */
bool mom_closed(struct mom_client *c);
/* The value of `field:` in the broker's INFO, as a number. */
long long mom_info(int port, const char *field);
/* The broker's whole INFO reply (malloc'ed), asked after AUTH @p password
 * unless it is NULL. */
char *mom_info_text(int port, const char *password);
/* In an INFO text, the `peerN:` line whose addr is 127.0.0.1:@p peer_port:
 * copies the value of its field @p key (`state`, `msgs_out`, ...) into
 * @p out; false when there is no such line or no such field. */
bool mom_info_peer(const char *info, int peer_port, const char *key,
                   char *out, size_t cap);
/* Regular files in @p dir. */
int mom_count_files(const char *dir);

#endif /* MUDUO_TESTS_MOM_TEST_H */
