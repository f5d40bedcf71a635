/* Exercise 04.4, broadcast_server: a line reaches every client on every
 * loop, each sender's lines in order, from a connection or from any
 * thread; a line too long closes its sender; clients that leave in the
 * middle, and a server freed while lines are on their way.
 *
 * The server runs in the test's loop (the base loop, this thread) and
 * its I/O threads; clients are blocking sockets in client threads
 * (exercise_net.h), which report failures with client_fail(). */
#include "exercise_net.h"

#include "broadcast_server.h"

#include "base/timestamp.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- the server ----------------------------------------------------------- */

static struct broadcast_server *
start_server(struct event_loop *loop, int io_threads, struct inet_address *addr)
{
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct broadcast_server *s = broadcast_server_new(loop, &any, io_threads);
    ck_assert_msg(s != NULL, "broadcast_server_new: %s", strerror(errno));
    int err = broadcast_server_start(s);
    ck_assert_msg(err == 0, "broadcast_server_start: %s", strerror(-err));
    err = broadcast_server_listen_address(s, addr);
    ck_assert_msg(err == 0, "broadcast_server_listen_address: %s",
                  strerror(-err));
    ck_assert_msg(inet_address_port(addr) != 0,
                  "broadcast_server_listen_address gave port 0");
    return s;
}

/* Like expect_line(), for a line that another client sent, which may be
 * as long as BROADCAST_LINE_MAX: after says where it comes from. */
static bool expect_heard(struct client_thread *ct, struct line_conn *c,
                         const char *want, const char *after)
{
    char line[BROADCAST_LINE_MAX + 2], what[320];
    snprintf(what, sizeof what, "\"%s\" (%s)", want, after);
    if (!read_line(ct, c, line, sizeof line, what))
        return false;
    if (strcmp(line, want) != 0) {
        client_fail(ct, "got \"%s\", expected %s", line, what);
        return false;
    }
    return true;
}

/* The test's server: its base loop is the test's, in this thread. */
struct fixture {
    struct event_loop *loop;
    struct broadcast_server *server;
    struct inet_address addr;
};

static void fixture_start(struct fixture *f, int io_threads)
{
    f->loop = new_loop();
    f->server = start_server(f->loop, io_threads, &f->addr);
}

/* Runs fn in a client thread to its end, while the base loop serves. */
static void fixture_client(struct fixture *f,
                           void (*fn)(struct client_thread *), void *arg)
{
    struct client_thread ct;
    client_thread_start(&ct, f->loop, &f->addr, fn, arg);
    client_thread_finish(&ct, 4 * hang_guard_ms());
}

static void fixture_free(struct fixture *f)
{
    broadcast_server_free(f->server);
    event_loop_free(f->loop);
}

/* One client against a server with io_threads I/O loops. */
static void with_server(int io_threads, void (*fn)(struct client_thread *))
{
    struct fixture f;
    fixture_start(&f, io_threads);
    fixture_client(&f, fn, NULL);
    fixture_free(&f);
}

/* Opens n connections and reads the welcome on each: from then on, each
 * receives every line broadcast. Whatever happens, leave() closes what
 * it opened. */
static bool join(struct client_thread *ct, struct line_conn *c, int n)
{
    for (int i = 0; i < n; i++)
        c[i].fd = -1;
    for (int i = 0; i < n; i++) {
        if (!open_conn(ct, &c[i]))
            return false;
        c[i].silence = "nothing"; /* lines come from others, not replies */
    }
    for (int i = 0; i < n; i++)
        if (!expect_heard(ct, &c[i], "welcome",
                          "the first line after connecting"))
            return false;
    return true;
}

static void leave(struct line_conn *c, int n)
{
    for (int i = 0; i < n; i++)
        close_conn(&c[i]);
}

/* --- one line, every loop ------------------------------------------------- */

#define SPREAD_LOOPS 3
#define SPREAD_CONNS 6 /* accepted in turn: two in each loop */

static void one_line_to_all(struct client_thread *ct)
{
    struct line_conn c[SPREAD_CONNS];
    if (!join(ct, c, SPREAD_CONNS))
        goto out;
    if (!send_text(ct, &c[0], "hello\n"))
        goto out;
    for (int i = 0; i < SPREAD_CONNS; i++) {
        char after[96];
        snprintf(after, sizeof after,
                 "connection %d of %d, after connection 0 sent it", i,
                 SPREAD_CONNS);
        if (!expect_heard(ct, &c[i], "hello", after))
            break;
    }
out:
    leave(c, SPREAD_CONNS);
}

START_TEST(a_line_reaches_every_client_on_every_loop)
{
    with_server(SPREAD_LOOPS, one_line_to_all);
}
END_TEST

/* --- each sender's order -------------------------------------------------- */

