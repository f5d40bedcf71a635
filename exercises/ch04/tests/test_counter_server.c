/* Exercise 04.3, counter_server: adds counted per I/O loop, gets that sum
 * every loop, in order, never counting an add that came after them on
 * their connection; bad lines, full loops, clients that leave, and a
 * server freed while gets travel between its loops.
 *
 * The server runs in the test's loop (the base loop, this thread) and
 * its I/O threads; clients are blocking sockets in client threads
 * (exercise_net.h), which report failures with client_fail(). */
#include "exercise_net.h"

#include "counter_server.h"

#include "base/timestamp.h"
#include "net/event_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- the server ----------------------------------------------------------- */

static struct counter_server *
start_server(struct event_loop *loop, int io_threads, struct inet_address *addr)
{
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct counter_server *s = counter_server_new(loop, &any, io_threads);
    ck_assert_msg(s != NULL, "counter_server_new: %s", strerror(errno));
    int err = counter_server_start(s);
    ck_assert_msg(err == 0, "counter_server_start: %s", strerror(-err));
    err = counter_server_listen_address(s, addr);
    ck_assert_msg(err == 0, "counter_server_listen_address: %s",
                  strerror(-err));
    ck_assert_msg(inet_address_port(addr) != 0,
                  "counter_server_listen_address gave port 0");
    return s;
}

/* --- the clients ---------------------------------------------------------- */

/* A reply that is a number: its value. */
static bool read_total(struct client_thread *ct, struct line_conn *c,
                       int64_t *total, const char *after)
{
    char line[256], what[320], *end;
    snprintf(what, sizeof what, "a total (the reply to %s)", after);
    if (!read_line(ct, c, line, sizeof line, what))
        return false;
    errno = 0;
    long long v = strtoll(line, &end, 10);
    if (end == line || *end != '\0' || errno != 0) {
        client_fail(ct, "got \"%s\", expected %s", line, what);
        return false;
    }
    *total = v;
    return true;
}

/* The test's server: its base loop is the test's, in this thread. */
struct fixture {
    struct event_loop *loop;
    struct counter_server *server;
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
    counter_server_free(f->server);
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

/* --- a get counts the adds before it -------------------------------------- */

static void adds_then_gets(struct client_thread *ct)
{
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    if (send_text(ct, &c,
                  "add apples 3\nadd apples 4\nadd pears 1\n"
                  "get apples\nget pears\nget plums\n") &&
        expect_line(ct, &c, "7", "get apples after adding 3 and 4") &&
        expect_line(ct, &c, "1", "get pears after adding 1"))
        (void)expect_line(ct, &c, "0", "get plums, never added to");
    close_conn(&c);
}

START_TEST(a_get_counts_the_adds_before_it)
{
    with_server(1, adds_then_gets);
}
END_TEST

/* --- a get sums every loop ------------------------------------------------ */

#define SPREAD_LOOPS 3
#define SPREAD_CONNS 6 /* accepted in turn: two in each loop */

static void adds_on_every_loop(struct client_thread *ct)
{
    struct line_conn c[SPREAD_CONNS + 1];
    int opened = 0;
    int64_t expect = 0;
    for (; opened < SPREAD_CONNS + 1; opened++)
        if (!open_conn(ct, &c[opened]))
            goto out;
    for (int i = 0; i < SPREAD_CONNS; i++) {
        char text[64], after[96];
        expect += i + 1;
        snprintf(text, sizeof text, "add total %d\nget total\n", i + 1);
        snprintf(after, sizeof after,
                 "get total on connection %d, after adds of 1 to %d on "
                 "connections 0 to %d",
                 i, i + 1, i);
        int64_t total;
        if (!send_text(ct, &c[i], text) ||
            !read_total(ct, &c[i], &total, after))
            goto out;
        if (total != expect) {
            client_fail(
                ct, "got %" PRId64 ", expected %" PRId64 " (the reply to %s)",
                total, expect, after);
            goto out;
        }
    }
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, expect);
    if (send_text(ct, &c[SPREAD_CONNS], "get total\n"))
        (void)expect_line(ct, &c[SPREAD_CONNS], want,
                          "get total on a connection that added nothing");
out:
    while (opened-- > 0)
        close_conn(&c[opened]);
}

