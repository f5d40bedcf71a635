/* The broker against redis-server 7.0.15, byte for byte: publish and
 * subscribe. Every scenario goes to a real redis-server and to the broker
 * (redis_pair.h), and both must send the same bytes back: the subscribe
 * confirmations and their counts, the pushes, the PUBLISH counts, and
 * the PUBSUB introspection. Where Redis's order is its hash table's (an
 * UNSUBSCRIBE of all, PUBSUB CHANNELS, the pmessages of several matching
 * patterns) the replies are compared as a multiset. The connections of a
 * scenario alternate between the broker's two I/O loops, so a publisher
 * and its subscribers are on different loops. */
#include "test_support.h"

#include "redis_pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD REDIS_PAIR_CMD
#define RAW REDIS_PAIR_RAW
#define READ REDIS_PAIR_READ
/* An UNSUBSCRIBE of all: the names in any order, the counts (the 4th
 * value of each reply) falling in order. */
#define UNSUB_ALL(c, text, n) \
    CMD(c, text, n, .how = REDIS_PAIR_ANY_ORDER, .in_order = 4)
#define RUN(steps) redis_pair_run(&pair, steps, sizeof steps / sizeof steps[0])

static struct redis_pair pair;

static void start_pair(void)
{
    redis_pair_start(&pair, NULL);
}

static void stop_pair(void)
{
    redis_pair_stop(&pair);
}

START_TEST(subscribe_replies_and_counts)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "subscribe a b a", 3),     /* a repeated: same count */
        CMD(0, "unsubscribe c", 1),       /* not subscribed: still 2 */
        CMD(0, "psubscribe a* a*", 2),    /* patterns count with channels */
        CMD(0, "ssubscribe s1 s2 s1", 3), /* shard channels count alone */
        CMD(0, "subscribe s1", 1),        /* the same name, another kind */
        CMD(0, "sunsubscribe s1 nope", 2),
        CMD(0, "punsubscribe b*", 1),
        CMD(0, "unsubscribe a", 1),
        UNSUB_ALL(0, "unsubscribe", 2), /* b, s1 */
        CMD(0, "punsubscribe", 1),  /* one left: a* */
        CMD(0, "sunsubscribe", 1),  /* one left: s2 */
        CMD(0, "unsubscribe", 1),   /* none: a nil name */
        CMD(0, "punsubscribe", 1),
        CMD(0, "sunsubscribe", 1),
        CMD(0, "ping", 1),          /* out of subscribed context again */
        CMD(0, "SUBSCRIBE Up", 1),  /* names of commands in any case... */
        CMD(0, "UnSubscribe up Up", 2), /* ...of channels, exact */
        CMD(0, "ping", 1),
    };
    RUN(steps);
}
END_TEST

/* UNSUBSCRIBE and its kin without arguments, with zero, one and several
 * subscriptions, each kind while the others are held. */
START_TEST(unsubscribe_all_of_each_kind)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "psubscribe p*", 1),
        CMD(0, "unsubscribe", 1), /* no channel, but the pattern counts */
        CMD(0, "ssubscribe s", 1),
        CMD(0, "unsubscribe", 1),
        CMD(0, "sunsubscribe q", 1),
        CMD(0, "punsubscribe q", 1),
        CMD(0, "punsubscribe", 1),
        CMD(0, "ping", 1), /* the shard channel keeps the context */
        CMD(0, "sunsubscribe", 1),
        CMD(0, "ping", 1),
        CMD(0, "subscribe c1 c2 c3", 3),
        CMD(0, "psubscribe p1 p2 p3", 3),
        CMD(0, "ssubscribe s1 s2 s3", 3),
        UNSUB_ALL(0, "punsubscribe", 3),
        UNSUB_ALL(0, "sunsubscribe", 3),
        UNSUB_ALL(0, "unsubscribe", 3),
        CMD(0, "ping", 1),
    };
    RUN(steps);
}
END_TEST

/* A client is counted once per matching subscription: its channel and two
 * matching patterns make 3. Its message comes first, then the pmessages
 * in the patterns' order, which is a hash table's in Redis. */