#define ORDER_THREADS 3
#define CONNS_PER_THREAD 2
#define SENDERS (ORDER_THREADS * CONNS_PER_THREAD)
#define LINES_PER_SENDER 100

struct order_test {
    pthread_barrier_t all_joined;
    atomic_int next_id;
};

/* Reads every sender's lines on one connection, checking that each
 * sender's numbers come in order. */
static bool read_all_senders(struct client_thread *ct, struct line_conn *c,
                             int me)
{
    int next[SENDERS] = {0};
    for (int got = 0; got < SENDERS * LINES_PER_SENDER; got++) {
        char line[BROADCAST_LINE_MAX + 2], what[96];
        snprintf(what, sizeof what, "line %d of %d on connection %d", got + 1,
                 SENDERS * LINES_PER_SENDER, me);
        if (!read_line(ct, c, line, sizeof line, what))
            return false;
        int sender, seq;
        if (sscanf(line, "from %d line %d", &sender, &seq) != 2 || sender < 0 ||
            sender >= SENDERS) {
            client_fail(ct, "connection %d got \"%s\", which nobody sent", me,
                        line);
            return false;
        }
        if (seq != next[sender]) {
            client_fail(ct,
                        "connection %d got line %d of sender %d, "
                        "expected its line %d: each sender's lines "
                        "must arrive in the order it sent them",
                        me, seq, sender, next[sender]);
            return false;
        }
        next[sender]++;
    }
    return true;
}

static void send_in_order(struct client_thread *ct)
{
    struct order_test *t = ct->arg;
    struct line_conn c[CONNS_PER_THREAD];
    int ids[CONNS_PER_THREAD];
    bool joined = join(ct, c, CONNS_PER_THREAD);
    /* Every client thread waits here, joined or not, so that none
     * waits for ever. */
    pthread_barrier_wait(&t->all_joined);
    if (!joined)
        goto out;
    for (int k = 0; k < CONNS_PER_THREAD; k++) {
        ids[k] = atomic_fetch_add(&t->next_id, 1);
        char text[LINES_PER_SENDER * 32]; /* one per client thread */
        size_t used = 0;
        for (int i = 0; i < LINES_PER_SENDER; i++)
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "from %d line %d\n", ids[k], i);
        if (!client_write_all(ct, c[k].fd, text, used))
            goto out;
    }
    for (int k = 0; k < CONNS_PER_THREAD; k++)
        if (!read_all_senders(ct, &c[k], ids[k]))
            break;
out:
    leave(c, CONNS_PER_THREAD);
}

START_TEST(each_senders_lines_arrive_in_order_everywhere)
{
    struct fixture f;
    fixture_start(&f, SPREAD_LOOPS);
    struct order_test t;
    ck_assert_int_eq(pthread_barrier_init(&t.all_joined, NULL, ORDER_THREADS),
                     0);
    atomic_init(&t.next_id, 0);
    struct client_thread ct[ORDER_THREADS];
    for (int i = 0; i < ORDER_THREADS; i++)
        client_thread_start(&ct[i], f.loop, &f.addr, send_in_order, &t);
    for (int i = 0; i < ORDER_THREADS; i++)
        client_thread_finish(&ct[i], 4 * hang_guard_ms());
    pthread_barrier_destroy(&t.all_joined);
    fixture_free(&f);
}
END_TEST

/* --- from any thread ------------------------------------------------------ */

#define LISTENERS 4
#define NEWS 20

struct news_test {
    atomic_int ready;
    struct broadcast_server *server;
    int failures, first_error; /* the announcer's, read after its join */
};

static void listen_to_news(struct client_thread *ct)
{
    struct news_test *t = ct->arg;
    struct line_conn c[LISTENERS];
    bool joined = join(ct, c, LISTENERS);
    atomic_store(&t->ready, 1); /* even when not joined: the test goes on */
    if (!joined)
        goto out;
    for (int i = 0; i < NEWS; i++)
        for (int k = 0; k < LISTENERS; k++) {
            char want[32], after[96];
            snprintf(want, sizeof want, "news %d", i);
            snprintf(after, sizeof after,
                     "line %d sent by a thread of no loop, on connection %d", i,
                     k);
            if (!expect_heard(ct, &c[k], want, after))
                goto out;
        }
out:
    leave(c, LISTENERS);
}

static void *announce(void *arg)
{
    struct news_test *t = arg;
    for (int i = 0; i < NEWS; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "news %d", i);
        int err = broadcast_server_send(t->server, line, (size_t)n);
        if (err != 0 && t->failures++ == 0)
            t->first_error = err;
    }
    return NULL;
}