START_TEST(a_get_sums_the_adds_of_every_io_loop)
{
    with_server(SPREAD_LOOPS, adds_on_every_loop);
}
END_TEST

/* --- replies in order, adds after a get not counted by it ----------------- */

#define ORDER_LOOPS 4
#define ORDER_CONNS 4 /* one in each loop: each loop visits the others */
#define ORDER_ROUNDS 200

static void pipelined_gets(struct client_thread *ct)
{
    struct line_conn c[ORDER_CONNS];
    char text[64];
    int opened = 0;
    for (; opened < ORDER_CONNS; opened++) {
        int k = opened; /* keys of its own: a<k>, b<k>, c<k> */
        snprintf(text, sizeof text, "add a%d 1\nadd b%d 2\nadd c%d 3\n", k, k,
                 k);
        if (!open_conn(ct, &c[k]) || !send_text(ct, &c[k], text))
            goto out;
    }
    /* Written round by round, on every connection, without waiting for
     * any reply: many gets are on their way at once. */
    for (int i = 0; i < ORDER_ROUNDS; i++)
        for (int k = 0; k < ORDER_CONNS; k++) {
            snprintf(text, sizeof text, "get a%d\nget b%d\nget c%d\n", k, k, k);
            if (!send_text(ct, &c[k], text))
                goto out;
        }
    for (int k = 0; k < ORDER_CONNS; k++)
        for (int i = 0; i < ORDER_ROUNDS * 3; i++) {
            static const char *const keys[] = {"a", "b", "c"};
            char want[4], after[96];
            snprintf(want, sizeof want, "%d", i % 3 + 1);
            snprintf(after, sizeof after,
                     "get %s%d, get number %d of %d on its connection",
                     keys[i % 3], k, i + 1, ORDER_ROUNDS * 3);
            if (!expect_line(ct, &c[k], want, after))
                goto out;
        }
out:
    while (opened-- > 0)
        close_conn(&c[opened]);
}

START_TEST(replies_keep_the_order_of_the_gets)
{
    with_server(ORDER_LOOPS, pipelined_gets);
}
END_TEST

#define INTERLEAVED 50

/* One write: add, get, add, get... The server reads them all at once. */
static void interleaved_adds_and_gets(struct client_thread *ct)
{
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    static char text[INTERLEAVED * 16 + 1];
    size_t used = 0;
    for (int i = 0; i < INTERLEAVED; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "add n 1\nget n\n");
    if (send_text(ct, &c, text))
        for (int i = 1; i <= INTERLEAVED; i++) {
            char want[16], after[96];
            snprintf(want, sizeof want, "%d", i);
            snprintf(after, sizeof after,
                     "get n number %d, sent after %d adds of 1 and before "
                     "the others",
                     i, i);
            if (!expect_line(ct, &c, want, after))
                break;
        }
    close_conn(&c);
}

START_TEST(a_get_does_not_count_the_adds_after_it)
{
    with_server(2, interleaved_adds_and_gets);
}
END_TEST

/* --- totals while other loops add ----------------------------------------- */

#define ADDERS 3
#define ADDS_PER_ADDER 100
#define ADDS_PER_WRITE 10

static void add_many(struct client_thread *ct)
{
    struct line_conn c[ADDERS];
    int opened = 0;
    for (; opened < ADDERS; opened++)
        if (!open_conn(ct, &c[opened]))
            goto out;
    char text[ADDS_PER_WRITE * 12 + 1];
    text[0] = '\0';
    for (int i = 0; i < ADDS_PER_WRITE; i++)
        strcat(text, "add hits 1\n");
    for (int round = 0; round < ADDS_PER_ADDER / ADDS_PER_WRITE; round++)
        for (int i = 0; i < ADDERS; i++)
            if (!send_text(ct, &c[i], text))
                goto out;
    /* Each adder's own get counts all of its adds. */
    for (int i = 0; i < ADDERS; i++) {
        int64_t total;
        if (!send_text(ct, &c[i], "get hits\n") ||
            !read_total(ct, &c[i], &total, "get hits after 100 adds"))
            goto out;
        if (total < ADDS_PER_ADDER || total > ADDERS * ADDS_PER_ADDER) {
            client_fail(ct, "an adder's get after its %d adds got %" PRId64,
                        ADDS_PER_ADDER, total);
            goto out;
        }
    }
out:
    while (opened-- > 0)
        close_conn(&c[opened]);
}

