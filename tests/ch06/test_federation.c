/* Brokers joined into a mesh, each a momd process: a message published on
 * one reaches the subscribers of every other, once and in order; it
 * crosses only the links whose far end has an interest; a broker that
 * names one member of the mesh meets all of them; a broker killed and
 * restarted is met again as a new boot; a broker that stops answering
 * gets, once it answers again, what was kept for it meanwhile; a wrong
 * password keeps brokers apart; a link that sends anything wrong is
 * closed without harm to the broker; and a client cannot speak for a
 * peer.
 *
 * Every broker beats its links every HEARTBEAT_MS, so that a silent link
 * is noticed within a second. Every wait polls INFO until what it waits
 * for shows, with a deadline that only catches a hang. */
#include "test_support.h"

#include "mom_test.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_MS "200"
/* A wait that takes this long is a hang, not a slow broker. */
#define WAIT_S 30
#define POLL_US 20000
#define MAX_NODES 5
#define MAX_ARGS 24
#define MESH_MESSAGES 200 /* per publisher */
#define PUBLISH_BATCH 20
#define FEW_MESSAGES 100
#define RESTART_MESSAGES 50
/* How long brokers with the wrong password are watched: fifteen
 * heartbeats, time for every dial and introduction to be tried again. */
#define APART_WATCH_MS 3000
/* The address a test client claims in its PEER: below every broker's, so
 * that the broker takes it as a dialer (the lower address dials) and
 * never dials it back. */
#define TESTER_ADDR "127.0.0.1:1"
#define TESTER_PORT 1

struct node {
    struct mom_proc p;
    int port;
    bool running;
    char name[2];           /* "A", "B", ...: the first part of its payloads */
    const char *password;   /* its --requirepass, NULL for none */
    char peers[MAX_NODES][32];
    int peer_count;
};

static struct node nodes[MAX_NODES];
static int node_count;
static char spill_dir[64];

/* One spill folder for each group of tests, made and removed by the
 * runner's own process, so that it goes even when a test fails in a
 * forked one (whose brokers die with it: see mom_spawn()). */
