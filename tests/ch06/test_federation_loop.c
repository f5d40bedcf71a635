/* Three brokers in the test program, each on its own base loop in its
 * own thread, joined into a mesh over loopback, so that valgrind and the
 * sanitizers see every side of every link: messages published on each
 * reach the subscribers of all; a broker that leaves has what it would
 * get kept in a spill file; and stopping and freeing them all leaves no
 * fd, no file and no memory behind. */
#include "test_support.h"

#include "base/count_down_latch.h"
#include "mom/broker.h"
#include "mom/config.h"
#include "mom_test.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define MESSAGES 20 /* per publisher */
/* Long enough that no link goes quiet for three beats under valgrind,
 * where every thread of the three brokers shares one core. */
#define HEARTBEAT_MS "1000"
/* A wait that takes this long is a hang, not a slow broker. */
#define WAIT_S 60
#define POLL_US 20000
/* Messages published while waiting for a spill file to have bytes. */
#define SPILL_WAIT_MESSAGES 1000

struct node {
    struct event_loop_thread *thread;
    struct event_loop *loop;
    struct broker_config cfg;
    struct broker *broker;
    int port;
    int err;
    bool stopped;
};

static struct node nodes[NODES];
static struct count_down_latch latch;
static char dir[64];

static void start_in_loop(struct event_loop *loop, void *ctx)
{
    struct node *n = ctx;
    n->broker = broker_new(loop, &n->cfg);
    n->err = n->broker == NULL ? -errno : broker_start(n->broker);
    if (n->err == 0)
        n->port = broker_port(n->broker);
    count_down_latch_count_down(&latch);
}

static void on_stopped(struct broker *b, void *ctx)
{
    (void)b;
    struct node *n = ctx;
    n->stopped = true;
    count_down_latch_count_down(&latch);
}

static void stop_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct node *n = ctx;
    broker_stop(n->broker, on_stopped, n);
}

static void free_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct node *n = ctx;
    broker_free(n->broker);
    n->broker = NULL;
    count_down_latch_count_down(&latch);
}

static void run_and_wait(struct node *n, event_loop_fn *fn)
{
    count_down_latch_init(&latch, 1);
    ck_assert_int_eq(event_loop_run_in_loop(n->loop, fn, n), 0);
    count_down_latch_wait(&latch);
    count_down_latch_destroy(&latch);
}

/* Node @p i on any free port, naming every node before it: the mesh
 * forms through the introductions and what the members tell each other. */
static void start_node(int i)
{
    struct node *n = &nodes[i];
    memset(n, 0, sizeof *n);
    ck_assert_int_eq(broker_config_init(&n->cfg), 0);
    n->cfg.port = 0;
    n->cfg.threads = 2;
    free(n->cfg.spill_dir);
    n->cfg.spill_dir = strdup(dir);
    ck_assert_ptr_nonnull(n->cfg.spill_dir);
    char peers[NODES][32];
    char *argv[4 + 2 * NODES] = {"test", "--peer-heartbeat", HEARTBEAT_MS};
    int argc = 3;
    for (int j = 0; j < i; j++) {
        snprintf(peers[j], sizeof peers[j], "127.0.0.1:%d", nodes[j].port);
        argv[argc++] = "--peer";
        argv[argc++] = peers[j];
    }
    char err[CONFIG_ERROR_CAP];
    ck_assert_msg(broker_config_parse_args(&n->cfg, argc, argv, err,
                                           sizeof err) == 0,
                  "%s", err);
    n->thread = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(n->thread);
    n->loop = event_loop_thread_loop(n->thread);
    run_and_wait(n, start_in_loop);
    ck_assert_int_eq(n->err, 0);
}

static void free_node(struct node *n)
{
    run_and_wait(n, free_in_loop);
    event_loop_thread_free(n->thread);
    n->thread = NULL;
    broker_config_destroy(&n->cfg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Field @p key of node @p n's line for node @p of, or "" without one. */
static const char *peer_field(const struct node *n, const struct node *of,
                              const char *key)
{
    static char value[128];
    char *text = mom_info_text(n->port, NULL);
    if (!mom_info_peer(text, of->port, key, value, sizeof value))
        value[0] = '\0';
    free(text);
    return value;
}

static void wait_peer(const struct node *n, const struct node *of,
                      const char *key, const char *want)
{
    double deadline = now_s() + WAIT_S;
    while (strcmp(peer_field(n, of, key), want) != 0) {
        ck_assert_msg(now_s() < deadline, "port %d's line for %d: %s=%s, not %s",
                      n->port, of->port, key, peer_field(n, of, key), want);
        usleep(POLL_US);
    }
}

static void wait_mesh(int count)
{
    for (int i = 0; i < count; i++) {
        double deadline = now_s() + WAIT_S;
        while (mom_info(nodes[i].port, "peers_up") != count - 1) {
            ck_assert_msg(now_s() < deadline, "port %d: %lld peers up",
                          nodes[i].port, mom_info(nodes[i].port, "peers_up"));
            usleep(POLL_US);
        }
    }
}

static void subscribe(struct mom_client *c, const struct node *n,
                      const char *channel)
{
    mom_connect(c, n->port);
    const char *argv[] = {"SUBSCRIBE", channel};
    mom_command(c, 2, argv);
    char *items[3];
    ck_assert_int_eq(mom_read_items(c, items, 3), 3);
    mom_free_items(items, 3);
}

/* Made and removed by the runner's own process, so that the folder goes
 * even when a test fails in a forked one; each test checks that it left
 * no file there. */
static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/momd-fedloop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.')
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d != NULL)
        closedir(d);
    (void)rmdir(dir);
}