/* Gets until the total reaches every add, checking that it never goes
 * back nor beyond. */
static void watch_total(struct client_thread *ct)
{
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    int64_t last = 0, all = ADDERS * ADDS_PER_ADDER;
    int64_t deadline = timestamp_mono_us() + hang_guard_ms() * 1000LL;
    while (last < all) {
        int64_t total;
        if (!send_text(ct, &c, "get hits\n") ||
            !read_total(ct, &c, &total, "get hits while others add"))
            break;
        if (total < last || total > all) {
            client_fail(ct,
                        "get hits gave %" PRId64 " after %" PRId64
                        ": totals may only grow, up to %" PRId64,
                        total, last, all);
            break;
        }
        last = total;
        if (last < all && timestamp_mono_us() > deadline) {
            client_fail(
                ct, "the total stayed at %" PRId64 " of %" PRId64 " for %d ms",
                last, all, hang_guard_ms());
            break;
        }
    }
    close_conn(&c);
}

static void final_total(struct client_thread *ct)
{
    struct line_conn c;
    char want[32];
    snprintf(want, sizeof want, "%d", ADDERS * ADDS_PER_ADDER);
    if (open_conn(ct, &c) && send_text(ct, &c, "get hits\n"))
        (void)expect_line(ct, &c, want, "get hits once every add is in");
    close_conn(&c);
}

START_TEST(totals_only_grow_while_other_loops_add)
{
    struct fixture f;
    fixture_start(&f, 3);
    struct client_thread adders, watcher;
    client_thread_start(&watcher, f.loop, &f.addr, watch_total, NULL);
    client_thread_start(&adders, f.loop, &f.addr, add_many, NULL);
    client_thread_finish(&adders, 4 * hang_guard_ms());
    client_thread_finish(&watcher, 4 * hang_guard_ms());
    fixture_client(&f, final_total, NULL);
    fixture_free(&f);
}
END_TEST

/* --- bad lines, full loops ------------------------------------------------ */

static void bad_lines(struct client_thread *ct)
{
    static char too_long[COUNTER_LINE_MAX * 2 + 1];
    memset(too_long, 'x', sizeof too_long - 1);
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"hello\n", "the line \"hello\""},
        {"add k\n", "\"add k\" (no amount)"},
        {"add k one\n", "\"add k one\""},
        {"add k 1000000000000\n", "an add beyond COUNTER_MAX_DELTA"},
        {"get\n", "\"get\" (no key)"},
        {"get a b\n", "\"get a b\""},
        {"add a-key-that-is-longer-than-32-bytes 1\n",
         "a key longer than COUNTER_KEY_MAX"},
        {too_long, "twice COUNTER_LINE_MAX bytes with no end of line"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct line_conn c;
        if (!open_conn(ct, &c))
            return;
        bool ok =
            send_text(ct, &c, bad[i].text) && expect_closed(ct, &c, bad[i].why);
        close_conn(&c);
        if (!ok)
            return;
    }
    struct line_conn c; /* and the server still serves */
    if (open_conn(ct, &c) && send_text(ct, &c, "add k 2\nget k\n"))
        (void)expect_line(ct, &c, "2", "get k after the bad lines");
    close_conn(&c);
}

START_TEST(a_bad_line_closes_the_connection)
{
    with_server(1, bad_lines);
}
END_TEST

static void fill_the_loop(struct client_thread *ct)
{
    struct line_conn c;
    if (!open_conn(ct, &c))
        return;
    static char text[COUNTER_MAX_KEYS * 16 + 64];
    size_t used = 0;
    for (int i = 0; i < COUNTER_MAX_KEYS; i++)
        used +=
            (size_t)snprintf(text + used, sizeof text - used, "add k%d 1\n", i);
    snprintf(text + used, sizeof text - used,
             "add extra 5\nget extra\nget k%d\n", COUNTER_MAX_KEYS - 1);
    if (send_text(ct, &c, text) &&
        expect_line(ct, &c, "0", "get extra, a key beyond COUNTER_MAX_KEYS"))
        (void)expect_line(ct, &c, "1", "get of the last key that fit");
    close_conn(&c);
}