static void make_spill_dir(void)
{
    snprintf(spill_dir, sizeof spill_dir, "/tmp/momd-fed-XXXXXX");
    ck_assert_msg(mkdtemp(spill_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_spill_dir(void)
{
    DIR *d = opendir(spill_dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.')
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d != NULL)
        closedir(d);
    (void)rmdir(spill_dir);
}

static void setup(void)
{
    memset(nodes, 0, sizeof nodes);
    node_count = 0;
}

/* A test that passed has stopped its brokers; after a failure in this
 * process (CK_FORK=no), they go here, before the fd guard's check. */
static void teardown(void)
{
    for (int i = 0; i < node_count; i++) {
        struct node *n = &nodes[i];
        if (!n->running)
            continue;
        kill(n->p.pid, SIGKILL);
        waitpid(n->p.pid, NULL, 0);
        close(n->p.out);
        n->running = false;
    }
}

static struct node *add_node(int port)
{
    ck_assert_int_lt(node_count, MAX_NODES);
    struct node *n = &nodes[node_count];
    n->port = port;
    n->name[0] = (char)('A' + node_count);
    n->name[1] = '\0';
    node_count++;
    return n;
}

static void names(struct node *n, const struct node *peer)
{
    ck_assert_int_lt(n->peer_count, MAX_NODES);
    snprintf(n->peers[n->peer_count++], sizeof n->peers[0], "127.0.0.1:%d",
             peer->port);
}

/* Starts (or starts again: same port, same arguments) a broker. */
static void start(struct node *n)
{
    const char *args[MAX_ARGS] = {"--threads", "2", "--peer-heartbeat",
                                  HEARTBEAT_MS, "--spill-dir", spill_dir};
    int argc = 6;
    for (int i = 0; i < n->peer_count; i++) {
        args[argc++] = "--peer";
        args[argc++] = n->peers[i];
    }
    if (n->password != NULL) {
        args[argc++] = "--requirepass";
        args[argc++] = n->password;
    }
    args[argc] = NULL;
    mom_start(&n->p, n->port, args);
    ck_assert_int_eq(n->p.port, n->port);
    n->running = true;
}

/* Stops every broker with SIGTERM: each must exit 0 and leave no spill
 * file. */
static void finish(void)
{
    for (int i = 0; i < node_count; i++) {
        struct node *n = &nodes[i];
        if (!n->running)
            continue;
        n->running = false;
        char tail[2048];
        int status = mom_stop_with_tail(&n->p, SIGTERM, tail, sizeof tail);
        /* A sanitizer's summary says most; else the last lines. */
        char *why = strstr(tail, "SUMMARY: ");
        if (why != NULL)
            why[strcspn(why, "\n")] = '\0';
        for (char *nl = tail; (nl = strchr(nl, '\n')) != NULL;)
            *nl = '|'; /* Check's messages are one line */
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "broker %s: status %d, after: %s", n->name, status,
                      why != NULL ? why : tail);
    }
    ck_assert_msg(mom_count_files(spill_dir) == 0, "spill files left in %s",
                  spill_dir);
}

/* --- what the brokers say ------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Between two polls: the brokers' logs are read, so that none blocks. */
static void pause_a_moment(void)
{
    for (int i = 0; i < node_count; i++) {
        if (nodes[i].running)
            mom_drain(&nodes[i].p);
    }
    usleep(POLL_US);
}

/* Polls until @p cond holds; the message says what did not happen. */
#define WAIT_FOR(cond, ...)                                                    \
    do {                                                                       \
        double deadline_ = now_s() + WAIT_S;                                   \
        while (!(cond)) {                                                      \
            ck_assert_msg(now_s() < deadline_, __VA_ARGS__);                   \
            pause_a_moment();                                                  \
        }                                                                      \
    } while (0)

static long long info_number(struct node *n, const char *field)
{
    char *text = mom_info_text(n->port, n->password);
    char key[64];
    snprintf(key, sizeof key, "\n%s:", field);
    const char *at = strstr(text, key);
    long long v = at == NULL ? -1 : atoll(at + strlen(key));
    free(text);
    return v;
}

static void info_string(struct node *n, const char *field, char *out,
                        size_t cap)
{
    char *text = mom_info_text(n->port, n->password);
    char key[64];
    snprintf(key, sizeof key, "\n%s:", field);
    const char *at = strstr(text, key);
    ck_assert_msg(at != NULL, "broker %s's INFO has no %s", n->name, field);
    at += strlen(key);
    snprintf(out, cap, "%.*s", (int)strcspn(at, "\r\n"), at);
    free(text);
}

/* Field @p key of @p n's line for @p of, or "" when it has none. */
static const char *peer_field(struct node *n, const struct node *of,
                              const char *key)
{
    static char value[128];
    char *text = mom_info_text(n->port, n->password);
    if (!mom_info_peer(text, of->port, key, value, sizeof value))
        value[0] = '\0';
    free(text);
    return value;
}

static bool peer_is(struct node *n, const struct node *of, const char *key,
                    const char *want)
{
    return strcmp(peer_field(n, of, key), want) == 0;
}

/* A number field of @p n's line for @p of; -1 when absent. */
static long long peer_number(struct node *n, const struct node *of,
                             const char *key)
{
    const char *v = peer_field(n, of, key);
    return v[0] == '\0' ? -1 : atoll(v);
}

/* @p n's `# Peers` section, for a failure's message. */
static const char *peers_of(struct node *n)
{
    static char section[4096];
    char *text = mom_info_text(n->port, n->password);
    const char *at = strstr(text, "# Peers");
    snprintf(section, sizeof section, "broker %s (port %d): %s", n->name,
             n->port, at != NULL ? at : "no # Peers section");
    free(text);
    return section;
}

static void wait_peers_up(struct node *n, int want)
{
    WAIT_FOR(info_number(n, "peers_up") == want, "not %d peers up: %s", want,
             peers_of(n));
}

static void wait_peer(struct node *n, const struct node *of, const char *key,
                      const char *want)
{
    WAIT_FOR(peer_is(n, of, key, want), "%s's line for %s: no %s=%s: %s",
             n->name, of->name, key, want, peers_of(n));
}

/* Waits until every broker's line for every other one shows the interest
 * @p channels[j] / @p patterns[j] of broker j. */
static void wait_interest(const int *channels, const int *patterns)
{
    for (int i = 0; i < node_count; i++) {
        for (int j = 0; j < node_count; j++) {
            if (i == j)
                continue;
            char want[16];
            snprintf(want, sizeof want, "%d", channels[j]);
            wait_peer(&nodes[i], &nodes[j], "channels", want);
            snprintf(want, sizeof want, "%d", patterns[j]);
            wait_peer(&nodes[i], &nodes[j], "patterns", want);
        }
    }
}

/* @p count brokers on free low ports, node i on the port of rank
 * order[i] (NULL: in ascending order), each naming all the others; waits
 * until every one has all the others up. */
static void start_mesh(int count, const int *order)
{
    int ports[MAX_NODES];
    mom_free_low_ports(ports, count);
    for (int i = 0; i < count; i++)
        add_node(ports[order != NULL ? order[i] : i]);
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < count; j++) {
            if (i != j)
                names(&nodes[i], &nodes[j]);
        }
    }
    for (int i = 0; i < count; i++)
        start(&nodes[i]);
    for (int i = 0; i < count; i++)
        wait_peers_up(&nodes[i], count - 1);
}

