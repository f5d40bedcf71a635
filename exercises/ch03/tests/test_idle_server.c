/* Exercise 03.3: an echo server that closes idle connections. Clients
 * stay silent, or talk in short rounds, and note when their connection
 * ended; the tests check that no connection was closed before its time,
 * that input keeps only its own connection open, and that no timer is
 * left once a connection is gone. */
#include "exercise_net.h"
#include "idle_server.h"

#include "base/timestamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The timeout of the tests where a connection is left silent. */
#define SHORT_IDLE_US 200000
/* The timeout of the tests where a connection talks, and the pause
 * between its rounds: a tenth of it, so that a loop slowed down by a
 * busy machine does not make a talking connection look idle. */
#define TALK_IDLE_US 400000
#define TALK_PAUSE_US 40000
/* Rounds a talking client makes: well past its timeout in all. */
#define TALK_ROUNDS 25
/* Most rounds a talking client makes while it waits for a silent one to
 * be closed: only a hang stops it. */
#define TALK_ROUNDS_MAX 100
/* A timeout no test lasts. */
#define LONG_IDLE_US (60 * 1000000LL)
/* Clients of the test that frees the server. */
#define HELD 3

struct fixture {
    struct event_loop *loop;
    struct idle_server *server;
    struct inet_address addr;
};

static void fixture_start(struct fixture *f, int64_t idle_timeout_us)
{
    f->loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    f->server = idle_server_new(f->loop, &any_port, idle_timeout_us);
    ck_assert_msg(f->server != NULL, "idle_server_new: %s", strerror(errno));
    ck_assert_int_eq(idle_server_start(f->server), 0);
    ck_assert_int_eq(idle_server_listen_address(f->server, &f->addr), 0);
    ck_assert_uint_ne(inet_address_port(&f->addr), 0);
}

static void fixture_talk(struct fixture *f, void (*fn)(struct client_thread *),
                         void *arg)
{
    struct client_thread ct;
    client_thread_start(&ct, f->loop, &f->addr, fn, arg);
    client_thread_finish(&ct, CLIENT_FINISH_MS);
}

static void fixture_stop(struct fixture *f)
{
    idle_server_free(f->server);
    event_loop_free(f->loop);
    expect_no_fd_left();
}

static bool no_connection_left(void *arg)
{
    return idle_server_connections(arg) == 0;
}

/* Waits until the server has seen every connection go down, then checks
 * that it left no timer behind and counted closed_idle of them idle. */
static void expect_all_gone(struct fixture *f, uint64_t closed_idle,
                            const char *after)
{
    run_loop_until_true(f->loop, no_connection_left, f->server,
                        "idle_server_connections() to become 0");
    size_t timers = event_loop_timer_count(f->loop);
    ck_assert_msg(timers == 0,
                  "after %s: every connection is down, but %zu timer(s) "
                  "still pending in the loop",
                  after, timers);
    uint64_t idle = idle_server_closed_idle(f->server);
    ck_assert_msg(idle == closed_idle,
                  "after %s: idle_server_closed_idle() is %llu, expected "
                  "%llu",
                  after, (unsigned long long)idle,
                  (unsigned long long)closed_idle);
}

/* The client saw its connection end at end_us; it had sent its last
 * input (or connected) at start_us. */
static void check_not_early(struct client_thread *ct, const char *what,
                            int64_t start_us, int64_t end_us,
                            int64_t timeout_us)
{
    if (end_us - start_us < timeout_us)
        client_fail(ct, "%s was closed %lld ms after its last input, "
                        "before its idle timeout of %lld ms",
                    what, (long long)(end_us - start_us) / 1000,
                    (long long)timeout_us / 1000);
}

/* --- echo -------------------------------------------------------------- */

static void echo_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    if (client_exchange(ct, fd, "hello\n", "hello\n"))
        client_exchange(ct, fd, "again", "again");
    close(fd);
}

