/* The broker against redis-server 7.0.15, byte for byte: the protocol
 * itself. Every error of the request parser (the error, then the close),
 * inline requests with their quotes, the requests that make no command,
 * pipelines, requests cut at every byte, and the refusal past the
 * maximum number of clients. */
#include "test_support.h"

#include "redis_pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD REDIS_PAIR_CMD
#define RAW REDIS_PAIR_RAW
#define READ REDIS_PAIR_READ
#define RUN(steps) redis_pair_run(&pair, steps, sizeof steps / sizeof steps[0])
/* Longest line without its end that both servers wait for. */
#define INLINE_MAX 65536
#define MAX_CLIENTS 2

static struct redis_pair pair;

static void start_open(void)
{
    redis_pair_start(&pair, NULL);
}

static void start_with_max_clients(void)
{
    const struct redis_pair_options options = {.max_clients = MAX_CLIENTS};
    redis_pair_start(&pair, &options);
}

static void stop_pair(void)
{
    redis_pair_stop(&pair);
}

/* Each refused request: the error, then the close (the connection is
 * opened again for the next). */
#define BAD(bytes) RAW(0, bytes, 1, .closes = true)

START_TEST(protocol_errors_close)
{
    static const struct redis_pair_step steps[] = {
        BAD("*2147483648\r\n"),
        BAD("*-0\r\n"),
        BAD("*\r\n"),
        BAD("*+1\r\n"),
        BAD("*01\r\n"),
        BAD("* 1\r\n"),
        BAD("*1 \r\n"),
        BAD("*99999999999999999999\r\n"),
        BAD("*-9223372036854775809\r\n"),
        BAD("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
        BAD("*1\r\nPING\r\n"),
        BAD("*1\r\n\r\n"),
        BAD("*1\r\n\n\r\n"),
        BAD("*1\r\n\xff\r\n"),
        BAD("*1\r\n$-1\r\n"),
        BAD("*1\r\n$\r\n"),
        BAD("*1\r\n$00\r\n"),
        BAD("*1\r\n$-0\r\n"),
        BAD("*1\r\n$1 \r\n"),
        BAD("*1\r\n$536870913\r\n"),
        BAD("ECHO \"ab\r\n"),
        BAD("ECHO 'ab\r\n"),
        BAD("ECHO \"ab\"c\r\n"),
        BAD("ECHO 'ab'c\r\n"),
        BAD("ECHO x'\r\n"),
        BAD("ECHO \"a\\\"\r\n"),
        /* What came before the error is answered; nothing after it. */
        RAW(0, "PING\r\nECHO \"\r\nPING\r\n", 2, .closes = true),
        RAW(0, "PING\r\n*1\r\nx\r\nPING\r\n", 2, .closes = true),
        /* A protocol error in subscribed context is the same error. */
        CMD(0, "subscribe a", 1),
        BAD("*1\r\n$x\r\n"),
    };
    RUN(steps);
}
END_TEST

/* An HTTP request sent to the broker by a web page must not run: POST
 * and "Host:" close the connection at once, without a reply (and drop
 * what was still to be sent in that batch). */
START_TEST(http_requests_close_at_once)
{
    static const struct redis_pair_step steps[] = {
        RAW(0, "POST / HTTP/1.1\r\nHost: x\r\n\r\nPUBLISH a b\r\n", 0,
            .closes = true),
        RAW(0, "Host: x\r\n", 0, .closes = true),
        CMD(0, "post x", 0, .closes = true),
        CMD(0, "HOST:", 0, .closes = true),
        RAW(0, "PING\r\nPOST / HTTP/1.1\r\n", 0, .closes = true),
        CMD(0, "subscribe a", 1),
        CMD(0, "post", 0, .closes = true),
        CMD(0, "posts", 1), /* the names exactly */
    };
    RUN(steps);
}
END_TEST

/* A line longer than the limit without its end: its own error. */
START_TEST(too_long_lines_close)
{
    char *line = malloc(INLINE_MAX + 8);
    ck_assert_ptr_nonnull(line);
    memset(line, '1', INLINE_MAX + 8);
    line[0] = 'a'; /* an inline request */
    char *mbulk = malloc(INLINE_MAX + 8);
    ck_assert_ptr_nonnull(mbulk);
    memset(mbulk, '1', INLINE_MAX + 8);
    mbulk[0] = '*';
    char *bulk = malloc(INLINE_MAX + 8);
    ck_assert_ptr_nonnull(bulk);
    memset(bulk, '1', INLINE_MAX + 8);
    memcpy(bulk, "*1\r\n$", 5);
    const struct redis_pair_step steps[] = {
        /* At the limit both wait; one byte more is too many (below). */
        {.conn = 1, .raw = line, .raw_len = INLINE_MAX},
        {.conn = 0, .raw = line, .raw_len = INLINE_MAX + 1, .replies = 1,
         .closes = true},
        {.conn = 0, .raw = mbulk, .raw_len = INLINE_MAX + 2, .replies = 1,
         .closes = true},
        {.conn = 0, .raw = bulk, .raw_len = INLINE_MAX + 8, .replies = 1,
         .closes = true},
        {.conn = 1, .raw = "1", .raw_len = 1, .replies = 1, .closes = true},
        /* A NUL hides the end of its line: both wait, up to the limit. */
        RAW(2, "PI\0NG\r\nPING\r\n", 0),
        {.conn = 2, .raw = line, .raw_len = INLINE_MAX, .replies = 1,
         .closes = true},
        RAW(3, "*1\0\r\n$4\r\nPING\r\n", 0),
        {.conn = 3, .raw = line, .raw_len = INLINE_MAX, .replies = 1,
         .closes = true},
    };
    RUN(steps);
    free(line);
    free(mbulk);
    free(bulk);
}
END_TEST

START_TEST(inline_requests)
{
    static const struct redis_pair_step steps[] = {
        RAW(0, "PING\r\n", 1),
        RAW(0, "ping\n", 1),
        RAW(0, "PING\r\r\n", 1),
        RAW(0, "PING \"a b\"\r\n", 1),
        RAW(0, "PING 'c d'\r\n", 1),
        RAW(0, "PING \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n", 1),
        RAW(0, "PING \"\\x41\\x6a\\x4A\"\r\n", 1),
        RAW(0, "PING \"\\xZZ\"\r\n", 1),
        RAW(0, "PING 'a\\'b\\n'\r\n", 1),
        RAW(0, "PING a\\nb\r\n", 1),
        RAW(0, "PING a\"b c\"\r\n", 1),
        RAW(0, "PING \"\"\r\n", 1),
        RAW(0, "PING ''\r\n", 1),
        RAW(0, "PING a\vb\r\n", 1),
        RAW(0, "PING \"x\"\vy\r\n", 1),
        RAW(0, "   \t PUBLISH  ch   hello \r\n", 1),
        RAW(0, "ECHO \"a b\" 'c d'\r\n", 1),
        /* Redis skips the byte after a header's CR and the two after a
         * bulk string unread. */
        RAW(0, "*1\rX$4\r\nPINGxx", 1),
        RAW(0, "*1\r\n$4\rxPINGxy", 1),
        /* Inline and multibulk mixed, and in subscribed context. */
        RAW(0, "SUBSCRIBE a 'b c'\r\n", 2),
        RAW(0, "PING\r\n*1\r\n$4\r\nPING\r\n", 2),
        RAW(0, "UNSUBSCRIBE\r\n", 2, .how = REDIS_PAIR_ANY_ORDER,
            .in_order = 4),
    };
    RUN(steps);
}
END_TEST

/* An empty line, blanks, *0 and a negative count make no command: the
 * next PING's answer is the first thing either server sends. */
START_TEST(requests_that_make_no_command)
{
    static const struct redis_pair_step steps[] = {
        RAW(0, "\r\n", 0),
        RAW(0, "\n", 0),
        RAW(0, "   \r\n", 0),
        RAW(0, "\t \t\n", 0),
        RAW(0, "*0\r\n", 0),
        RAW(0, "*-1\r\n", 0),
        RAW(0, "*-10\r\n", 0),
        RAW(0, "*-9223372036854775808\r\n", 0),
        RAW(0, "PING\r\n", 1),
        RAW(0, "\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n\r\n*0\r\nPING\r\n", 2),
    };
    RUN(steps);
}
END_TEST

/* Many requests in one write, answered in order. */
START_TEST(pipelines)
{
    enum { ROUNDS = 100 };
    struct buffer one;
    struct buffer publishes;
    buffer_init(&one);
    buffer_init(&publishes);
    for (int i = 0; i < ROUNDS; i++) {
        char text[64];
        int n = snprintf(text, sizeof text, "PING\r\nECHO %d\r\n", i);
        ck_assert_int_eq(buffer_append(&one, text, (size_t)n), 0);
        redis_pair_encode("ping x", &one);
        redis_pair_encode("foo", &one);
        n = snprintf(text, sizeof text, "publish news %d", i);
        redis_pair_encode(text, &publishes);
    }
    redis_pair_encode("subscribe a b", &one);
    redis_pair_encode("ping", &one);
    redis_pair_encode("echo x", &one);
    redis_pair_encode("unsubscribe a", &one);
    redis_pair_encode("unsubscribe b", &one);
    redis_pair_encode("ping", &one);
    const struct redis_pair_step steps[] = {
        {.conn = 0, .raw = buffer_peek(&one), .raw_len = buffer_readable(&one),
         .replies = ROUNDS * 4 + 7},
        CMD(1, "subscribe news", 1),
        {.conn = 0, .raw = buffer_peek(&publishes),
         .raw_len = buffer_readable(&publishes), .replies = ROUNDS},
        /* One publisher's messages arrive in its order. */
        READ(1, ROUNDS),
    };
    RUN(steps);
    buffer_destroy(&one);
    buffer_destroy(&publishes);
}
END_TEST

/* A request cut in two at every byte: the same answer each time. (Each
 * server may still read both pieces at once; the comparison holds
 * either way, and the parser's own suite cuts deterministically.) */
static size_t split_steps(const char *request, size_t len, int conn,
                          int pushes, struct redis_pair_step *out)
{
    size_t n = 0;
    for (size_t cut = 1; cut < len; cut++) {
        out[n++] = (struct redis_pair_step){
            .conn = conn, .raw = request, .raw_len = cut};
        out[n++] = (struct redis_pair_step){.conn = conn,
                                            .raw = request + cut,
                                            .raw_len = len - cut,
                                            .replies = 1};
        if (pushes > 0)
            out[n++] = (struct redis_pair_step){.conn = 0, .replies = pushes};
    }
    return n;
}

START_TEST(requests_cut_at_every_byte)
{
    static const char publish[] =
        "*3\r\n$7\r\npublish\r\n$4\r\nnews\r\n$5\r\nhe\0lo\r\n";
    static const char quoted[] = "PING \"a \\x41\" \r\n";
    size_t room = 3 * sizeof publish + 2 * sizeof quoted + 1;
    struct redis_pair_step *steps = calloc(room, sizeof *steps);
    ck_assert_ptr_nonnull(steps);
    size_t n = 0;
    steps[n++] = (struct redis_pair_step){.conn = 0, .cmd = "subscribe news",
                                          .replies = 1};
    n += split_steps(publish, sizeof publish - 1, 1, 1, steps + n);
    n += split_steps(quoted, sizeof quoted - 1, 1, 0, steps + n);
    ck_assert_uint_le(n, room);
    redis_pair_run(&pair, steps, n);
    free(steps);
}
END_TEST

/* Past the maximum, a connection is told so and closed at once, as
 * redis-server --maxclients does. */
START_TEST(max_clients)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "ping", 1),
        CMD(1, "config get maxclients", 1),
        READ(2, 1, .closes = true),
        CMD(0, "ping", 1),
        CMD(1, "ping", 1),
    };
    RUN(steps);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 compat: protocol");
    TCase *tc = tcase_create("protocol");
    tcase_add_unchecked_fixture(tc, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(tc);
    /* Added after the fd guard, so its teardown runs first. */
    tcase_add_checked_fixture(tc, start_open, stop_pair);
    tcase_add_test(tc, protocol_errors_close);
    tcase_add_test(tc, http_requests_close_at_once);
    tcase_add_test(tc, too_long_lines_close);
    tcase_add_test(tc, inline_requests);
    tcase_add_test(tc, requests_that_make_no_command);
    tcase_add_test(tc, pipelines);
    tcase_add_test(tc, requests_cut_at_every_byte);
    suite_add_tcase(s, tc);
    TCase *full = tcase_create("max clients");
    tcase_add_unchecked_fixture(full, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(full);
    tcase_add_checked_fixture(full, start_with_max_clients, stop_pair);
    tcase_add_test(full, max_clients);
    suite_add_tcase(s, full);
    return s;
}