/* --- clients ----------------------------------------------------------------- */

static void subscribe(struct mom_client *c, struct node *n, const char *verb,
                      const char *name)
{
    mom_connect_auth(c, n->port, n->password);
    const char *argv[] = {verb, name};
    mom_command(c, 2, argv);
    char *items[3];
    ck_assert_int_eq(mom_read_items(c, items, 3), 3);
    ck_assert_str_eq(items[1], name);
    mom_free_items(items, 3);
}

/* Publishes @p count payloads "<name>-<seq>" from @p first, pipelined,
 * and checks that each reply counts @p local receivers. */
static void publish_seq(struct mom_client *pub, const struct node *n,
                        const char *channel, int first, int count, int local)
{
    for (int i = first; i < first + count; i++) {
        char text[32];
        snprintf(text, sizeof text, "%s-%d", n->name, i);
        const char *argv[] = {"PUBLISH", channel, text};
        mom_command(pub, 3, argv);
    }
    char want[16];
    snprintf(want, sizeof want, ":%d\r\n", local);
    for (int i = 0; i < count; i++)
        mom_expect(pub, want);
}

static void publish_one(struct node *n, const char *channel, const char *text,
                        int local)
{
    struct mom_client c;
    mom_connect_auth(&c, n->port, n->password);
    const char *argv[] = {"PUBLISH", channel, text};
    mom_command(&c, 3, argv);
    char want[16];
    snprintf(want, sizeof want, ":%d\r\n", local);
    mom_expect(&c, want);
    mom_close(&c);
}

/* The payload of the next push, a message or a pmessage (malloc'ed). */
static char *read_payload(struct mom_client *c, const char *channel)
{
    char *items[4];
    int n = mom_read_items(c, items, 4);
    bool message = n == 3 && strcmp(items[0], "message") == 0;
    bool pmessage = n == 4 && strcmp(items[0], "pmessage") == 0;
    MOM_CHECK(message || pmessage, "not a message: %d items, %s", n,
              n > 0 ? items[0] : "");
    MOM_CHECK(strcmp(items[n - 2], channel) == 0, "on %s, not %s",
              items[n - 2], channel);
    char *payload = items[n - 1];
    mom_free_items(items, n - 1);
    return payload;
}

