/* The broker against redis-server 7.0.15, byte for byte: the commands
 * around publish and subscribe. PING and ECHO in and out of subscribed
 * context, the subscribed-context error, QUIT and RESET, unknown commands
 * and subcommands with their argument previews, the arity errors, HELLO,
 * CLIENT, SELECT, CONFIG GET, COMMAND and INFO (see redis_pair.h for how
 * a scenario runs). Values that are legitimately the broker's own (a
 * client id, COMMAND COUNT, INFO's figures) are compared by type only. */
#include "test_support.h"

#include "redis_pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD REDIS_PAIR_CMD
#define RAW REDIS_PAIR_RAW
#define RUN(steps) redis_pair_run(&pair, steps, sizeof steps / sizeof steps[0])
/* HELLO's reply: its 9th value (after "id") is the client id, which
 * each server counts its own way. */
#define HELLO_ID 9

static struct redis_pair pair;

static void start_pair(void)
{
    redis_pair_start(&pair, NULL);
}

static void stop_pair(void)
{
    redis_pair_stop(&pair);
}

START_TEST(ping_and_echo_in_and_out_of_subscribed_context)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "ping", 1),
        CMD(0, "ping hi", 1),
        CMD(0, "ping a b", 1),
        CMD(0, "ping ''", 1),
        RAW(0, "*2\r\n$4\r\nping\r\n$4\r\na\0\r\n\r\n", 1),
        CMD(0, "echo x", 1),
        CMD(0, "echo ''", 1),
        CMD(0, "echo", 1),
        CMD(0, "echo a b", 1),
        CMD(0, "subscribe c", 1),
        /* A RESP2 subscriber reads pushes only: PING answers as one. */
        CMD(0, "ping", 1),
        CMD(0, "ping hi", 1),
        CMD(0, "ping a b", 1),
        /* Then only the subscribe commands, PING, QUIT and RESET. */
        CMD(0, "echo x", 1),
        CMD(0, "publish c x", 1),
        CMD(0, "spublish c x", 1),
        CMD(0, "pubsub numpat", 1),
        CMD(0, "pubsub channels", 1),
        CMD(0, "client id", 1),
        CMD(0, "client setname x", 1),
        CMD(0, "select 0", 1),
        CMD(0, "config get save", 1),
        CMD(0, "command count", 1),
        CMD(0, "info", 1),
        CMD(0, "auth x", 1),
        CMD(0, "hello 2", 1),
        /* An unknown command, an unknown subcommand and a wrong number of
         * arguments are told before the context is. */
        CMD(0, "foo", 1),
        CMD(0, "client foo", 1),
        CMD(0, "publish c", 1),
        CMD(0, "psubscribe p", 1),
        CMD(0, "ssubscribe s", 1),
        CMD(0, "quit", 1, .closes = true),
    };
    RUN(steps);
}
END_TEST

START_TEST(quit_and_reset)
{
    static const struct redis_pair_step steps[] = {
        /* Nothing after QUIT is read. */
        RAW(0, "QUIT\r\nPING\r\n", 1, .closes = true),
        CMD(1, "quit with args", 1, .closes = true),
        CMD(2, "subscribe a", 1),
        CMD(2, "psubscribe b*", 1),
        CMD(2, "ssubscribe c", 1),
        CMD(2, "client setname", 1),
        CMD(2, "reset", 1),
        CMD(2, "ping", 1),
        CMD(3, "pubsub numsub a", 1),
        CMD(3, "pubsub numpat", 1),
        CMD(3, "pubsub shardnumsub c", 1),
        CMD(2, "client setname me", 1),
        CMD(2, "RESET", 1),
        CMD(2, "client getname", 1),
        CMD(2, "reset x", 1),
        RAW(2, "*1\r\n$5\r\nreset\r\nPING\r\n", 2),
    };
    RUN(steps);
}
END_TEST

/* Redis's preview: the name and the arguments, each cut at 128 bytes
 * and at a NUL, the arguments together cut at 128 too, CR and LF as
 * spaces. */
