/* Exercise 03.2: a server that serves at most N clients at once. Clients
 * go in phases (connect, then talk, then leave), and between phases the
 * test reads the server's counts in the loop's thread. */
#include "exercise_net.h"
#include "limit_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The limit most tests give the server. */
#define LIMIT 3
/* Refused clients that come and go one after another. */
#define REFUSED_IN_A_ROW 5
/* Bytes a refused client sends before it reads its reply. */
#define REFUSED_CLIENT_BYTES ((size_t)64 * 1024)
/* Most clients a test holds at once. */
#define MAX_HELD 8

struct fixture {
    struct event_loop *loop;
    struct limit_server *server;
    struct inet_address addr;
};

static void fixture_start(struct fixture *f, size_t max_clients)
{
    f->loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    f->server = limit_server_new(f->loop, &any_port, max_clients);
    ck_assert_msg(f->server != NULL, "limit_server_new: %s",
                  strerror(errno));
    ck_assert_int_eq(limit_server_start(f->server), 0);
    ck_assert_int_eq(limit_server_listen_address(f->server, &f->addr), 0);
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
    limit_server_free(f->server);
    event_loop_free(f->loop);
    expect_no_fd_left();
}

struct served_wait {
    struct limit_server *server;
    size_t want;
};

static bool served_reached(void *arg)
{
    struct served_wait *w = arg;
    return limit_server_served(w->server) == w->want;
}

/* Runs the loop until the server counts want connections served. */
static void wait_served(struct fixture *f, size_t want)
{
    struct served_wait w = {f->server, want};
    char what[96];
    snprintf(what, sizeof what, "limit_server_served() to become %zu",
             want);
    run_loop_until_true(f->loop, served_reached, &w, what);
}

/* Checks both counts, saying after what. */
static void expect_counts(struct fixture *f, size_t served, uint64_t refused,
                          const char *after)
{
    size_t now_served = limit_server_served(f->server);
    uint64_t now_refused = limit_server_refused(f->server);
    ck_assert_msg(now_served == served && now_refused == refused,
                  "after %s: expected %zu served and %llu refused, the "
                  "server counts %zu served and %llu refused",
                  after, served, (unsigned long long)refused, now_served,
                  (unsigned long long)now_refused);
}

/* Clients held open across phases: fds[first..n) are the ones a phase
 * works on. */
struct held {
    int fds[MAX_HELD];
    int n;
    int first;
};

static bool echo_once(struct client_thread *ct, int fd, int i)
{
    char text[32];
    snprintf(text, sizeof text, "client %d\n", i);
    return client_exchange(ct, fd, text, text);
}

/* Connects clients first..n, all of them, then checks each is echoed:
 * they are served at the same time. */
static void connect_served(struct client_thread *ct)
{
    struct held *h = ct->arg;
    for (int i = h->first; i < h->n; i++)
        if ((h->fds[i] = client_connect(ct)) < 0)
            return;
    for (int i = h->first; i < h->n; i++)
        if (!echo_once(ct, h->fds[i], i))
            return;
}

/* Each held client is echoed once more, then leaves. */
static void echo_and_leave(struct client_thread *ct)
{
    struct held *h = ct->arg;
    for (int i = h->first; i < h->n; i++)
        if (h->fds[i] >= 0 && !echo_once(ct, h->fds[i], i))
            break;
    for (int i = h->first; i < h->n; i++)
        if (h->fds[i] >= 0)
            close(h->fds[i]);
}

/* A client that the server must refuse: the reply, then the end. */
static void one_refused(struct client_thread *ct, size_t send_first)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    bool ok = true;
    if (send_first > 0) {
        char *junk = malloc(send_first);
        if (junk == NULL)
            abort();
        memset(junk, 'j', send_first);
        ok = client_write_all(ct, fd, junk, send_first);
        free(junk);
    }
    if (ok && client_expect(ct, fd, LIMIT_SERVER_FULL_REPLY,
                            "connecting to a full server"))
        client_expect_eof(ct, fd, "the refusal");
    close(fd);
}

static void refused_client(struct client_thread *ct)
{
    one_refused(ct, 0);
}

static void refused_client_that_talks(struct client_thread *ct)
{
    one_refused(ct, REFUSED_CLIENT_BYTES);
}

static void refused_in_a_row(struct client_thread *ct)
{
    for (int i = 0; i < REFUSED_IN_A_ROW && ct->error[0] == '\0'; i++)
        one_refused(ct, 0);
}

