/* The broker inside the test program, so that valgrind and the
 * sanitizers see all of it: messages cross loops, a slow subscriber's
 * output goes through its spill file and comes back in order, a client
 * that leaves while spilling leaves no file, the tables stay consistent
 * through subscribe churn, a stop waits for the output, and a free with
 * clients and spill files present leaves no fd and no file. */
#include "test_support.h"

#include "base/count_down_latch.h"
#include "mom/broker.h"
#include "mom/config.h"
#include "mom_test.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANNEL_SUBS 6
#define PATTERN_SUBS 3
#define FEW_MESSAGES 40
#define SLOW_MESSAGES 1000
#define SLOW_BATCH 100
/* Most messages published while waiting for a spill file to appear. */
#define SPILL_WAIT_MESSAGES 40000
#define SLOW_PAYLOAD 512
#define SLOW_MEMORY ((uint64_t)16 * 1024)
#define SLOW_WINDOW (256 * 1024) /* above one segment: see mom_test.h */
/* For a subscriber that never reads: its output backs up at once, and the
 * kernel's buffers, which a tiny window keeps from growing, never take
 * the spill file's bytes back. */
#define TINY_WINDOW 4096
#define CHURN_ROUNDS 30

struct fixture {
    struct event_loop_thread *thread;
    struct event_loop *loop;
    struct broker_config cfg;
    struct broker *broker;
    int port;
    int err;
    bool stopped;
    struct count_down_latch latch;
    char dir[64];
};

static struct fixture f;

static void start_in_loop(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    f.broker = broker_new(loop, &f.cfg);
    f.err = f.broker == NULL ? -errno : broker_start(f.broker);
    if (f.err == 0)
        f.port = broker_port(f.broker);
    count_down_latch_count_down(&f.latch);
}

static void free_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (void)ctx;
    broker_free(f.broker);
    f.broker = NULL;
    count_down_latch_count_down(&f.latch);
}

static void run_and_wait(event_loop_fn *fn)
{
    count_down_latch_init(&f.latch, 1);
    ck_assert_int_eq(event_loop_run_in_loop(f.loop, fn, NULL), 0);
    count_down_latch_wait(&f.latch);
    count_down_latch_destroy(&f.latch);
}

/* A broker with two I/O loops and a small memory limit per client, and
 * the options of @p args (NULL-terminated, may be NULL). */
