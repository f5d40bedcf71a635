/* momd as a program, driven by plain sockets: a thousand subscribers on
 * four loops each get every message exactly once and in order; a
 * subscriber that reads nothing for ten seconds loses nothing, through
 * its spill file; the caps with both policies; a stop with spill files
 * present; and the files a crash left, removed at the next start. */
#include "test_support.h"

#include "mom_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAN_SUBSCRIBERS 1000
#define FAN_PUBLISHERS 2
#define FAN_MESSAGES 100 /* per publisher */

#define SLOW_MESSAGES 60000
#define SLOW_PAYLOAD 1024
#define SLOW_SILENCE_S 10
#define PUBLISH_BATCH 500

#define CAP_MEMORY "65536"
#define CAP_DISK "1048576"
#define CAP_MESSAGES 8000
/* Most messages publish_until() sends before the test gives up. */
#define UNTIL_MAX_MESSAGES 200000
/* The slow subscribers' receive buffer: small, so that the broker's
 * output backs up sooner than loopback's autotuned buffers would let it,
 * but above one segment (see mom_connect_with_window()). */
#define SLOW_WINDOW (256 * 1024)
/* For a subscriber that never reads: its output backs up at once, and the
 * kernel's buffers, which a tiny window keeps from growing, never take
 * the spill file's bytes back. */
#define TINY_WINDOW 4096
/* Bytes a test keeps in a spill file when it needs one to stay there:
 * more than the kernel's largest send buffer (tcp_wmem's 4 MiB), so that
 * no growth of the socket's buffers can drain it. */
#define SPILL_HELD (8LL * 1024 * 1024)

static char spill_dir[64];