START_TEST(a_full_loop_drops_new_keys_and_counts_them)
{
    struct fixture f;
    fixture_start(&f, 1);
    fixture_client(&f, fill_the_loop, NULL);
    uint64_t dropped = counter_server_dropped_adds(f.server);
    fixture_free(&f);
    ck_assert_msg(dropped == 1,
                  "counter_server_dropped_adds() is %" PRIu64 ", expected 1",
                  dropped);
}
END_TEST

/* --- lifetimes ------------------------------------------------------------ */

#define LEAVERS 6
#define GETS_LEFT_BEHIND 100

/* Each connection asks a lot and resets before any answer: the gets are
 * on their way through the loops when their connection goes. */
static void ask_and_leave(struct client_thread *ct)
{
    static char text[GETS_LEFT_BEHIND * 6 + 16];
    size_t used = (size_t)snprintf(text, sizeof text, "add x 1\n");
    for (int i = 0; i < GETS_LEFT_BEHIND; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "get x\n");
    for (int i = 0; i < LEAVERS; i++) {
        struct line_conn c;
        if (!open_conn(ct, &c))
            return;
        bool sent = send_text(ct, &c, text);
        reset_conn(&c);
        if (!sent)
            return;
    }
    struct line_conn c;
    int64_t total;
    if (open_conn(ct, &c) && send_text(ct, &c, "get x\n") &&
        read_total(ct, &c, &total, "get x after the others left") &&
        (total < 0 || total > LEAVERS))
        client_fail(ct, "get x gave %" PRId64 "; at most %d adds were sent",
                    total, LEAVERS);
    close_conn(&c);
}

START_TEST(clients_that_leave_with_gets_in_flight_cost_nothing)
{
    with_server(3, ask_and_leave);
}
END_TEST

#define BUSY_CONNS 3
#define ANSWERS_BEFORE_FREE 30

struct busy {
    atomic_int answers;
};

/* Keeps gets flowing on a connection in each loop, reading whatever
 * comes back, until the server closes them all. */
static void keep_asking(struct client_thread *ct)
{
    struct busy *b = ct->arg;
    struct line_conn c[BUSY_CONNS];
    bool open[BUSY_CONNS];
    int opened = 0, still_open = BUSY_CONNS;
    for (; opened < BUSY_CONNS; opened++) {
        if (!open_conn(ct, &c[opened]))
            goto out;
        open[opened] = true;
    }
    static const char text[] = "get x\nadd x 1\nget x\nget y\n";
    int64_t deadline = timestamp_mono_us() + 2LL * hang_guard_ms() * 1000;
    while (still_open > 0) {
        if (timestamp_mono_us() > deadline) {
            client_fail(ct,
                        "%d connections still open %d ms after the "
                        "first replies; the server was freed meanwhile",
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
                        atomic_fetch_add(&b->answers, 1);
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
    while (opened-- > 0)
        close_conn(&c[opened]);
}

START_TEST(freeing_the_server_while_gets_are_in_flight)
{
    struct fixture f;
    fixture_start(&f, BUSY_CONNS);
    struct busy b = {0};
    struct client_thread ct;
    client_thread_start(&ct, f.loop, &f.addr, keep_asking, &b);
    run_until(f.loop, &b.answers, ANSWERS_BEFORE_FREE,
              "the first answers before freeing the server");
    counter_server_free(f.server); /* while gets travel between loops */
    client_thread_finish(&ct, 4 * hang_guard_ms());
    event_loop_free(f.loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 04.3 counter_server");
    TCase *tc = tcase_create("counter_server");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, a_get_counts_the_adds_before_it);
    tcase_add_test(tc, a_get_sums_the_adds_of_every_io_loop);
    tcase_add_test(tc, replies_keep_the_order_of_the_gets);
    tcase_add_test(tc, a_get_does_not_count_the_adds_after_it);
    tcase_add_test(tc, totals_only_grow_while_other_loops_add);
    tcase_add_test(tc, a_bad_line_closes_the_connection);
    tcase_add_test(tc, a_full_loop_drops_new_keys_and_counts_them);
    tcase_add_test(tc, clients_that_leave_with_gets_in_flight_cost_nothing);
    tcase_add_test(tc, freeing_the_server_while_gets_are_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