static void expect_no_file(void)
{
    ck_assert_msg(mom_count_files(dir) == 0, "spill files left in %s", dir);
}

START_TEST(messages_published_on_each_broker_reach_every_subscriber)
{
    for (int i = 0; i < NODES; i++)
        start_node(i);
    wait_mesh(NODES);
    struct mom_client subs[NODES], pubs[NODES];
    for (int i = 0; i < NODES; i++)
        subscribe(&subs[i], &nodes[i], "news");
    for (int i = 0; i < NODES; i++) {
        for (int j = 0; j < NODES; j++) {
            if (i != j)
                wait_peer(&nodes[i], &nodes[j], "channels", "1");
        }
    }
    for (int i = 0; i < NODES; i++) {
        mom_connect(&pubs[i], nodes[i].port);
        for (int m = 0; m < MESSAGES; m++) {
            char text[32];
            snprintf(text, sizeof text, "%d-%d", i, m);
            const char *argv[] = {"PUBLISH", "news", text};
            mom_command(&pubs[i], 3, argv);
        }
    }
    for (int i = 0; i < NODES; i++) {
        for (int m = 0; m < MESSAGES; m++)
            mom_expect(&pubs[i], ":1\r\n");
        mom_close(&pubs[i]);
    }
    for (int s = 0; s < NODES; s++) {
        int next[NODES] = {0};
        for (int m = 0; m < NODES * MESSAGES; m++) {
            char *text = mom_read_message(&subs[s], NULL);
            int k = atoi(text);
            MOM_CHECK(k >= 0 && k < NODES && atoi(strchr(text, '-') + 1) ==
                                                     next[k],
                      "subscriber %d got %s, expected %d-%d", s, text, k,
                      next[k]);
            next[k]++;
            free(text);
        }
    }
    /* A graceful stop of each, with its links and subscribers present,
     * then the frees. */
    for (int i = 0; i < NODES; i++) {
        run_and_wait(&nodes[i], stop_in_loop);
        ck_assert(nodes[i].stopped);
    }
    for (int i = 0; i < NODES; i++)
        free_node(&nodes[i]);
    for (int i = 0; i < NODES; i++)
        mom_close(&subs[i]);
    expect_no_file();
}
END_TEST

START_TEST(a_broker_that_leaves_has_its_messages_spilled_until_the_free)
{
    start_node(0);
    start_node(1);
    wait_mesh(2);
    struct node *a = &nodes[0], *b = &nodes[1];
    struct mom_client sub, pub;
    subscribe(&sub, b, "kept");
    wait_peer(a, b, "channels", "1");
    free_node(b);
    mom_close(&sub);
    /* A keeps B's interest through the grace and spills what B would
     * get; its free removes the file. */
    wait_peer(a, b, "state", "down");
    mom_connect(&pub, a->port);
    int sent = 0;
    for (;;) {
        const char *v = peer_field(a, b, "spilled_bytes");
        if (v[0] != '\0' && atoll(v) > 0)
            break;
        ck_assert_msg(sent < SPILL_WAIT_MESSAGES, "nothing spilled: %s", v);
        const char *argv[] = {"PUBLISH", "kept", "for b"};
        mom_command(&pub, 3, argv);
        mom_expect(&pub, ":0\r\n");
        sent++;
    }
    ck_assert_int_ge(mom_count_files(dir), 1);
    mom_close(&pub);
    free_node(a);
    expect_no_file();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 federation in a loop");
    TCase *tc = tcase_create("mesh");
    tcase_add_fd_guard(tc);
    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, messages_published_on_each_broker_reach_every_subscriber);
    tcase_add_test(tc, a_broker_that_leaves_has_its_messages_spilled_until_the_free);
    suite_add_tcase(s, tc);
    return s;
}
