/* The broker against redis-server 7.0.15, byte for byte: AUTH and HELLO's
 * AUTH without a password and with one (requirepass), the NOAUTH errors
 * and what comes before them, RESET's return to unauthenticated, and the
 * stricter request limits before authentication. */
#include "test_support.h"

#include "redis_pair.h"

#include <stdlib.h>
#include <string.h>

#define CMD REDIS_PAIR_CMD
#define RAW REDIS_PAIR_RAW
#define RUN(steps) redis_pair_run(&pair, steps, sizeof steps / sizeof steps[0])
/* HELLO's reply: its 9th value (after "id") is the client id, which
 * each server counts its own way. */
#define HELLO_ID 9
#define PASSWORD "sekret"

static struct redis_pair pair;

static void start_open(void)
{
    redis_pair_start(&pair, NULL);
}

static void start_with_password(void)
{
    const struct redis_pair_options options = {.requirepass = PASSWORD};
    redis_pair_start(&pair, &options);
}

static void stop_pair(void)
{
    redis_pair_stop(&pair);
}

START_TEST(auth_without_a_password)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "auth x", 1),
        CMD(0, "auth default x", 1), /* the default user takes any */
        CMD(0, "auth default ''", 1),
        CMD(0, "auth bob x", 1),
        CMD(0, "auth a b c", 1),
        CMD(0, "auth", 1),
        CMD(0, "hello 2 auth default x", 1, .mask = HELLO_ID),
        CMD(0, "hello 2 auth bob x", 1),
        CMD(0, "ping", 1),
    };
    RUN(steps);
}
END_TEST

START_TEST(auth_with_a_password)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "ping", 1),
        CMD(0, "subscribe a", 1),
        CMD(0, "echo x", 1),
        CMD(0, "publish a b", 1),
        CMD(0, "pubsub channels", 1),
        CMD(0, "client id", 1),
        CMD(0, "client setname x", 1),
        CMD(0, "select 0", 1),
        CMD(0, "config get save", 1),
        CMD(0, "command count", 1),
        CMD(0, "info", 1),
        /* An unknown command or subcommand and a wrong number of
         * arguments are told first. */
        CMD(0, "foo", 1),
        CMD(0, "client foo", 1),
        CMD(0, "echo", 1),
        CMD(0, "auth", 1),
        CMD(0, "hello", 1),
        CMD(0, "hello 2", 1),
        CMD(0, "hello x", 1),
        CMD(0, "hello 2 foo", 1),
        CMD(0, "hello 2 auth default wrong", 1),
        CMD(0, "hello 2 auth bob " PASSWORD, 1),
        RAW(0, "*4\r\n$5\r\nhello\r\n$1\r\n2\r\n$7\r\nsetname\r\n$3\r\na b\r\n", 1),
        /* HELLO's options take effect as they are read: the name is set
         * before the NOAUTH. */
        CMD(0, "hello 2 setname early", 1),
        CMD(0, "auth wrong", 1),
        CMD(0, "auth bob " PASSWORD, 1),
        CMD(0, "auth default wrong", 1),
        CMD(0, "auth a b c", 1),
        CMD(0, "auth " PASSWORD, 1),
        CMD(0, "ping", 1),
        CMD(0, "client getname", 1),
        CMD(0, "auth wrong", 1), /* a failed AUTH leaves it authenticated */
        CMD(0, "ping", 1),
        /* RESET forgets the authentication and the name. */
        CMD(0, "reset", 1),
        CMD(0, "ping", 1),
        CMD(0, "auth default " PASSWORD, 1),
        CMD(0, "client getname", 1),
        CMD(0, "reset", 1),
        CMD(0, "hello 2 auth default " PASSWORD " foo", 1),
        CMD(0, "ping", 1), /* the AUTH option came first: authenticated */
        CMD(0, "reset", 1),
        CMD(0, "hello 2 auth default " PASSWORD " setname nm", 1,
            .mask = HELLO_ID),
        CMD(0, "client getname", 1),
        CMD(1, "quit", 1, .closes = true), /* QUIT needs no AUTH */
        CMD(2, "reset", 1),                /* nor does RESET */
        CMD(2, "ping", 1),
        /* Without RESP3, the broker refuses HELLO 3 before it looks at the
         * authentication (Redis answers NOAUTH there). */
        {.conn = 2, .cmd = "hello 3", .replies = 1,
         .ours = "-NOPROTO unsupported protocol version\r\n"},
    };
    RUN(steps);
}
END_TEST

/* Before AUTH a request may have 10 arguments and bulk strings of 16 KiB
 * at most; the first header past them is an error that closes. */
START_TEST(limits_before_auth)
{
    enum { UNAUTH_BULK = 16384 };
    struct buffer bulk;
    buffer_init(&bulk);
    char head[32];
    snprintf(head, sizeof head, "*1\r\n$%d\r\n", UNAUTH_BULK);
    ck_assert_int_eq(buffer_append(&bulk, head, strlen(head)), 0);
    char *text = malloc(UNAUTH_BULK);
    ck_assert_ptr_nonnull(text);
    memset(text, 'a', UNAUTH_BULK);
    ck_assert_int_eq(buffer_append(&bulk, text, UNAUTH_BULK), 0);
    ck_assert_int_eq(buffer_append(&bulk, "\r\n", 2), 0);
    free(text);
    const struct redis_pair_step steps[] = {
        RAW(0, "*11\r\n", 1, .closes = true),
        RAW(0, "*1\r\n$16385\r\n", 1, .closes = true),
        /* The general limits come first. */
        RAW(0, "*2147483648\r\n", 1, .closes = true),
        RAW(0, "*1\r\n$536870913\r\n", 1, .closes = true),
        /* At the limits: parsed, then refused as unauthenticated. */
        RAW(0, "*10\r\n$4\r\nping\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
               "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
               "$1\r\na\r\n",
            1),
        {.conn = 0, .raw = buffer_peek(&bulk),
         .raw_len = buffer_readable(&bulk), .replies = 1},
        RAW(0, "AUTH " PASSWORD "\r\n", 1),
        /* Authenticated: the general limits only. */
        RAW(0, "*11\r\n$4\r\nping\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
               "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
               "$1\r\na\r\n$1\r\na\r\n",
            1),
        RAW(0, "*2\r\n$4\r\necho\r\n$16385\r\n", 0),
        RAW(0, "x", 0),
        {.conn = 0, .raw = buffer_peek(&bulk) + strlen(head),
         .raw_len = UNAUTH_BULK + 2, .replies = 1},
        RAW(0, "RESET\r\n", 1),
        RAW(0, "*11\r\n", 1, .closes = true),
    };
    RUN(steps);
    buffer_destroy(&bulk);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 compat: authentication");
    TCase *open = tcase_create("no password");
    tcase_add_unchecked_fixture(open, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(open);
    /* Added after the fd guard, so its teardown runs first. */
    tcase_add_checked_fixture(open, start_open, stop_pair);
    tcase_add_test(open, auth_without_a_password);
    suite_add_tcase(s, open);
    TCase *closed = tcase_create("password");
    tcase_add_unchecked_fixture(closed, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(closed);
    tcase_add_checked_fixture(closed, start_with_password, stop_pair);
    tcase_add_test(closed, auth_with_a_password);
    tcase_add_test(closed, limits_before_auth);
    suite_add_tcase(s, closed);
    return s;
}