static void start_broker_with(const char *const *args)
{
    snprintf(f.dir, sizeof f.dir, "/tmp/momd-loop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f.dir));
    ck_assert_int_eq(broker_config_init(&f.cfg), 0);
    f.cfg.port = 0;
    f.cfg.threads = 2;
    f.cfg.sub_memory_limit = SLOW_MEMORY;
    free(f.cfg.spill_dir);
    f.cfg.spill_dir = strdup(f.dir);
    if (args != NULL) {
        char *argv[8] = {"test"};
        int argc = 1;
        for (; *args != NULL; args++)
            argv[argc++] = (char *)*args;
        char err[256];
        ck_assert_msg(broker_config_parse_args(&f.cfg, argc, argv, err,
                                               sizeof err) == 0,
                      "%s", err);
    }
    f.thread = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(f.thread);
    f.loop = event_loop_thread_loop(f.thread);
    run_and_wait(start_in_loop);
    ck_assert_int_eq(f.err, 0);
}

static void start_broker(void)
{
    start_broker_with(NULL);
}

static void free_broker(void)
{
    run_and_wait(free_in_loop);
    event_loop_thread_free(f.thread);
    broker_config_destroy(&f.cfg);
    ck_assert_msg(mom_count_files(f.dir) == 0, "spill files left in %s", f.dir);
    ck_assert_int_eq(rmdir(f.dir), 0);
}

static void command2(struct mom_client *c, const char *a, const char *b)
{
    const char *argv[] = {a, b};
    mom_command(c, 2, argv);
}

static void read_value(struct mom_client *c)
{
    char *v = NULL;
    mom_read_value(c, &v);
    free(v);
}

START_TEST(publish_reaches_subscribers_on_every_loop)
{
    start_broker();
    struct mom_client subs[CHANNEL_SUBS + PATTERN_SUBS];
    for (int i = 0; i < CHANNEL_SUBS + PATTERN_SUBS; i++) {
        mom_connect(&subs[i], f.port);
        command2(&subs[i], i < CHANNEL_SUBS ? "SUBSCRIBE" : "PSUBSCRIBE",
                 i < CHANNEL_SUBS ? "news" : "n*");
        read_value(&subs[i]);
    }
    struct mom_client pub;
    mom_connect(&pub, f.port);
    for (int m = 0; m < FEW_MESSAGES; m++) {
        char text[32];
        snprintf(text, sizeof text, "%d", m);
        const char *argv[] = {"PUBLISH", "news", text};
        mom_command(&pub, 3, argv);
    }
    for (int m = 0; m < FEW_MESSAGES; m++) {
        char want[16];
        snprintf(want, sizeof want, ":%d\r\n", CHANNEL_SUBS + PATTERN_SUBS);
        mom_expect(&pub, want);
    }
    for (int i = 0; i < CHANNEL_SUBS + PATTERN_SUBS; i++) {
        for (int m = 0; m < FEW_MESSAGES; m++) {
            char want[128];
            char text[16];
            int n = snprintf(text, sizeof text, "%d", m);
            if (i < CHANNEL_SUBS)
                snprintf(want, sizeof want,
                         "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$%d\r\n%s\r\n", n,
                         text);
            else
                snprintf(want, sizeof want,
                         "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n"
                         "$%d\r\n%s\r\n",
                         n, text);
            mom_expect(&subs[i], want);
        }
        mom_close(&subs[i]);
    }
    mom_close(&pub);
    free_broker();
}
END_TEST

static void publish_batch(struct mom_client *pub, int first)
{
    char text[SLOW_PAYLOAD];
    for (int i = first; i < first + SLOW_BATCH; i++) {
        snprintf(text, sizeof text, "%06d", i);
        memset(text + 6, 'x', sizeof text - 7);
        text[sizeof text - 1] = '\0';
        const char *argv[] = {"PUBLISH", "slow", text};
        mom_command(pub, 3, argv);
    }
    for (int i = 0; i < SLOW_BATCH; i++)
        mom_expect(pub, ":1\r\n");
}

/* A subscriber that reads nothing, and messages until its output is in
 * a spill file: how much that takes depends on the kernel's buffers. */
static int publish_until_spilling(struct mom_client *sub,
                                  struct mom_client *pub, int window)
{
    mom_connect_with_window(sub, f.port, window);
    command2(sub, "SUBSCRIBE", "slow");
    read_value(sub);
    mom_connect(pub, f.port);
    int sent = 0;
    while (mom_info(f.port, "spill_bytes_now") == 0 ||
           mom_count_files(f.dir) == 0) {
        ck_assert_int_lt(sent, SPILL_WAIT_MESSAGES);
        publish_batch(pub, sent);
        sent += SLOW_BATCH;
    }
    return sent;
}

START_TEST(a_slow_subscriber_spills_and_gets_everything_in_order)
{
    start_broker();
    struct mom_client sub, pub;
    int sent = publish_until_spilling(&sub, &pub, SLOW_WINDOW);
    for (int m = 0; m < SLOW_MESSAGES; m += SLOW_BATCH)
        publish_batch(&pub, sent + m);
    sent += SLOW_MESSAGES;
    for (int m = 0; m < sent; m++) {
        char *text = mom_read_message(&sub, NULL);
        MOM_CHECK(atoi(text) == m, "message %.8s, expected %d", text, m);
        MOM_CHECK(strlen(text) == SLOW_PAYLOAD - 1, "%zu bytes", strlen(text));
        free(text);
    }
    for (int i = 0; i < 500 && mom_count_files(f.dir) > 0; i++)
        usleep(10000);
    ck_assert_int_eq(mom_count_files(f.dir), 0);
    ck_assert_int_eq(mom_info(f.port, "spill_bytes_now"), 0);
    mom_close(&sub);
    mom_close(&pub);
    free_broker();
}
END_TEST

START_TEST(a_client_that_leaves_while_spilling_leaves_no_file)
{
    start_broker();
    struct mom_client sub, pub;
    publish_until_spilling(&sub, &pub, TINY_WINDOW);
    mom_close(&sub);
    for (int i = 0; i < 500 && mom_info(f.port, "connected_clients") > 1; i++)
        usleep(10000);
    ck_assert_int_eq(mom_count_files(f.dir), 0);
    ck_assert_int_eq(mom_info(f.port, "spill_bytes_now"), 0);
    mom_close(&pub);
    free_broker();
}
END_TEST

START_TEST(free_with_clients_and_spill_files_leaves_nothing)
{
    start_broker();
    struct mom_client sub, pub;
    publish_until_spilling(&sub, &pub, TINY_WINDOW);
    free_broker(); /* and checks that the files are gone */
    mom_close(&sub);
    mom_close(&pub);
}
END_TEST

/* With no I/O thread every connection lives in the base loop, and closes
 * only after the batch that frees the broker. */
START_TEST(free_without_io_threads_and_a_subscriber_leaves_nothing)
{
    static const char *const args[] = {"--threads", "0", NULL};
    start_broker_with(args);
    struct mom_client sub;
    mom_connect(&sub, f.port);
    command2(&sub, "SUBSCRIBE", "news");
    read_value(&sub);
    free_broker();
    mom_close(&sub);
}
END_TEST

START_TEST(subscribe_churn_keeps_the_tables_consistent)
{
    start_broker();
    struct mom_client a, b, q;
    mom_connect(&a, f.port);
    mom_connect(&b, f.port);
    mom_connect(&q, f.port);
    for (int r = 0; r < CHURN_ROUNDS; r++) {
        const char *sub[] = {"SUBSCRIBE", "x", "y", "z"};
        const char *psub[] = {"PSUBSCRIBE", "x*", "?"};
        mom_command(&a, 4, sub);
        mom_command(&b, 3, psub);
        for (int i = 0; i < 3; i++)
            read_value(&a);
        for (int i = 0; i < 2; i++)
            read_value(&b);
        const char *numsub[] = {"PUBSUB", "NUMSUB", "x", "y"};
        mom_command(&q, 4, numsub);
        mom_expect(&q, "*4\r\n$1\r\nx\r\n:1\r\n$1\r\ny\r\n:1\r\n");
        const char *pub[] = {"PUBLISH", "x", "m"};
        mom_command(&q, 3, pub);
        mom_expect(&q, ":3\r\n"); /* x, x* and ? */
        const char *unsub[] = {"UNSUBSCRIBE"};
        const char *punsub[] = {"PUNSUBSCRIBE"};
        mom_command(&a, 1, unsub);
        mom_command(&b, 1, punsub);
        /* message then three confirmations; two pmessages, two more */
        for (int i = 0; i < 4; i++)
            read_value(&a);
        for (int i = 0; i < 4; i++)
            read_value(&b);
    }
    const char *numpat[] = {"PUBSUB", "NUMPAT"};
    mom_command(&q, 2, numpat);
    mom_expect(&q, ":0\r\n");
    const char *channels[] = {"PUBSUB", "CHANNELS"};
    mom_command(&q, 2, channels);
    mom_expect(&q, "*0\r\n");
    mom_close(&a);
    mom_close(&b);
    mom_close(&q);
    free_broker();
}
END_TEST

static void expect_pong(struct mom_client *c)
{
    const char *argv[] = {"PING"};
    mom_command(c, 1, argv);
    mom_expect(c, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

START_TEST(a_new_subscriber_gets_the_retained_message_once)
{
    const char *args[] = {"--retain", "news.*", NULL};
    start_broker_with(args);
    struct mom_client pub, a, b;
    mom_connect(&pub, f.port);
    const char *first[] = {"PUBLISH", "news.a", "first"};
    const char *second[] = {"PUBLISH", "news.a", "second"};
    const char *other[] = {"PUBLISH", "other", "x"};
    mom_command(&pub, 3, first);
    mom_command(&pub, 3, second);
    mom_command(&pub, 3, other);
    for (int i = 0; i < 3; i++)
        mom_expect(&pub, ":0\r\n");
    mom_connect(&a, f.port);
    const char *sub[] = {"SUBSCRIBE", "news.a", "other"};
    mom_command(&a, 3, sub);
    mom_expect(&a, "*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n");
    mom_expect(&a, "*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$6\r\nsecond\r\n");
    mom_expect(&a, "*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:2\r\n");
    expect_pong(&a);
    const char *third[] = {"PUBLISH", "news.a", "third"};
    mom_command(&pub, 3, third);
    mom_expect(&pub, ":1\r\n");
    mom_expect(&a, "*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$5\r\nthird\r\n");
    expect_pong(&a);
    /* An empty message clears the channel's. */
    const char *clear[] = {"PUBLISH", "news.a", ""};
    mom_command(&pub, 3, clear);
    mom_expect(&pub, ":1\r\n");
    mom_expect(&a, "*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$0\r\n\r\n");
    mom_connect(&b, f.port);
    command2(&b, "SUBSCRIBE", "news.a");
    mom_expect(&b, "*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n");
    expect_pong(&b);
    mom_close(&a);
    mom_close(&b);
    mom_close(&pub);
    free_broker();
}
END_TEST

static void on_stopped(struct broker *b, void *ctx)
{
    (void)b;
    (void)ctx;
    f.stopped = true;
    count_down_latch_count_down(&f.latch);
}

static void stop_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (void)ctx;
    broker_stop(f.broker, on_stopped, NULL);
}

START_TEST(stop_reports_once_the_output_has_drained)
{
    start_broker();
    struct mom_client sub, pub;
    mom_connect(&sub, f.port);
    command2(&sub, "SUBSCRIBE", "s");
    read_value(&sub);
    mom_connect(&pub, f.port);
    const char *argv[] = {"PUBLISH", "s", "last"};
    mom_command(&pub, 3, argv);
    mom_expect(&pub, ":1\r\n");
    f.stopped = false;
    run_and_wait(stop_in_loop);
    ck_assert(f.stopped);
    mom_expect(&sub, "*3\r\n$7\r\nmessage\r\n$1\r\ns\r\n$4\r\nlast\r\n");
    /* A stopping broker turns new clients away. */
    struct mom_client late;
    mom_connect(&late, f.port);
    ck_assert(mom_closed(&late));
    mom_close(&late);
    mom_close(&sub);
    mom_close(&pub);
    free_broker();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 broker in a loop");
    TCase *tc = tcase_create("broker");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, publish_reaches_subscribers_on_every_loop);
    tcase_add_test(tc, a_slow_subscriber_spills_and_gets_everything_in_order);
    tcase_add_test(tc, a_client_that_leaves_while_spilling_leaves_no_file);
    tcase_add_test(tc, free_with_clients_and_spill_files_leaves_nothing);
    tcase_add_test(tc, free_without_io_threads_and_a_subscriber_leaves_nothing);
    tcase_add_test(tc, subscribe_churn_keeps_the_tables_consistent);
    tcase_add_test(tc, stop_reports_once_the_output_has_drained);
    tcase_add_test(tc, a_new_subscriber_gets_the_retained_message_once);
    suite_add_tcase(s, tc);
    return s;
}