START_TEST(a_line_sent_from_any_thread_reaches_everyone)
{
    struct fixture f;
    fixture_start(&f, 2);
    struct news_test t = {.server = f.server};
    struct client_thread ct;
    client_thread_start(&ct, f.loop, &f.addr, listen_to_news, &t);
    run_until(f.loop, &t.ready, 1, "the clients' welcomes");
    size_t count = broadcast_server_connection_count(f.server);
    pthread_t announcer;
    ck_assert_int_eq(pthread_create(&announcer, NULL, announce, &t), 0);
    ck_assert_int_eq(pthread_join(announcer, NULL), 0);
    client_thread_finish(&ct, 4 * hang_guard_ms());
    int bad_newline = broadcast_server_send(f.server, "a\nb", 3);
    static char too_long[BROADCAST_LINE_MAX + 1];
    memset(too_long, 'x', sizeof too_long);
    int bad_length = broadcast_server_send(f.server, too_long, sizeof too_long);
    fixture_free(&f);
    ck_assert_msg(count == LISTENERS,
                  "broadcast_server_connection_count() gave %zu with %d "
                  "clients connected",
                  count, LISTENERS);
    ck_assert_msg(t.failures == 0,
                  "%d of %d broadcast_server_send() calls failed, the first "
                  "with %d (%s)",
                  t.failures, NEWS, t.first_error, strerror(-t.first_error));
    ck_assert_msg(bad_newline == -EINVAL,
                  "broadcast_server_send() of a line holding a '\\n' returned "
                  "%d, expected -EINVAL",
                  bad_newline);
    ck_assert_msg(bad_length == -EINVAL,
                  "broadcast_server_send() of BROADCAST_LINE_MAX + 1 bytes "
                  "returned %d, expected -EINVAL",
                  bad_length);
}
END_TEST

/* --- too long ------------------------------------------------------------- */

static void too_long_a_line(struct client_thread *ct)
{
    struct line_conn c[2];
    if (!join(ct, c, 2))
        goto out;
    static char text[BROADCAST_LINE_MAX + 2];
    memset(text, 'x', BROADCAST_LINE_MAX + 1);
    text[BROADCAST_LINE_MAX + 1] = '\n';
    if (!client_write_all(ct, c[0].fd, text, sizeof text) ||
        !expect_closed(ct, &c[0], "a line of BROADCAST_LINE_MAX + 1 bytes"))
        goto out;
    /* The other client got nothing of it. */
    if (send_text(ct, &c[1], "still here\n"))
        (void)expect_heard(ct, &c[1], "still here",
                           "its own line, and nothing of the line too long "
                           "before it");
out:
    leave(c, 2);
}

START_TEST(a_line_too_long_closes_its_sender)
{
    with_server(1, too_long_a_line);
}
END_TEST

/* --- lifetimes ------------------------------------------------------------ */

#define STAYERS 3
#define LEAVERS 3
#define STAYER_LINES 100

struct leave_test {
    pthread_barrier_t all_joined;
};

/* Sends and reads everything the stayers send, while the leavers go. */
static void stay(struct client_thread *ct)
{
    struct leave_test *t = ct->arg;
    struct line_conn c[STAYERS];
    bool joined = join(ct, c, STAYERS);
    pthread_barrier_wait(&t->all_joined);
    if (!joined)
        goto out;
    for (int k = 0; k < STAYERS; k++) {
        char text[STAYER_LINES * 32];
        size_t used = 0;
        for (int i = 0; i < STAYER_LINES; i++)
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "stayer %d line %d\n", k, i);
        if (!client_write_all(ct, c[k].fd, text, used))
            goto out;
    }
    for (int k = 0; k < STAYERS; k++) {
        int next[STAYERS] = {0};
        for (int got = 0; got < STAYERS * STAYER_LINES; got++) {
            char line[BROADCAST_LINE_MAX + 2];
            int sender, seq;
            if (!read_line(ct, &c[k], line, sizeof line,
                           "the stayers' lines while the others left"))
                goto out;
            if (sscanf(line, "stayer %d line %d", &sender, &seq) != 2 ||
                sender < 0 || sender >= STAYERS || seq != next[sender]) {
                client_fail(ct,
                            "stayer %d got \"%s\", out of order or "
                            "from nobody",
                            k, line);
                goto out;
            }
            next[sender]++;
        }
    }
out:
    leave(c, STAYERS);
}

/* Joins, then resets every connection while the stayers send. */
static void go_away(struct client_thread *ct)
{
    struct leave_test *t = ct->arg;
    struct line_conn c[LEAVERS];
    bool joined = join(ct, c, LEAVERS);
    pthread_barrier_wait(&t->all_joined);
    for (int k = 0; k < LEAVERS; k++)
        if (joined)
            reset_conn(&c[k]);
        else
            close_conn(&c[k]);
}