START_TEST(serves_up_to_the_limit_at_once)
{
    struct fixture f;
    fixture_start(&f, LIMIT);
    struct held h = {.n = LIMIT};
    fixture_talk(&f, connect_served, &h);
    expect_counts(&f, LIMIT, 0, "as many clients as the limit");
    fixture_talk(&f, echo_and_leave, &h);
    wait_served(&f, 0);
    fixture_stop(&f);
}
END_TEST

START_TEST(client_over_the_limit_is_told_then_closed_in_order)
{
    struct fixture f;
    fixture_start(&f, LIMIT);
    struct held h = {.n = LIMIT};
    fixture_talk(&f, connect_served, &h);
    fixture_talk(&f, refused_client, NULL);
    expect_counts(&f, LIMIT, 1, "one client refused, then gone");
    fixture_talk(&f, echo_and_leave, &h); /* still served */
    wait_served(&f, 0);
    fixture_stop(&f);
}
END_TEST

START_TEST(refused_client_is_never_echoed)
{
    struct fixture f;
    fixture_start(&f, 1);
    struct held h = {.n = 1};
    fixture_talk(&f, connect_served, &h);
    fixture_talk(&f, refused_client_that_talks, NULL);
    expect_counts(&f, 1, 1, "one client refused, then gone");
    fixture_talk(&f, echo_and_leave, &h);
    wait_served(&f, 0);
    fixture_stop(&f);
}
END_TEST

START_TEST(place_given_back_goes_to_the_next_client)
{
    struct fixture f;
    fixture_start(&f, LIMIT);
    struct held h = {.n = LIMIT};
    fixture_talk(&f, connect_served, &h);
    struct held first = {.fds = {h.fds[0]}, .n = 1};
    fixture_talk(&f, echo_and_leave, &first);
    h.fds[0] = -1;
    wait_served(&f, LIMIT - 1);
    struct held next = {.n = 1};
    fixture_talk(&f, connect_served, &next);
    expect_counts(&f, LIMIT, 0, "a client gone and another come");
    fixture_talk(&f, echo_and_leave, &next);
    fixture_talk(&f, echo_and_leave, &h);
    wait_served(&f, 0);
    fixture_stop(&f);
}
END_TEST

START_TEST(refused_clients_neither_take_nor_give_back_places)
{
    struct fixture f;
    fixture_start(&f, 1);
    struct held h = {.n = 1};
    fixture_talk(&f, connect_served, &h);
    /* Each of these closes before the next connects: a server that
     * counts their ends as places given back serves the next one. */
    fixture_talk(&f, refused_in_a_row, NULL);
    fixture_talk(&f, refused_client, NULL);
    expect_counts(&f, 1, REFUSED_IN_A_ROW + 1,
                  "clients refused one after another");
    fixture_talk(&f, echo_and_leave, &h);
    wait_served(&f, 0);
    fixture_stop(&f);
}
END_TEST

static void expect_ends(struct client_thread *ct)
{
    struct held *h = ct->arg;
    for (int i = 0; i < h->n; i++) {
        client_expect_eof(ct, h->fds[i], "limit_server_free()");
        close(h->fds[i]);
    }
}

START_TEST(server_freed_with_clients_open_closes_them)
{
    struct fixture f;
    fixture_start(&f, 2);
    struct held h = {.n = 2};
    fixture_talk(&f, connect_served, &h);
    limit_server_free(f.server);
    f.server = NULL;
    fixture_talk(&f, expect_ends, &h);
    event_loop_free(f.loop);
    expect_no_fd_left();
}
END_TEST

START_TEST(limit_of_zero_is_refused)
{
    struct event_loop *loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    errno = 0;
    struct limit_server *s = limit_server_new(loop, &any_port, 0);
    ck_assert_msg(s == NULL && errno == EINVAL,
                  "limit_server_new(max_clients 0): expected NULL and "
                  "EINVAL, got %p and errno %d",
                  (void *)s, errno);
    event_loop_free(loop);
    expect_no_fd_left();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 03.2 limit server");
    TCase *tc = exercise_tcase("limit_server");
    tcase_add_test(tc, serves_up_to_the_limit_at_once);
    tcase_add_test(tc, client_over_the_limit_is_told_then_closed_in_order);
    tcase_add_test(tc, refused_client_is_never_echoed);
    tcase_add_test(tc, place_given_back_goes_to_the_next_client);
    tcase_add_test(tc, refused_clients_neither_take_nor_give_back_places);
    tcase_add_test(tc, server_freed_with_clients_open_closes_them);
    tcase_add_test(tc, limit_of_zero_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
