/* Redis's own clients, unchanged, against momd: redis-cli in subscribe
 * mode, redis-benchmark publishing, redis-py (publish, subscribe, pattern
 * subscribe, ping, the pubsub helpers) and hiredis. */
#include "test_support.h"

#include "mom_test.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_REQUESTS "2000"
#define BENCH_COUNT 2000
#define CLI_MESSAGES 3
#define OUTPUT_MAX 65536

struct program {
    pid_t pid;
    int out;
};

static void run(struct program *p, const char *const *argv)
{
    p->pid = mom_spawn(argv, &p->out);
}

/* Reads what the program printed until it exits; returns its status. */
static int finish(struct program *p, char *text, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while ((n = read(p->out, text + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    close(p->out);
    int status = 0;
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    return status;
}

/* Reads lines until @p lines have come. */
static void read_lines(int fd, char *text, size_t cap, int lines)
{
    size_t len = 0;
    int seen = 0;
    while (seen < lines) {
        ck_assert_uint_lt(len, cap - 1);
        ssize_t n = read(fd, text + len, 1);
        ck_assert_msg(n == 1, "after %d lines: %.*s", seen, (int)len, text);
        if (text[len++] == '\n')
            seen++;
    }
    text[len] = '\0';
}

static void publish(int port, const char *channel, const char *text,
                    const char *want)
{
    struct mom_client c;
    mom_connect(&c, port);
    const char *argv[] = {"PUBLISH", channel, text};
    mom_command(&c, 3, argv);
    mom_expect(&c, want);
    mom_close(&c);
}

static void wait_for_subscribers(int port, const char *channel, int n)
{
    char want[64];
    snprintf(want, sizeof want, "*2\r\n$%zu\r\n%s\r\n:%d\r\n", strlen(channel),
             channel, n);
    for (int i = 0; i < 1000; i++) {
        struct mom_client c;
        mom_connect(&c, port);
        const char *argv[] = {"PUBSUB", "NUMSUB", channel};
        mom_command(&c, 3, argv);
        char *got = NULL;
        mom_read_value(&c, &got);
        mom_close(&c);
        bool done = strcmp(got, want) == 0;
        free(got);
        if (done)
            return;
        usleep(10000);
    }
    ck_abort_msg("no %d subscriber(s) on %s", n, channel);
}

static int stop(struct mom_proc *p)
{
    int status = mom_stop(p, SIGTERM);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(redis_cli_in_subscribe_mode_prints_each_message)
{
    struct mom_proc p;
    mom_start(&p, 0, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    const char *argv[] = {"redis-cli", "-p", port, "subscribe", "news", NULL};
    struct program cli;
    run(&cli, argv);
    char text[OUTPUT_MAX];
    read_lines(cli.out, text, sizeof text, 3);
    ck_assert_str_eq(text, "subscribe\nnews\n1\n");
    for (int i = 0; i < CLI_MESSAGES; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "hello %d", i);
        publish(p.port, "news", msg, ":1\r\n");
        read_lines(cli.out, text, sizeof text, 3);
        char want[64];
        snprintf(want, sizeof want, "message\nnews\n%s\n", msg);
        ck_assert_str_eq(text, want);
    }
    kill(cli.pid, SIGTERM);
    finish(&cli, text, sizeof text);
    ck_assert_int_eq(stop(&p), 0);
}
END_TEST

START_TEST(redis_benchmark_publishes_to_momd)
{
    struct mom_proc p;
    mom_start(&p, 0, NULL);
    struct mom_client sub;
    mom_connect(&sub, p.port);
    const char *s[] = {"SUBSCRIBE", "bench"};
    mom_command(&sub, 2, s);
    mom_expect(&sub, "*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n");
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    const char *argv[] = {"redis-benchmark", "-p", port, "-n", BENCH_REQUESTS,
                          "-P", "16", "-c", "4", "-q", "publish", "bench",
                          "payload", NULL};
    struct program bench;
    run(&bench, argv);
    char text[OUTPUT_MAX];
    int status = finish(&bench, text, sizeof text);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", text);
    ck_assert_msg(strstr(text, "requests per second") != NULL, "%s", text);
    for (int i = 0; i < BENCH_COUNT; i++) {
        char *m = mom_read_message(&sub, NULL);
        ck_assert_str_eq(m, "payload");
        free(m);
    }
    mom_close(&sub);
    ck_assert_int_eq(mom_info(p.port, "messages_published"), BENCH_COUNT);
    ck_assert_int_eq(stop(&p), 0);
}
END_TEST

/* A redis-py session; prints "ok" when every assertion held. */
static const char redis_py_script[] =
    "import sys, time, redis\n"
    "r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))\n"
    "assert r.ping() is True\n"
    "assert r.echo('x') == b'x'\n"
    "p = r.pubsub()\n"
    "p.subscribe('news')\n"
    "p.psubscribe('n*')\n"
    "def next_message():\n"
    "    for _ in range(500):\n"
    "        m = p.get_message(timeout=0.01)\n"
    "        if m is not None:\n"
    "            return m\n"
    "    raise SystemExit('no message')\n"
    "assert next_message()['type'] == 'subscribe'\n"
    "assert next_message()['type'] == 'psubscribe'\n"
    "assert r.publish('news', 'hello') == 2\n"
    "got = sorted((m['type'], m['data']) for m in (next_message(), next_message()))\n"
    "assert got == [('message', b'hello'), ('pmessage', b'hello')], got\n"
    "assert r.pubsub_numsub('news') == [(b'news', 1)]\n"
    "assert r.pubsub_numpat() == 1\n"
    "assert r.pubsub_channels() == [b'news']\n"
    "p.ping()\n"
    "assert next_message()['type'] == 'pong'\n"
    "p.unsubscribe()\n"
    "p.punsubscribe()\n"
    "assert next_message()['type'] == 'unsubscribe'\n"
    "assert next_message()['type'] == 'punsubscribe'\n"
    "p.close()\n"
    "try:\n"
    "    r.execute_command('NOSUCH')\n"
    "    raise SystemExit('no error')\n"
    "except redis.ResponseError as e:\n"
    "    assert 'unknown command' in str(e)\n"
    "print('ok')\n";

START_TEST(redis_py_publishes_and_subscribes)
{
    struct mom_proc p;
    mom_start(&p, 0, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    /* Debian's redis-py imports from Debian's python3. */
    const char *argv[] = {"/usr/bin/python3", "-c", redis_py_script, port, NULL};
    struct program py;
    run(&py, argv);
    char text[OUTPUT_MAX];
    int status = finish(&py, text, sizeof text);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", text);
    ck_assert_str_eq(text, "ok\n");
    ck_assert_int_eq(stop(&p), 0);
}
END_TEST

START_TEST(hiredis_publishes_and_subscribes)
{
    struct mom_proc p;
    mom_start(&p, 0, NULL);
    redisContext *sub = redisConnect("127.0.0.1", p.port);
    redisContext *pub = redisConnect("127.0.0.1", p.port);
    ck_assert(sub != NULL && !sub->err);
    ck_assert(pub != NULL && !pub->err);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", "hi");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->str, "subscribe");
    freeReplyObject(r);
    wait_for_subscribers(p.port, "hi", 1);
    r = redisCommand(pub, "PUBLISH %s %b", "hi", "a\0b", (size_t)3);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    void *reply = NULL;
    ck_assert_int_eq(redisGetReply(sub, &reply), REDIS_OK);
    r = reply;
    ck_assert_int_eq(r->elements, 3);
    ck_assert_str_eq(r->element[0]->str, "message");
    ck_assert_int_eq(r->element[2]->len, 3);
    ck_assert_mem_eq(r->element[2]->str, "a\0b", 3);
    freeReplyObject(r);
    r = redisCommand(pub, "NOSUCH");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(sub);
    redisFree(pub);
    ck_assert_int_eq(stop(&p), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 clients");
    TCase *tc = tcase_create("clients");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, redis_cli_in_subscribe_mode_prints_each_message);
    tcase_add_test(tc, redis_benchmark_publishes_to_momd);
    tcase_add_test(tc, redis_py_publishes_and_subscribes);
    tcase_add_test(tc, hiredis_publishes_and_subscribes);
    suite_add_tcase(s, tc);
    return s;
}