START_TEST(unknown_commands_and_their_preview)
{
    char long_name[200 + 1];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char at[5][300];
    /* The arguments end exactly at, or just past, the 128 bytes. */
    snprintf(at[0], sizeof at[0], "foo %0126d b", 0);
    snprintf(at[1], sizeof at[1], "foo %0125d b", 0);
    snprintf(at[2], sizeof at[2], "foo %0124d bbbb", 0);
    snprintf(at[3], sizeof at[3], "foo %0123d bbbb c", 0);
    snprintf(at[4], sizeof at[4], "foo %0200d", 0);
    char many[300];
    snprintf(many, sizeof many, "foo %060d %060d %060d", 1, 2, 3);
    char long_sub[300];
    snprintf(long_sub, sizeof long_sub, "client %0200d", 0);
    const struct redis_pair_step steps[] = {
        CMD(0, "foo", 1),
        CMD(0, "foo a b", 1),
        CMD(0, "FOO ''", 1),
        CMD(0, "foo '' '' ''", 1),
        CMD(0, "foo %s %n %d", 1),
        CMD(0, "'' a", 1), /* an empty name */
        RAW(0, "*1\r\n$0\r\n\r\n", 1),
        RAW(0, "\"\" ''\r\n", 1),
        CMD(0, long_name, 1),
        CMD(0, at[0], 1),
        CMD(0, at[1], 1),
        CMD(0, at[2], 1),
        CMD(0, at[3], 1),
        CMD(0, at[4], 1),
        CMD(0, many, 1),
        RAW(0, "*3\r\n$3\r\nfoo\r\n$3\r\na\0b\r\n$1\r\nc\r\n", 1),
        RAW(0, "*2\r\n$3\r\nf\0o\r\n$1\r\nx\r\n", 1),
        RAW(0, "*2\r\n$5\r\nfo\r\no\r\n$1\r\nx\r\n", 1),
        RAW(0, "*2\r\n$3\r\nfoo\r\n$4\r\na\r\nb\r\n", 1),
        RAW(0, "foo bar 'baz qux'\r\n", 1),
        CMD(0, "PiNg", 1),
        /* Subcommands of the commands that have them. */
        CMD(0, "client foo", 1),
        CMD(0, "CLIENT Foo bar", 1),
        CMD(0, "client setinfo lib-name x", 1), /* 7.2's, not 7.0's */
        CMD(0, "config foo", 1),
        CMD(0, "command foo", 1),
        CMD(0, "pubsub foo", 1),
        CMD(0, long_sub, 1),
        RAW(0, "*2\r\n$6\r\nclient\r\n$3\r\na\0b\r\n", 1),
        RAW(0, "*2\r\n$6\r\nclient\r\n$4\r\na\r\nb\r\n", 1),
    };
    RUN(steps);
}
END_TEST

START_TEST(wrong_number_of_arguments)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "subscribe", 1),
        CMD(0, "psubscribe", 1),
        CMD(0, "ssubscribe", 1),
        CMD(0, "publish", 1),
        CMD(0, "publish a", 1),
        CMD(0, "publish a b c", 1),
        CMD(0, "spublish a", 1),
        CMD(0, "spublish a b c", 1),
        CMD(0, "pubsub", 1),
        CMD(0, "pubsub numpat x", 1),
        CMD(0, "pubsub help x", 1),
        CMD(0, "echo", 1),
        CMD(0, "reset x", 1),
        CMD(0, "auth", 1),
        CMD(0, "select", 1),
        CMD(0, "select 0 1", 1),
        CMD(0, "client", 1),
        CMD(0, "client id x", 1),
        CMD(0, "client getname x", 1),
        CMD(0, "client setname", 1),
        CMD(0, "client setname a b", 1),
        CMD(0, "config", 1),
        CMD(0, "config get", 1),
        CMD(0, "command count x", 1),
    };
    RUN(steps);
}
END_TEST

START_TEST(hello)
{
    char long_option[700];
    snprintf(long_option, sizeof long_option, "hello 2 %0600d", 0);
    const struct redis_pair_step steps[] = {
        CMD(0, "hello", 1, .mask = HELLO_ID),
        CMD(0, "hello 2", 1, .mask = HELLO_ID),
        CMD(0, "HELLO 2 SETNAME nm", 1, .mask = HELLO_ID),
        CMD(0, "client getname", 1),
        CMD(0, "hello 2 setname ''", 1, .mask = HELLO_ID),
        CMD(0, "client getname", 1),
        CMD(0, "hello 2 auth default anything", 1, .mask = HELLO_ID),
        CMD(0, "hello 2 auth bob x", 1),
        CMD(0, "hello 1", 1),
        CMD(0, "hello 0", 1),
        CMD(0, "hello -1", 1),
        CMD(0, "hello 4", 1),
        CMD(0, "hello 4 foo", 1),
        CMD(0, "hello 02", 1),
        CMD(0, "hello x", 1),
        CMD(0, "hello 99999999999999999999", 1),
        CMD(0, "hello 2 foo", 1),
        CMD(0, "hello 2 setname", 1),
        CMD(0, "hello 2 auth a", 1),
        CMD(0, "hello 2 setname a b", 1),
        RAW(0, "*4\r\n$5\r\nhello\r\n$1\r\n2\r\n$7\r\nsetname\r\n$3\r\na b\r\n", 1),
        /* Options take effect in order: the name is set, then the
         * syntax error stops the rest. */
        CMD(0, "hello 2 setname early foo", 1),
        CMD(0, "client getname", 1),
        RAW(0, "*3\r\n$5\r\nhello\r\n$1\r\n2\r\n$3\r\na\0b\r\n", 1),
        CMD(0, long_option, 1),
        /* RESP3 is not spoken here: HELLO 3 gets the error Redis gives a
         * version it does not know, where Redis 7 switches to RESP3. The
         * request fails whole, so nothing else changes. */
        {.conn = 0, .cmd = "hello 3", .replies = 1,
         .ours = "-NOPROTO unsupported protocol version\r\n"},
        {.conn = 0, .cmd = "hello 3 setname late", .replies = 1,
         .ours = "-NOPROTO unsupported protocol version\r\n"},
        CMD(0, "client getname", 1),
        CMD(0, "ping", 1),
    };
    RUN(steps);
}
END_TEST