static void check_empty(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct fixture *f = ctx;
    (void)id;
    if (broadcast_server_connection_count(f->server) == 0)
        event_loop_quit(loop);
}

static void stop_waiting(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    (void)ctx;
    event_loop_quit(loop);
}

START_TEST(clients_leaving_in_the_middle_of_a_broadcast)
{
    struct fixture f;
    fixture_start(&f, 3);
    struct leave_test t;
    ck_assert_int_eq(pthread_barrier_init(&t.all_joined, NULL, 2), 0);
    struct client_thread stayers, leavers;
    client_thread_start(&stayers, f.loop, &f.addr, stay, &t);
    client_thread_start(&leavers, f.loop, &f.addr, go_away, &t);
    client_thread_finish(&leavers, 4 * hang_guard_ms());
    client_thread_finish(&stayers, 4 * hang_guard_ms());
    pthread_barrier_destroy(&t.all_joined);
    /* Every client has gone: so does every connection of the server. */
    uint64_t watch = event_loop_run_every(f.loop, 1000, check_empty, &f);
    uint64_t guard = event_loop_run_after(f.loop, hang_guard_ms() * 1000LL,
                                          stop_waiting, NULL);
    ck_assert(watch != 0 && guard != 0);
    ck_assert_int_eq(event_loop_run(f.loop), 0);
    size_t left = broadcast_server_connection_count(f.server);
    event_loop_cancel_timer(f.loop, watch);
    event_loop_cancel_timer(f.loop, guard);
    fixture_free(&f);
    ck_assert_msg(left == 0,
                  "%zu connections still held after every client left", left);
}
END_TEST

#define BUSY_CONNS 3
#define LINES_BEFORE_FREE 30

struct busy {
    atomic_int lines;
};

/* Keeps lines flowing on a connection in each loop, reading whatever
 * comes back, until the server closes them all. */
static void keep_talking(struct client_thread *ct)
{
    struct busy *b = ct->arg;
    struct line_conn c[BUSY_CONNS];
    bool open[BUSY_CONNS];
    int still_open = BUSY_CONNS;
    if (!join(ct, c, BUSY_CONNS))
        goto out;
    for (int i = 0; i < BUSY_CONNS; i++)
        open[i] = true;
    static const char text[] = "one\ntwo\nthree\n";
    int64_t deadline = timestamp_mono_us() + 2LL * hang_guard_ms() * 1000;
    while (still_open > 0) {
        if (timestamp_mono_us() > deadline) {
            client_fail(ct,
                        "%d connections still open %d ms after the "
                        "first lines; the server was freed meanwhile",
                        still_open, 2 * hang_guard_ms());
            break;
        }
        for (int i = 0; i < BUSY_CONNS; i++) {
            if (!open[i])
                continue;
            char scratch[4096];
            /* Blocking (the server reads all the time): a line is never
             * cut in two. */
            bool gone = send(c[i].fd, text, sizeof text - 1, MSG_NOSIGNAL) !=
                        (ssize_t)(sizeof text - 1);
            ssize_t got;
            while ((got = recv(c[i].fd, scratch, sizeof scratch,
                               MSG_DONTWAIT)) > 0)
                for (ssize_t j = 0; j < got; j++)
                    if (scratch[j] == '\n')
                        atomic_fetch_add(&b->lines, 1);
            if (got == 0 || (got < 0 && errno != EAGAIN))
                gone = true;
            if (gone) {
                open[i] = false;
                still_open--;
            }
        }
        usleep(500);
    }
out:
    leave(c, BUSY_CONNS);
}

START_TEST(freeing_the_server_while_lines_are_on_their_way)
{
    struct fixture f;
    fixture_start(&f, BUSY_CONNS);
    struct busy b = {0};
    struct client_thread ct;
    client_thread_start(&ct, f.loop, &f.addr, keep_talking, &b);
    run_until(f.loop, &b.lines, LINES_BEFORE_FREE,
              "the first lines before freeing the server");
    broadcast_server_free(f.server); /* while lines cross the loops */
    client_thread_finish(&ct, 4 * hang_guard_ms());
    event_loop_free(f.loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 04.4 broadcast_server");
    TCase *tc = tcase_create("broadcast_server");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, a_line_reaches_every_client_on_every_loop);
    tcase_add_test(tc, each_senders_lines_arrive_in_order_everywhere);
    tcase_add_test(tc, a_line_sent_from_any_thread_reaches_everyone);
    tcase_add_test(tc, a_line_too_long_closes_its_sender);
    tcase_add_test(tc, clients_leaving_in_the_middle_of_a_broadcast);
    tcase_add_test(tc, freeing_the_server_while_lines_are_on_their_way);
    suite_add_tcase(s, tc);
    return s;
}