static void make_spill_dir(void)
{
    snprintf(spill_dir, sizeof spill_dir, "/tmp/momd-test-XXXXXX");
    ck_assert_msg(mkdtemp(spill_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_spill_dir(void)
{
    ck_assert_msg(rmdir(spill_dir) == 0, "%s not empty: %s", spill_dir,
                  strerror(errno));
}

static void subscribe_with_window(struct mom_client *c, int port,
                                  const char *channel, int window)
{
    mom_connect_with_window(c, port, window);
    const char *argv[] = {"SUBSCRIBE", channel};
    mom_command(c, 2, argv);
    char want[128];
    snprintf(want, sizeof want, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n",
             strlen(channel), channel);
    mom_expect(c, want);
}

static void subscribe(struct mom_client *c, int port, const char *channel)
{
    subscribe_with_window(c, port, channel, SLOW_WINDOW);
}

/* A payload that says who sent it and its number, padded to @p size. */
static void payload(char *out, size_t size, int publisher, int seq)
{
    int n = snprintf(out, size, "p%d:%08d:", publisher, seq);
    memset(out + n, 'x', size - 1 - (size_t)n);
    out[size - 1] = '\0';
}

/* Publishes @p count messages in pipelined batches and checks that each
 * reply says @p receivers (negative: any). */
static void publish_many(struct mom_client *pub, const char *channel,
                         int publisher, int first, int count, size_t size,
                         long long receivers)
{
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    for (int done = 0; done < count;) {
        int batch = count - done < PUBLISH_BATCH ? count - done : PUBLISH_BATCH;
        for (int i = 0; i < batch; i++) {
            payload(text, size, publisher, first + done + i);
            const char *argv[] = {"PUBLISH", channel, text};
            mom_command(pub, 3, argv);
        }
        for (int i = 0; i < batch; i++) {
            char *r = NULL;
            mom_read_value(pub, &r);
            MOM_CHECK(r[0] == ':', "PUBLISH answered %s", r);
            MOM_CHECK(receivers < 0 || atoll(r + 1) == receivers,
                      "PUBLISH reached %s, not %lld", r + 1, receivers);
            free(r);
        }
        done += batch;
    }
    free(text);
}

/* Publishes batches of @p size-byte messages, numbered from 0, until the
 * broker's INFO says @p field >= @p value; returns how many it sent. How
 * many that takes depends on the kernel's socket buffers, so the tests
 * ask the broker rather than guess. */
static int publish_until(struct mom_client *pub, int port, const char *channel,
                         const char *field, long long value,
                         long long receivers)
{
    int sent = 0;
    while (mom_info(port, field) < value) {
        ck_assert_msg(sent < UNTIL_MAX_MESSAGES, "%s stayed below %lld", field,
                      value);
        publish_many(pub, channel, 0, sent, PUBLISH_BATCH, SLOW_PAYLOAD,
                     receivers);
        sent += PUBLISH_BATCH;
    }
    return sent;
}

static int seq_of(const char *text, int *publisher)
{
    MOM_CHECK(text[0] == 'p', "payload %.20s", text);
    *publisher = atoi(text + 1);
    return atoi(strchr(text, ':') + 1);
}

/* After the pushes a test expects, a PING proves nothing else was queued:
 * its answer must come next. */
static void expect_nothing_more(struct mom_client *c)
{
    const char *argv[] = {"PING"};
    mom_command(c, 1, argv);
    mom_expect(c, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

START_TEST(subscribers_on_four_loops_get_every_message_once_in_order)
{
    struct mom_proc p;
    const char *args[] = {"--threads", "4", NULL};
    mom_start(&p, 0, args);
    struct mom_client *subs = calloc(FAN_SUBSCRIBERS, sizeof *subs);
    ck_assert_ptr_nonnull(subs);
    for (int i = 0; i < FAN_SUBSCRIBERS; i++)
        subscribe_with_window(&subs[i], p.port, "fan", 0);
    struct mom_client pubs[FAN_PUBLISHERS];
    for (int k = 0; k < FAN_PUBLISHERS; k++)
        mom_connect(&pubs[k], p.port);
    /* The publishers take turns, so that their messages interleave. */
    for (int seq = 0; seq < FAN_MESSAGES; seq += 10) {
        for (int k = 0; k < FAN_PUBLISHERS; k++)
            publish_many(&pubs[k], "fan", k, seq, 10, 32, FAN_SUBSCRIBERS);
    }
    for (int i = 0; i < FAN_SUBSCRIBERS; i++) {
        int next[FAN_PUBLISHERS] = {0};
        for (int m = 0; m < FAN_PUBLISHERS * FAN_MESSAGES; m++) {
            char *text = mom_read_message(&subs[i], NULL);
            int k;
            int seq = seq_of(text, &k);
            MOM_CHECK(k >= 0 && k < FAN_PUBLISHERS, "publisher %d", k);
            MOM_CHECK(seq == next[k], "subscriber %d: p%d sent %d, expected %d",
                      i, k, seq, next[k]);
            next[k]++;
            free(text);
        }
        expect_nothing_more(&subs[i]);
        mom_close(&subs[i]);
    }
    for (int k = 0; k < FAN_PUBLISHERS; k++)
        mom_close(&pubs[k]);
    free(subs);
    ck_assert_int_eq(mom_info(p.port, "messages_delivered"),
                     (long long)FAN_SUBSCRIBERS * FAN_PUBLISHERS * FAN_MESSAGES);
    int status = mom_stop(&p, SIGTERM);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
                  status);
}
END_TEST

static void read_in_order(struct mom_client *c, int count)
{
    for (int i = 0; i < count; i++) {
        char *text = mom_read_message(c, NULL);
        int k;
        MOM_CHECK(seq_of(text, &k) == i, "message %.12s, expected %d", text, i);
        MOM_CHECK(strlen(text) == SLOW_PAYLOAD - 1, "%zu bytes", strlen(text));
        free(text);
    }
}

static void wait_for_no_files(const char *dir)
{
    for (int i = 0; i < 500 && mom_count_files(dir) > 0; i++)
        usleep(10000);
    ck_assert_int_eq(mom_count_files(dir), 0);
}

START_TEST(a_subscriber_that_reads_nothing_for_ten_seconds_loses_nothing)
{
    make_spill_dir();
    struct mom_proc p;
    const char *args[] = {"--threads", "2", "--spill-dir", spill_dir, NULL};
    mom_start(&p, 0, args);
    struct mom_client sub, pub;
    subscribe(&sub, p.port, "slow");
    time_t silent_since = time(NULL);
    mom_connect(&pub, p.port);
    publish_many(&pub, "slow", 0, 0, SLOW_MESSAGES, SLOW_PAYLOAD, 1);
    /* Far more than its socket holds: the rest waits on disk. */
    ck_assert_int_ge(mom_count_files(spill_dir), 1);
    ck_assert_int_gt(mom_info(p.port, "spill_bytes_total"), 0);
    while (time(NULL) - silent_since < SLOW_SILENCE_S)
        sleep(1);
    read_in_order(&sub, SLOW_MESSAGES);
    expect_nothing_more(&sub);
    wait_for_no_files(spill_dir);
    ck_assert_int_eq(mom_info(p.port, "spill_bytes_now"), 0);
    mom_close(&sub);
    mom_close(&pub);
    int status = mom_stop(&p, SIGTERM);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
                  status);
    remove_spill_dir();
}
END_TEST

START_TEST(at_the_disk_cap_the_disconnect_policy_closes_the_subscriber)
{
    make_spill_dir();
    struct mom_proc p;
    const char *args[] = {"--spill-dir", spill_dir, "--sub-memory-limit",
                          CAP_MEMORY, "--sub-disk-cap", CAP_DISK, NULL};
    mom_start(&p, 0, args);
    struct mom_client sub, pub;
    subscribe(&sub, p.port, "capped");
    mom_connect(&pub, p.port);
    publish_until(&pub, p.port, "capped", "slow_clients_closed", 1, -1);
    /* What was sent before the close arrives, then the end: the bytes
     * that were queued are discarded with the connection. */
    int seq = mom_count_until_closed(&sub);
    ck_assert_int_gt(seq, 0);
    ck_assert_int_eq(mom_info(p.port, "slow_clients_closed"), 1);
    wait_for_no_files(spill_dir);
    /* The publisher goes on, now to nobody. */
    publish_many(&pub, "capped", 0, 0, 1, 16, 0);
    mom_close(&sub);
    mom_close(&pub);
    ck_assert_int_eq(WEXITSTATUS(mom_stop(&p, SIGTERM)), 0);
    remove_spill_dir();
}
END_TEST

START_TEST(drop_oldest_keeps_the_newest_in_order_and_counts_the_rest)
{
    make_spill_dir();
    struct mom_proc p;
    const char *args[] = {"--spill-dir", spill_dir, "--sub-memory-limit",
                          CAP_MEMORY, "--sub-disk-cap", CAP_DISK,
                          "--policy", "drop-oldest", NULL};
    mom_start(&p, 0, args);
    struct mom_client sub, pub;
    subscribe(&sub, p.port, "lossy");
    mom_connect(&pub, p.port);
    int sent = publish_until(&pub, p.port, "lossy", "spill_dropped_messages", 1,
                             1);
    publish_many(&pub, "lossy", 0, sent, CAP_MESSAGES, SLOW_PAYLOAD, 1);
    sent += CAP_MESSAGES;
    int received = 0;
    int last = -1;
    while (last != sent - 1) {
        char *text = mom_read_message(&sub, NULL);
        int k;
        int seq = seq_of(text, &k);
        MOM_CHECK(seq > last, "%d after %d", seq, last);
        last = seq;
        received++;
        free(text);
    }
    expect_nothing_more(&sub);
    long long dropped = mom_info(p.port, "spill_dropped_messages");
    ck_assert_int_gt(dropped, 0);
    ck_assert_int_eq(received + dropped, sent);
    wait_for_no_files(spill_dir);
    mom_close(&sub);
    mom_close(&pub);
    ck_assert_int_eq(WEXITSTATUS(mom_stop(&p, SIGTERM)), 0);
    remove_spill_dir();
}
END_TEST

START_TEST(the_broker_disk_cap_is_shared_by_every_subscriber)
{
    make_spill_dir();
    struct mom_proc p;
    const char *args[] = {"--spill-dir", spill_dir, "--sub-memory-limit",
                          CAP_MEMORY, "--disk-cap", CAP_DISK, NULL};
    mom_start(&p, 0, args);
    struct mom_client a, b, pub;
    subscribe(&a, p.port, "shared");
    subscribe(&b, p.port, "shared");
    mom_connect(&pub, p.port);
    /* Each alone stays under the broker's cap; together they pass it. */
    publish_until(&pub, p.port, "shared", "slow_clients_closed", 1, -1);
    ck_assert_int_le(mom_info(p.port, "spill_bytes_now"), 1048576);
    mom_close(&a);
    mom_close(&b);
    mom_close(&pub);
    wait_for_no_files(spill_dir);
    ck_assert_int_eq(WEXITSTATUS(mom_stop(&p, SIGTERM)), 0);
    remove_spill_dir();
}
END_TEST

START_TEST(sigterm_with_spill_files_exits_zero_and_removes_them)
{
    make_spill_dir();
    struct mom_proc p;
    const char *args[] = {"--spill-dir", spill_dir, "--sub-memory-limit",
                          CAP_MEMORY, NULL};
    mom_start(&p, 0, args);
    struct mom_client sub, pub;
    subscribe_with_window(&sub, p.port, "stop", TINY_WINDOW);
    mom_connect(&pub, p.port);
    publish_until(&pub, p.port, "stop", "spill_bytes_now", SPILL_HELD, 1);
    ck_assert_int_ge(mom_count_files(spill_dir), 1);
    int status = mom_stop(&p, SIGTERM);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
                  status);
    ck_assert_int_eq(mom_count_files(spill_dir), 0);
    mom_close(&sub);
    mom_close(&pub);
    remove_spill_dir();
}
END_TEST

START_TEST(spill_files_left_by_a_crash_are_removed_at_the_next_start)
{
    make_spill_dir();
    int port = mom_free_low_port();
    struct mom_proc p;
    const char *args[] = {"--spill-dir", spill_dir, "--sub-memory-limit",
                          CAP_MEMORY, NULL};
    mom_start(&p, port, args);
    struct mom_client sub, pub;
    subscribe_with_window(&sub, p.port, "crash", TINY_WINDOW);
    mom_connect(&pub, p.port);
    publish_until(&pub, p.port, "crash", "spill_bytes_now", SPILL_HELD, 1);
    int status = mom_stop(&p, SIGKILL);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_ge(mom_count_files(spill_dir), 1);
    /* Another broker's file (another port) is not this one's to remove. */
    char other[128];
    snprintf(other, sizeof other, "%s/momd-1-1-0.spill", spill_dir);
    int fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    mom_close(&sub);
    mom_close(&pub);
    mom_start(&p, port, args);
    ck_assert_int_eq(mom_count_files(spill_dir), 1);
    ck_assert_int_eq(unlink(other), 0);
    ck_assert_int_eq(WEXITSTATUS(mom_stop(&p, SIGTERM)), 0);
    remove_spill_dir();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 broker");
    TCase *fan = tcase_create("fanout");
    tcase_add_fd_guard(fan);
    tcase_add_test(fan, subscribers_on_four_loops_get_every_message_once_in_order);
    suite_add_tcase(s, fan);
    TCase *slow = tcase_create("slow subscribers");
    tcase_add_fd_guard(slow);
    tcase_add_test(slow, a_subscriber_that_reads_nothing_for_ten_seconds_loses_nothing);
    tcase_add_test(slow, at_the_disk_cap_the_disconnect_policy_closes_the_subscriber);
    tcase_add_test(slow, drop_oldest_keeps_the_newest_in_order_and_counts_the_rest);
    tcase_add_test(slow, the_broker_disk_cap_is_shared_by_every_subscriber);
    suite_add_tcase(s, slow);
    TCase *stop = tcase_create("stop and restart");
    tcase_add_fd_guard(stop);
    tcase_add_test(stop, sigterm_with_spill_files_exits_zero_and_removes_them);
    tcase_add_test(stop, spill_files_left_by_a_crash_are_removed_at_the_next_start);
    suite_add_tcase(s, stop);
    return s;
}