START_TEST(echoes_what_it_receives)
{
    struct fixture f;
    fixture_start(&f, LONG_IDLE_US);
    fixture_talk(&f, echo_client, NULL);
    expect_all_gone(&f, 0, "a client that talked and left");
    fixture_stop(&f);
}
END_TEST

/* --- idle connections -------------------------------------------------- */

static void silent_client(struct client_thread *ct)
{
    int64_t start = timestamp_mono_us(); /* before the server can see it */
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    long n = client_drain_to_end(ct, fd, "connecting and saying nothing");
    int64_t end = timestamp_mono_us();
    if (n > 0)
        client_fail(ct, "a silent client received %ld bytes", n);
    else if (n == 0)
        check_not_early(ct, "a silent connection", start, end,
                        SHORT_IDLE_US);
    close(fd);
}

START_TEST(silent_connection_is_closed_once_its_time_has_passed)
{
    struct fixture f;
    fixture_start(&f, SHORT_IDLE_US);
    fixture_talk(&f, silent_client, NULL);
    expect_all_gone(&f, 1, "a silent connection's end");
    fixture_stop(&f);
}
END_TEST

/* One round of talk: "ping N" and its echo. */
static bool talk(struct client_thread *ct, int fd, int round)
{
    char text[32];
    snprintf(text, sizeof text, "ping %d\n", round);
    return client_exchange(ct, fd, text, text);
}

static void talking_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    int64_t last = 0;
    int round;
    for (round = 0; round < TALK_ROUNDS; round++) {
        last = timestamp_mono_us();
        if (!talk(ct, fd, round))
            break;
        usleep(TALK_PAUSE_US);
    }
    if (round == TALK_ROUNDS) {
        /* Open for 2.5 timeouts; now silent, it must go in turn. */
        long n = client_drain_to_end(ct, fd, "the last round of talk");
        if (n == 0)
            check_not_early(ct, "a connection that stopped talking", last,
                            timestamp_mono_us(), TALK_IDLE_US);
    }
    close(fd);
}

START_TEST(talking_connection_stays_open_until_it_falls_silent)
{
    struct fixture f;
    fixture_start(&f, TALK_IDLE_US);
    fixture_talk(&f, talking_client, NULL);
    expect_all_gone(&f, 1, "a connection that talked, then fell silent");
    fixture_stop(&f);
}
END_TEST

/* True when fd has ended (end of file or reset); fails the client if
 * bytes come instead. Does not wait. */
static bool has_ended(struct client_thread *ct, int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n > 0)
        client_fail(ct, "a silent client received bytes");
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* The talker goes on until the silent one has been closed, then falls
 * silent itself. */
static void talk_beside_a_silent_one(struct client_thread *ct, int talker,
                                     int silent, int64_t silent_start)
{
    bool silent_ended = false;
    int round;
    for (round = 0; round < TALK_ROUNDS_MAX && !silent_ended; round++) {
        if (!talk(ct, talker, round))
            return;
        usleep(TALK_PAUSE_US);
        silent_ended = has_ended(ct, silent);
        if (silent_ended)
            check_not_early(ct, "a silent connection", silent_start,
                            timestamp_mono_us(), TALK_IDLE_US);
    }
    if (!silent_ended) {
        client_fail(ct, "a silent connection stayed open for %d rounds "
                        "of talk on another connection (%lld ms, idle "
                        "timeout %lld ms)",
                    round,
                    (long long)(timestamp_mono_us() - silent_start) / 1000,
                    (long long)TALK_IDLE_US / 1000);
        return;
    }
    int64_t last = timestamp_mono_us();
    if (talk(ct, talker, round) &&
        client_drain_to_end(ct, talker, "the last round of talk") == 0)
        check_not_early(ct, "a connection that stopped talking", last,
                        timestamp_mono_us(), TALK_IDLE_US);
}

static void talking_and_silent_clients(struct client_thread *ct)
{
    int talker = client_connect(ct);
    int64_t silent_start = timestamp_mono_us();
    int silent = client_connect(ct);
    if (talker >= 0 && silent >= 0)
        talk_beside_a_silent_one(ct, talker, silent, silent_start);
    if (talker >= 0)
        close(talker);
    if (silent >= 0)
        close(silent);
}