/* Reads @p count payloads "<name>-<seq>" and checks that the ones of each
 * publisher come in order and without a gap from next[publisher], which
 * moves on. */
static void read_in_order(struct mom_client *c, const char *channel, int count,
                          int *next, const char *who)
{
    for (int m = 0; m < count; m++) {
        char *text = read_payload(c, channel);
        int k = text[0] - 'A';
        MOM_CHECK(k >= 0 && k < node_count && text[1] == '-', "%s got '%s'",
                  who, text);
        MOM_CHECK(atoi(text + 2) == next[k], "%s got %s, expected %s-%d", who,
                  text, nodes[k].name, next[k]);
        next[k]++;
        free(text);
    }
}

/* Nothing queued for @p c: a PING's answer comes next. */
static void expect_nothing_more(struct mom_client *c)
{
    const char *argv[] = {"PING"};
    mom_command(c, 1, argv);
    mom_expect(c, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

/* --- the mesh ------------------------------------------------------------- */

START_TEST(every_subscriber_of_a_mesh_gets_every_message_once_in_order)
{
    start_mesh(3, NULL);
    /* One subscriber to `news` on each broker, a pattern on B. */
    struct mom_client subs[4];
    for (int i = 0; i < 3; i++)
        subscribe(&subs[i], &nodes[i], "SUBSCRIBE", "news");
    subscribe(&subs[3], &nodes[1], "PSUBSCRIBE", "n*");
    const int channels[] = {1, 1, 1};
    const int patterns[] = {0, 1, 0};
    wait_interest(channels, patterns);
    struct mom_client pubs[3];
    for (int i = 0; i < 3; i++)
        mom_connect(&pubs[i], nodes[i].port);
    /* The publishers take turns, so that the links carry interleaved
     * streams. PUBLISH counts the receivers on its own broker only. */
    for (int seq = 0; seq < MESH_MESSAGES; seq += PUBLISH_BATCH) {
        for (int i = 0; i < 3; i++)
            publish_seq(&pubs[i], &nodes[i], "news", seq, PUBLISH_BATCH,
                        i == 1 ? 2 : 1);
    }
    int next[4][MAX_NODES] = {{0}};
    const char *who[] = {"A's subscriber", "B's subscriber", "C's subscriber",
                         "B's pattern"};
    for (int s = 0; s < 4; s++)
        read_in_order(&subs[s], "news", 3 * MESH_MESSAGES, next[s], who[s]);
    /* A duplicate would still be on its way: one more from each broker
     * comes after whatever its link still carried. */
    for (int i = 0; i < 3; i++)
        publish_seq(&pubs[i], &nodes[i], "news", MESH_MESSAGES, 1,
                    i == 1 ? 2 : 1);
    for (int s = 0; s < 4; s++) {
        read_in_order(&subs[s], "news", 3, next[s], who[s]);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(next[s][i], MESH_MESSAGES + 1);
        expect_nothing_more(&subs[s]);
        mom_close(&subs[s]);
    }
    for (int i = 0; i < 3; i++)
        mom_close(&pubs[i]);
    finish();
}
END_TEST

START_TEST(a_message_crosses_only_to_brokers_with_an_interest)
{
    start_mesh(3, NULL);
    struct node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    struct mom_client sub, pub;
    subscribe(&sub, b, "SUBSCRIBE", "only");
    const int channels[] = {0, 1, 0};
    const int patterns[] = {0, 0, 0};
    wait_interest(channels, patterns);
    mom_connect(&pub, a->port);
    publish_seq(&pub, a, "only", 0, FEW_MESSAGES, 0);
    int next[MAX_NODES] = {0};
    read_in_order(&sub, "only", FEW_MESSAGES, next, "B's subscriber");
    expect_nothing_more(&sub);
    char want[16];
    snprintf(want, sizeof want, "%d", FEW_MESSAGES);
    wait_peer(a, b, "msgs_out", want);
    wait_peer(b, a, "msgs_in", want);
    ck_assert_int_eq(peer_number(a, c, "msgs_out"), 0);
    ck_assert_int_eq(peer_number(a, c, "bytes_out"), 0);
    ck_assert_int_eq(peer_number(c, a, "msgs_in"), 0);
    ck_assert_int_gt(peer_number(a, b, "bytes_out"), 0);
    /* Stopped with their clients and links present: B's subscriber
     * leaves as B goes, a change of interest to tell no one. */
    finish();
    mom_close(&sub);
    mom_close(&pub);
}
END_TEST

START_TEST(a_broker_that_names_one_member_meets_them_all)
{
    /* #0 in the middle of the ports: #1 and #3 are lower and dial it,
     * #2 and #4 are higher and introduce themselves. */
    int ports[5];
    mom_free_low_ports(ports, 5);
    struct node *first = add_node(ports[2]);
    add_node(ports[0]);
    add_node(ports[3]);
    add_node(ports[1]);
    struct node *last = add_node(ports[4]);
    start(first);
    for (int i = 1; i < 5; i++) {
        names(&nodes[i], first);
        start(&nodes[i]);
    }
    for (int i = 0; i < 5; i++)
        wait_peers_up(&nodes[i], 4);
    /* B (the lowest) met E (the highest) through A: B dials it. */
    struct node *b = &nodes[1];
    ck_assert_str_eq(peer_field(b, last, "dialer"), "self");
    ck_assert_str_eq(peer_field(last, b, "dialer"), "peer");
    /* B publishes to E, which it met through A, and to A. */
    struct mom_client sub_a, sub_e;
    subscribe(&sub_a, first, "SUBSCRIBE", "joined");
    subscribe(&sub_e, last, "SUBSCRIBE", "joined");
    wait_peer(b, first, "channels", "1");
    wait_peer(b, last, "channels", "1");
    wait_peer(first, last, "channels", "1");
    publish_one(b, "joined", "B-0", 0);
    publish_one(b, "joined", "B-1", 0);
    int next_a[MAX_NODES] = {0}, next_e[MAX_NODES] = {0};
    read_in_order(&sub_a, "joined", 2, next_a, "A's subscriber");
    read_in_order(&sub_e, "joined", 2, next_e, "E's subscriber");
    /* One hop: A passes on nothing it got. Had it passed B's messages to
     * E, they would come before A's own on that link. */
    publish_one(first, "joined", "A-0", 1);
    read_in_order(&sub_a, "joined", 1, next_a, "A's subscriber");
    read_in_order(&sub_e, "joined", 1, next_e, "E's subscriber");
    expect_nothing_more(&sub_a);
    expect_nothing_more(&sub_e);
    ck_assert_int_eq(peer_number(first, last, "msgs_out"), 1);
    mom_close(&sub_a);
    mom_close(&sub_e);
    finish();
}
END_TEST

/* --- failures --------------------------------------------------------------- */

/* Publishes "probe" on @p from until @p sub gets one, then "ready", and
 * reads up to it: from then on @p sub gets what @p from publishes. */
static void wait_until_reachable(struct node *from, struct mom_client *sub,
                                 const char *channel)
{
    double deadline = now_s() + WAIT_S;
    do {
        ck_assert_msg(now_s() < deadline, "nothing from %s reaches %s: %s",
                      from->name, channel, peers_of(from));
        publish_one(from, channel, "probe", 0);
        pause_a_moment();
    } while (!mom_readable(sub, 0));
    publish_one(from, channel, "ready", 0);
    for (;;) {
        char *text = read_payload(sub, channel);
        bool ready = strcmp(text, "ready") == 0;
        MOM_CHECK(ready || strcmp(text, "probe") == 0, "got %s", text);
        free(text);
        if (ready)
            return;
    }
}

START_TEST(a_killed_broker_restarted_is_met_as_a_new_boot)
{
    /* C on the middle port: A dials it, it dials B. */
    const int order[] = {0, 2, 1};
    start_mesh(3, order);
    struct node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    struct mom_client sub;
    subscribe(&sub, c, "SUBSCRIBE", "x");
    wait_peer(a, c, "channels", "1");
    wait_peer(b, c, "channels", "1");
    char epoch[32];
    info_string(c, "node_epoch", epoch, sizeof epoch);
    ck_assert_str_eq(peer_field(a, c, "epoch"), epoch);
    ck_assert_str_eq(peer_field(b, c, "epoch"), epoch);
    int status = mom_stop(&c->p, SIGKILL);
    c->running = false;
    ck_assert(WIFSIGNALED(status));
    mom_close(&sub);
    start(c);
    char new_epoch[32];
    info_string(c, "node_epoch", new_epoch, sizeof new_epoch);
    ck_assert_str_ne(new_epoch, epoch);
    wait_peer(a, c, "epoch", new_epoch);
    wait_peer(a, c, "state", "up");
    wait_peer(b, c, "epoch", new_epoch);
    wait_peer(b, c, "state", "up");
    wait_peers_up(c, 2);
    ck_assert_int_ge(peer_number(a, c, "links"), 2);
    subscribe(&sub, c, "SUBSCRIBE", "x");
    wait_until_reachable(a, &sub, "x");
    struct mom_client pub;
    mom_connect(&pub, a->port);
    publish_seq(&pub, a, "x", 0, RESTART_MESSAGES, 0);
    int next[MAX_NODES] = {0};
    read_in_order(&sub, "x", RESTART_MESSAGES, next, "C's new subscriber");
    publish_seq(&pub, a, "x", RESTART_MESSAGES, 1, 0);
    read_in_order(&sub, "x", 1, next, "C's new subscriber");
    expect_nothing_more(&sub);
    mom_close(&sub);
    mom_close(&pub);
    finish();
}
END_TEST

START_TEST(a_stopped_broker_gets_what_was_kept_for_it_once_it_resumes)
{
    start_mesh(2, NULL);
    struct node *a = &nodes[0], *b = &nodes[1];
    struct mom_client sub, pub;
    subscribe(&sub, b, "SUBSCRIBE", "s");
    wait_peer(a, b, "channels", "1");
    long long links = peer_number(a, b, "links");
    ck_assert_int_ge(links, 1);
    ck_assert_int_eq(kill(b->p.pid, SIGSTOP), 0);
    /* Three silent heartbeats, and A holds B's interest while it waits. */
    wait_peer(a, b, "state", "down");
    ck_assert_int_eq(peer_number(a, b, "channels"), 1);
    mom_connect(&pub, a->port);
    publish_seq(&pub, a, "s", 0, FEW_MESSAGES, 0);
    char want[16];
    snprintf(want, sizeof want, "%d", FEW_MESSAGES);
    wait_peer(a, b, "msgs_out", want);
    WAIT_FOR(peer_number(a, b, "spilled_bytes") > 0, "nothing spilled: %s",
             peers_of(a));
    ck_assert_int_eq(kill(b->p.pid, SIGCONT), 0);
    int next[MAX_NODES] = {0};
    read_in_order(&sub, "s", FEW_MESSAGES, next, "B's subscriber");
    publish_seq(&pub, a, "s", FEW_MESSAGES, 1, 0);
    read_in_order(&sub, "s", 1, next, "B's subscriber");
    expect_nothing_more(&sub);
    wait_peer(a, b, "state", "up");
    ck_assert_int_gt(peer_number(a, b, "links"), links);
    wait_peer(a, b, "spilled_bytes", "0");
    ck_assert_int_eq(peer_number(a, b, "dropped"), 0);
    mom_close(&sub);
    mom_close(&pub);
    finish();
}
END_TEST

START_TEST(brokers_with_the_wrong_password_stay_apart)
{
    /* B is lower than A and dials it; C is higher and introduces itself,
     * so that A dials C: each side gets the other's wrong password. */
    int ports[3];
    mom_free_low_ports(ports, 3);
    struct node *a = add_node(ports[1]);
    struct node *b = add_node(ports[0]);
    struct node *c = add_node(ports[2]);
    a->password = "secret";
    b->password = "other";
    c->password = "other";
    names(b, a);
    names(c, a);
    start(a);
    start(b);
    start(c);
    double until = now_s() + APART_WATCH_MS / 1000.0;
    while (now_s() < until) {
        for (int i = 0; i < 3; i++)
            MOM_CHECK(info_number(&nodes[i], "peers_up") == 0, "%s",
                      peers_of(&nodes[i]));
        pause_a_moment();
    }
    for (int i = 1; i < 3; i++) {
        ck_assert_str_ne(peer_field(&nodes[i], a, "state"), "up");
        ck_assert_str_ne(peer_field(&nodes[i], a, "state"), "");
        ck_assert_int_eq(peer_number(&nodes[i], a, "links"), 0);
    }
    /* A PEER without the password, or with a wrong one, is turned away. */
    const char *wrong[] = {"PEER", "n1", "1", TESTER_ADDR, "wrongpw"};
    for (int argc = 4; argc <= 5; argc++) {
        struct mom_client raw;
        mom_connect(&raw, a->port);
        mom_command(&raw, argc, wrong);
        mom_expect(&raw, "-WRONGPASS invalid username-password pair or user "
                         "is disabled.\r\n");
        ck_assert(mom_closed(&raw));
        mom_close(&raw);
    }
    finish();
}
END_TEST

/* A connection that has done the handshake with @p a, whose node name
 * and epoch the PEER reply must carry. */
static void handshake(struct mom_client *raw, struct node *a)
{
    char name[64], epoch[32], addr[32];
    info_string(a, "node_name", name, sizeof name);
    info_string(a, "node_epoch", epoch, sizeof epoch);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", a->port);
    mom_connect(raw, a->port);
    const char *argv[] = {"PEER", "tester", "1", TESTER_ADDR};
    mom_command(raw, 4, argv);
    char *items[4];
    ck_assert_int_eq(mom_read_items(raw, items, 4), 4);
    ck_assert_msg(strcasecmp(items[0], "PEER") == 0, "%s", items[0]);
    ck_assert_str_eq(items[1], name);
    ck_assert_str_eq(items[2], epoch);
    ck_assert_str_eq(items[3], addr);
    mom_free_items(items, 4);
}

/* Skips what the broker sends on the link (its interest, RSYNC, PEERS,
 * heartbeats: all commands, none a reply) up to the first reply, which
 * must be an -ERR; then the broker closes. */
static void expect_error_and_close(struct mom_client *raw, const char *what)
{
    for (;;) {
        char *v = NULL;
        mom_read_value(raw, &v);
        if (v[0] == '*') {
            free(v);
            continue;
        }
        ck_assert_msg(strncmp(v, "-ERR ", 5) == 0, "%s answered %s", what, v);
        free(v);
        break;
    }
    ck_assert_msg(mom_closed(raw), "the link stayed open after %s", what);
}

START_TEST(a_link_that_sends_anything_wrong_is_closed)
{
    struct node *a = add_node(mom_free_low_port());
    start(a);
    struct node tester = {.port = TESTER_PORT, .name = "T"};
    static const char unbalanced[] = "*2\r\n$4\r\nRPUB\r\n$999999999999\r\n";
    const char *no_args[] = {"RSUB"};
    const char *one_arg[] = {"RPUB", "onlyone"};
    const char *subscribe_cmd[] = {"SUBSCRIBE", "x"};
    const char *unknown[] = {"FOO"};
    const char *ping[] = {"PING"};
    struct {
        const char *what;
        int argc;
        const char *const *argv;
    } bad[] = {
        {"RSUB without a channel", 1, no_args},
        {"RPUB without a payload", 2, one_arg},
        {"SUBSCRIBE on a link", 2, subscribe_cmd},
        {"an unknown command", 1, unknown},
        {"a bulk string longer than the limit", 0, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mom_client raw;
        handshake(&raw, a);
        wait_peer(a, &tester, "state", "up");
        /* A heartbeat gets no answer: the error is the first reply. */
        mom_command(&raw, 1, ping);
        if (bad[i].argv != NULL)
            mom_command(&raw, bad[i].argc, bad[i].argv);
        else
            mom_send(&raw, unbalanced, sizeof unbalanced - 1);
        expect_error_and_close(&raw, bad[i].what);
        mom_close(&raw);
        /* The next handshake, same node and epoch, needs this one gone. */
        WAIT_FOR(!peer_is(a, &tester, "state", "up"),
                 "the link is still up after %s: %s", bad[i].what, peers_of(a));
    }
    ck_assert_int_eq(peer_number(a, &tester, "links"), 5);
    /* The broker is fine. */
    struct mom_client c;
    mom_connect(&c, a->port);
    mom_command(&c, 1, ping);
    mom_expect(&c, "+PONG\r\n");
    mom_close(&c);
    finish();
}
END_TEST

START_TEST(a_client_may_not_speak_for_a_peer)
{
    struct node *a = add_node(mom_free_low_port());
    start(a);
    const char *ping[] = {"PING"};
    struct mom_client c;
    mom_connect(&c, a->port);
    /* Each is named as the broker names its commands, in lower case,
     * whatever the case it was sent in; the connection stays open. */
    const char *peer_only[][3] = {
        {"RSUB", "x", NULL},    {"RUNSUB", "x", NULL}, {"RPSUB", "x*", NULL},
        {"RPUNSUB", "x*", NULL}, {"RPUB", "x", "y"},    {"RSYNC", NULL, NULL},
        {"PEERS", TESTER_ADDR, NULL},
    };
    for (size_t i = 0; i < sizeof peer_only / sizeof peer_only[0]; i++) {
        int argc = 1;
        while (argc < 3 && peer_only[i][argc] != NULL)
            argc++;
        mom_command(&c, argc, peer_only[i]);
        char want[96], lower[16];
        size_t k = 0;
        for (; peer_only[i][0][k] != '\0' && k < sizeof lower - 1; k++)
            lower[k] = (char)tolower((unsigned char)peer_only[i][0][k]);
        lower[k] = '\0';
        snprintf(want, sizeof want,
                 "-ERR '%s' is a peer command: send PEER first\r\n", lower);
        mom_expect(&c, want);
    }
    mom_command(&c, 1, ping);
    mom_expect(&c, "+PONG\r\n");
    mom_close(&c);
    finish();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 federation");
    TCase *mesh = tcase_create("mesh");
    tcase_add_fd_guard(mesh);
    tcase_add_unchecked_fixture(mesh, make_spill_dir, remove_spill_dir);
    tcase_add_checked_fixture(mesh, setup, teardown);
    tcase_add_test(mesh, every_subscriber_of_a_mesh_gets_every_message_once_in_order);
    tcase_add_test(mesh, a_message_crosses_only_to_brokers_with_an_interest);
    tcase_add_test(mesh, a_broker_that_names_one_member_meets_them_all);
    suite_add_tcase(s, mesh);
    TCase *fail = tcase_create("failures");
    tcase_add_fd_guard(fail);
    tcase_add_unchecked_fixture(fail, make_spill_dir, remove_spill_dir);
    tcase_add_checked_fixture(fail, setup, teardown);
    tcase_add_test(fail, a_killed_broker_restarted_is_met_as_a_new_boot);
    tcase_add_test(fail, a_stopped_broker_gets_what_was_kept_for_it_once_it_resumes);
    tcase_add_test(fail, brokers_with_the_wrong_password_stay_apart);
    tcase_add_test(fail, a_link_that_sends_anything_wrong_is_closed);
    tcase_add_test(fail, a_client_may_not_speak_for_a_peer);
    suite_add_tcase(s, fail);
    return s;
}