START_TEST(publish_counts_and_pushes)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "subscribe news", 1),
        CMD(0, "psubscribe n* ?ews x*", 3),
        CMD(1, "publish news hello", 1),
        READ(0, 1),
        READ(0, 2, .how = REDIS_PAIR_ANY_ORDER),
        CMD(2, "subscribe news", 1),
        CMD(1, "publish news again", 1),
        READ(2, 1),
        READ(0, 1),
        READ(0, 2, .how = REDIS_PAIR_ANY_ORDER),
        CMD(1, "publish zzz x", 1), /* nobody */
        CMD(1, "publish nx y", 1), /* n* alone */
        READ(0, 1),
        /* Binary payloads and names go through untouched. */
        RAW(1, "*3\r\n$7\r\npublish\r\n$4\r\nnews\r\n$7\r\na\0b\r\nc\n\r\n", 1),
        READ(2, 1),
        READ(0, 1),
        READ(0, 2, .how = REDIS_PAIR_ANY_ORDER),
        RAW(2, "*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n$3\r\nn\0b\r\n", 2),
        RAW(1, "*3\r\n$7\r\npublish\r\n$3\r\nn\0b\r\n$0\r\n\r\n", 1),
        READ(2, 1),
        READ(0, 1), /* n* matches "n\0b" */
        RAW(1, "*3\r\n$7\r\npublish\r\n$0\r\n\r\n$1\r\ne\r\n", 1),
        READ(2, 1),
        /* Shard channels: SPUBLISH reaches SSUBSCRIBE only. */
        CMD(3, "ssubscribe news", 1),
        CMD(1, "spublish news shard", 1),
        READ(3, 1),
        CMD(1, "spublish nobody x", 1),
        /* Had a pattern or a channel subscriber been sent the shard
         * message, it would come before this one. */
        CMD(1, "publish news last", 1),
        READ(2, 1),
        READ(0, 1),
        READ(0, 2, .how = REDIS_PAIR_ANY_ORDER),
        CMD(3, "sunsubscribe news", 1),
        CMD(1, "spublish news gone", 1),
    };
    RUN(steps);
}
END_TEST

/* Glob patterns as PSUBSCRIBE takes them: each kind of token. */
START_TEST(pattern_matching)
{
    static const struct redis_pair_step steps[] = {
        CMD(0, "psubscribe h?llo h*llo h[ae]llo h[^e]llo h[a-b]llo h\\*llo", 6),
        CMD(1, "publish hello 1", 1),
        READ(0, 3, .how = REDIS_PAIR_ANY_ORDER),
        CMD(1, "publish hallo 2", 1),
        READ(0, 5, .how = REDIS_PAIR_ANY_ORDER),
        CMD(1, "publish h*llo 3", 1),
        READ(0, 4, .how = REDIS_PAIR_ANY_ORDER),
        CMD(1, "publish hllo 4", 1),
        READ(0, 1),
        CMD(1, "publish Hello 5", 1),
        CMD(1, "pubsub numpat", 1),
    };
    RUN(steps);
}
END_TEST

START_TEST(pubsub_introspection)
{
    static const struct redis_pair_step steps[] = {
        CMD(2, "pubsub channels", 1),
        CMD(2, "pubsub numpat", 1),
        CMD(0, "subscribe news sport", 2),
        CMD(0, "psubscribe n* s*", 2),
        CMD(1, "subscribe news", 1),
        CMD(1, "ssubscribe shard1 shard2", 2),
        CMD(2, "pubsub channels", 1, .how = REDIS_PAIR_ELEMENTS),
        CMD(2, "pubsub channels n*", 1),
        CMD(2, "pubsub channels [ns]*", 1, .how = REDIS_PAIR_ELEMENTS),
        CMD(2, "pubsub channels zz*", 1),
        CMD(2, "pubsub channels n* s*", 1), /* one pattern at most */
        CMD(2, "pubsub numsub news sport nope news", 1),
        CMD(2, "pubsub numsub", 1),
        CMD(2, "pubsub numpat", 1),
        CMD(2, "pubsub shardchannels", 1, .how = REDIS_PAIR_ELEMENTS),
        CMD(2, "pubsub shardchannels *1", 1),
        CMD(2, "pubsub shardchannels a b", 1),
        CMD(2, "pubsub shardnumsub shard1 news", 1),
        CMD(2, "pubsub shardnumsub", 1),
        CMD(2, "PUBSUB NUMPAT", 1),
        CMD(2, "pubsub help", 1),
        CMD(2, "pubsub HELP", 1),
        CMD(2, "pubsub help x", 1),
        CMD(2, "pubsub foo", 1),
        CMD(2, "pubsub", 1),
        CMD(2, "pubsub numpat x", 1),
        CMD(0, "punsubscribe n*", 1),
        CMD(2, "pubsub numpat", 1),
        CMD(1, "unsubscribe news", 1),
        CMD(2, "pubsub numsub news", 1),
        UNSUB_ALL(1, "sunsubscribe", 2),
        CMD(2, "pubsub shardchannels", 1),
    };
    RUN(steps);
}
END_TEST