START_TEST(client_names_and_ids)
{
    char long_name[300 + 1];
    snprintf(long_name, sizeof long_name, "client setname %0285d", 0);
    static const struct redis_pair_step fixed[] = {
        CMD(0, "client getname", 1),
        CMD(0, "client setname a", 1),
        CMD(0, "client getname", 1),
        CMD(0, "CLIENT SETNAME ''", 1),
        CMD(0, "client getname", 1),
        RAW(0, "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$3\r\na b\r\n", 1),
        RAW(0, "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$3\r\na\nb\r\n", 1),
        RAW(0, "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$1\r\n\x7f\r\n", 1),
        RAW(0, "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$2\r\n\xc3\xa9\r\n", 1),
        RAW(0, "*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$2\r\na\0\r\n", 1),
        CMD(0, "client getname", 1), /* still unnamed */
        CMD(0, "client setname !~", 1),
        CMD(0, "client getname", 1),
        CMD(0, "client id", 1, .mask = 1),
        CMD(0, "CLIENT ID", 1, .mask = 1),
    };
    RUN(fixed);
    const struct redis_pair_step named[] = {
        CMD(0, long_name, 1),
        CMD(0, "client getname", 1),
    };
    RUN(named);
}
END_TEST

START_TEST(select_config_and_command)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "select 0", 1),
        CMD(0, "select 15", 1),
        CMD(0, "select 16", 1),
        CMD(0, "select -1", 1),
        CMD(0, "select abc", 1),
        CMD(0, "select 01", 1),
        CMD(0, "select +1", 1),
        CMD(0, "select 2147483648", 1),
        CMD(0, "select -2147483649", 1),
        CMD(0, "select 99999999999999999999", 1),
        RAW(0, "*2\r\n$6\r\nselect\r\n$2\r\n 1\r\n", 1),
        /* The settings that clients ask for, in any case. */
        CMD(0, "config get save", 1),
        CMD(0, "config get appendonly", 1),
        CMD(0, "CONFIG GET SAVE", 1),
        CMD(0, "config get Save save", 1),
        CMD(0, "config get s?ve", 1),
        CMD(0, "config get [S]AVE", 1),
        CMD(0, "config get save appendonly", 1, .how = REDIS_PAIR_ELEMENTS,
            .group = 2),
        CMD(0, "config get nosuch", 1),
        CMD(0, "config get sav", 1),
        /* COMMAND COUNT counts our commands, not Redis's. */
        CMD(0, "command count", 1, .mask = 1),
    };
    RUN(steps);
}
END_TEST

/* INFO's content is the broker's own, but a client finds what it looks
 * for at the same place: the first section, and Redis's version. */
START_TEST(info_has_the_shape_of_redis_info)
{
    static const char head[] = "# Server\r\nredis_version:7.0.15\r\n";
    const enum redis_pair_side sides[] = {REDIS_PAIR_REDIS, REDIS_PAIR_BROKER};
    const char *const requests[] = {"info", "info server", "INFO all"};
    for (size_t i = 0; i < 2; i++) {
        struct redis_pair_client c = {.fd = redis_pair_connect(&pair, sides[i])};
        buffer_init(&c.in);
        for (size_t r = 0; r < sizeof requests / sizeof requests[0]; r++) {
            struct buffer req;
            struct buffer got;
            buffer_init(&req);
            buffer_init(&got);
            redis_pair_encode(requests[r], &req);
            ck_assert_int_eq(redis_pair_send(c.fd, buffer_peek(&req),
                                             buffer_readable(&req)),
                             0);
            redis_pair_read_replies(&c, 1, &got, "info");
            const char *text = buffer_peek(&got);
            const char *body = memchr(text, '\n', buffer_readable(&got));
            ck_assert_msg(text[0] == '$' && body != NULL &&
                              strncmp(body + 1, head, strlen(head)) == 0,
                          "side %zu, %s: no Redis INFO header", i, requests[r]);
            buffer_destroy(&req);
            buffer_destroy(&got);
        }
        redis_pair_expect_silence(&c, "info");
        buffer_destroy(&c.in);
        test_close(c.fd);
    }
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 compat: connection and server commands");
    TCase *tc = tcase_create("commands");
    tcase_add_unchecked_fixture(tc, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(tc);
    /* Added after the fd guard, so its teardown runs first. */
    tcase_add_checked_fixture(tc, start_pair, stop_pair);
    tcase_add_test(tc, ping_and_echo_in_and_out_of_subscribed_context);
    tcase_add_test(tc, quit_and_reset);
    tcase_add_test(tc, unknown_commands_and_their_preview);
    tcase_add_test(tc, wrong_number_of_arguments);
    tcase_add_test(tc, hello);
    tcase_add_test(tc, client_names_and_ids);
    tcase_add_test(tc, select_config_and_command);
    tcase_add_test(tc, info_has_the_shape_of_redis_info);
    suite_add_tcase(s, tc);
    return s;
}