START_TEST(input_keeps_only_its_own_connection_open)
{
    struct fixture f;
    fixture_start(&f, TALK_IDLE_US);
    fixture_talk(&f, talking_and_silent_clients, NULL);
    expect_all_gone(&f, 2, "a silent connection and a talking one");
    fixture_stop(&f);
}
END_TEST

/* --- what a connection leaves behind ------------------------------------ */

START_TEST(connection_closed_by_its_client_leaves_no_timer)
{
    struct fixture f;
    fixture_start(&f, LONG_IDLE_US);
    fixture_talk(&f, echo_client, NULL);
    /* The timer of a 60 s timeout would still be pending, holding on to
     * the connection, unless the down callback cancelled it. */
    expect_all_gone(&f, 0, "a client that closed its connection");
    fixture_stop(&f);
}
END_TEST

struct held {
    int fds[HELD];
};

static void connect_held(struct client_thread *ct)
{
    struct held *h = ct->arg;
    for (int i = 0; i < HELD; i++) {
        h->fds[i] = client_connect(ct);
        if (h->fds[i] < 0 || !talk(ct, h->fds[i], i))
            return;
    }
}

static void expect_ends(struct client_thread *ct)
{
    struct held *h = ct->arg;
    for (int i = 0; i < HELD; i++) {
        if (h->fds[i] < 0)
            continue;
        long n = ct->error[0] != '\0'
                     ? 0 /* one failure says it all: no more waiting */
                     : client_drain_to_end(ct, h->fds[i],
                                           "idle_server_free()");
        if (n > 0)
            client_fail(ct, "%ld bytes after idle_server_free()", n);
        close(h->fds[i]);
    }
}

START_TEST(server_freed_with_connections_open_leaves_no_timer)
{
    struct fixture f;
    fixture_start(&f, LONG_IDLE_US);
    struct held h;
    for (int i = 0; i < HELD; i++)
        h.fds[i] = -1;
    fixture_talk(&f, connect_held, &h);
    size_t open = idle_server_connections(f.server);
    size_t timers = event_loop_timer_count(f.loop);
    ck_assert_msg(open == HELD && timers == HELD,
                  "%d clients connected: expected %d connections and %d "
                  "timers, found %zu and %zu",
                  HELD, HELD, HELD, open, timers);
    idle_server_free(f.server);
    f.server = NULL;
    fixture_talk(&f, expect_ends, &h); /* the loop runs their ends */
    timers = event_loop_timer_count(f.loop);
    ck_assert_msg(timers == 0,
                  "the server was freed and its clients saw their "
                  "connections end, but %zu timer(s) are still pending",
                  timers);
    event_loop_free(f.loop);
    expect_no_fd_left();
}
END_TEST

START_TEST(timeout_below_the_minimum_is_refused)
{
    struct event_loop *loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    errno = 0;
    struct idle_server *s =
        idle_server_new(loop, &any_port, IDLE_SERVER_MIN_TIMEOUT_US - 1);
    ck_assert_msg(s == NULL && errno == EINVAL,
                  "idle_server_new(timeout %d us): expected NULL and "
                  "EINVAL, got %p and errno %d",
                  IDLE_SERVER_MIN_TIMEOUT_US - 1, (void *)s, errno);
    event_loop_free(loop);
    expect_no_fd_left();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 03.3 idle server");
    TCase *tc = exercise_tcase("idle_server");
    tcase_add_test(tc, echoes_what_it_receives);
    tcase_add_test(tc, silent_connection_is_closed_once_its_time_has_passed);
    tcase_add_test(tc, talking_connection_stays_open_until_it_falls_silent);
    tcase_add_test(tc, input_keeps_only_its_own_connection_open);
    tcase_add_test(tc, connection_closed_by_its_client_leaves_no_timer);
    tcase_add_test(tc, server_freed_with_connections_open_leaves_no_timer);
    tcase_add_test(tc, timeout_below_the_minimum_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