/* Hundreds of subscriptions in one request, and all of them ended in
 * one, in Redis's hash order. */
START_TEST(many_subscriptions)
{
    enum { MANY = 300 };
    struct buffer subscribe;
    struct buffer psubscribe;
    buffer_init(&subscribe);
    buffer_init(&psubscribe);
    ck_assert_int_eq(buffer_append(&subscribe, "subscribe", 9), 0);
    ck_assert_int_eq(buffer_append(&psubscribe, "psubscribe", 10), 0);
    for (int i = 0; i < MANY; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, " c%d", i);
        ck_assert_int_eq(buffer_append(&subscribe, name, (size_t)n), 0);
        n = snprintf(name, sizeof name, " c%d*", i);
        ck_assert_int_eq(buffer_append(&psubscribe, name, (size_t)n), 0);
    }
    ck_assert_int_eq(buffer_append(&subscribe, "", 1), 0);
    ck_assert_int_eq(buffer_append(&psubscribe, "", 1), 0);
    const struct redis_pair_step steps[] = {
        CMD(0, buffer_peek(&subscribe), MANY),
        CMD(0, buffer_peek(&psubscribe), MANY),
        CMD(1, "pubsub numsub c0 c299 c300", 1),
        CMD(1, "pubsub numpat", 1),
        CMD(1, "publish c12 x", 1), /* c12, c1* and c12* */
        READ(0, 1),
        READ(0, 2, .how = REDIS_PAIR_ANY_ORDER),
        UNSUB_ALL(0, "unsubscribe", MANY),
        UNSUB_ALL(0, "punsubscribe", MANY),
        CMD(1, "pubsub channels", 1),
        CMD(1, "pubsub numpat", 1),
    };
    RUN(steps);
    buffer_destroy(&subscribe);
    buffer_destroy(&psubscribe);
}
END_TEST

/* Large payloads cross the loops whole. */
START_TEST(large_payloads)
{
    enum { BIG = 100000 };
    struct buffer req;
    buffer_init(&req);
    char *big = malloc(BIG + 1);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    big[BIG] = '\0';
    char head[64];
    snprintf(head, sizeof head, "*3\r\n$7\r\npublish\r\n$3\r\nbig\r\n$%d\r\n",
             BIG);
    ck_assert_int_eq(buffer_append(&req, head, strlen(head)), 0);
    ck_assert_int_eq(buffer_append(&req, big, BIG), 0);
    ck_assert_int_eq(buffer_append(&req, "\r\n", 2), 0);
    size_t publish_len = buffer_readable(&req);
    snprintf(head, sizeof head, "*2\r\n$4\r\necho\r\n$%d\r\n", BIG);
    ck_assert_int_eq(buffer_append(&req, head, strlen(head)), 0);
    ck_assert_int_eq(buffer_append(&req, big, BIG), 0);
    ck_assert_int_eq(buffer_append(&req, "\r\n", 2), 0);
    const char *bytes = buffer_peek(&req);
    const struct redis_pair_step steps[] = {
        CMD(0, "subscribe big", 1),
        {.conn = 1, .raw = bytes, .raw_len = publish_len, .replies = 1},
        READ(0, 1),
        {.conn = 1, .raw = bytes + publish_len,
         .raw_len = buffer_readable(&req) - publish_len, .replies = 1},
    };
    RUN(steps);
    free(big);
    buffer_destroy(&req);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 compat: publish/subscribe");
    TCase *tc = tcase_create("pubsub");
    tcase_add_unchecked_fixture(tc, redis_pair_suite_setup,
                                redis_pair_suite_teardown);
    tcase_add_fd_guard(tc);
    /* Added after the fd guard, so its teardown runs first. */
    tcase_add_checked_fixture(tc, start_pair, stop_pair);
    tcase_add_test(tc, subscribe_replies_and_counts);
    tcase_add_test(tc, unsubscribe_all_of_each_kind);
    tcase_add_test(tc, publish_counts_and_pushes);
    tcase_add_test(tc, pattern_matching);
    tcase_add_test(tc, pubsub_introspection);
    tcase_add_test(tc, many_subscriptions);
    tcase_add_test(tc, large_payloads);
    suite_add_tcase(s, tc);
    return s;
}
