/* The netcat example, run as a program against a protocol echo server in
 * the test's loop: a large input comes back whole and netcat exits 0
 * after the half-close; a refused port makes it give up with a message
 * and a non-zero status. It is the example built next to this program
 * (build/examples/netcat for build/tests/ch05/test_netcat). */
#include "net_test.h"

#include "net/event_loop.h"
#include "net/protocol.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NETCAT_BYTES ((size_t)4 * 1024 * 1024)
#define STDERR_MAX 4096

/* build/tests/ch05/test_netcat -> build/examples/netcat */
static void netcat_path(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(n > 0, "readlink: %s", strerror(errno));
    self[n] = '\0';
    char *build = dirname(dirname(dirname(self)));
    snprintf(out, cap, "%s/examples/netcat", build);
    ck_assert_msg(access(out, X_OK) == 0,
                  "%s: %s (the examples are built with the tests)", out,
                  strerror(errno));
}

struct child {
    pid_t pid;
    int in;  /* our end of its standard input */
    int out; /* our end of its standard output */
    int err; /* our end of its standard error */
};

/* Blocking pipes: the threads that feed and drain them simply wait. */
static void blocking_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
}

static void spawn_netcat(struct child *c, const struct inet_address *addr)
{
    char path[PATH_MAX], port[16];
    netcat_path(path, sizeof path);
    snprintf(port, sizeof port, "%u", inet_address_port(addr));
    int in[2], out[2], err[2];
    blocking_pipe(in);
    blocking_pipe(out);
    blocking_pipe(err);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    /* A test runner may ignore SIGPIPE; netcat gets the default. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {path, "127.0.0.1", port, NULL};
    int rc = posix_spawn(&c->pid, path, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ck_assert_msg(rc == 0, "posix_spawn: %s", strerror(rc));
    test_close(in[0]);
    test_close(out[1]);
    test_close(err[1]);
    c->in = in[1];
    c->out = out[0];
    c->err = err[0];
}

/* Waits for the child; returns its exit status (-1 if it did not exit),
 * with what it wrote on standard error in @p err_text. */
static int finish_netcat(struct child *c, char *err_text, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(c->err, err_text + got,
                                      cap - 1 - got)) > 0)
        got += (size_t)n;
    err_text[got] = '\0';
    test_close(c->err);
    int status;
    ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- the echo server ------------------------------------------------------------ */

static void echo_received(struct protocol *p, const void *data, size_t len)
{
    (void)protocol_write(p, data, len);
}

static void count_lost(struct protocol *p)
{
    int *lost = protocol_factory_ctx(p);
    ++*lost;
}

static const struct protocol_ops echo_ops = {
    .data_received = echo_received,
    .connection_lost = count_lost,
};

/* --- the feeding and draining threads ------------------------------------------- */

static void feed_stdin(struct client_thread *ct)
{
    struct child *c = ct->arg;
    char *data = malloc(NETCAT_BYTES);
    if (data == NULL) {
        client_fail(ct, "no memory");
    } else {
        fill_pattern(data, NETCAT_BYTES, 5);
        size_t done = 0;
        while (done < NETCAT_BYTES) {
            ssize_t n = write(c->in, data + done, NETCAT_BYTES - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                client_fail(ct, "write: %s", strerror(errno));
                break;
            }
            done += (size_t)n;
        }
    }
    free(data);
    close(c->in); /* the end of netcat's input */
}

static void drain_stdout(struct client_thread *ct)
{
    struct child *c = ct->arg;
    char *got = malloc(NETCAT_BYTES + 1), *want = malloc(NETCAT_BYTES);
    if (got == NULL || want == NULL) {
        client_fail(ct, "no memory");
    } else {
        fill_pattern(want, NETCAT_BYTES, 5);
        long n = client_read_to_eof(ct, c->out, got, NETCAT_BYTES + 1);
        if (n != (long)NETCAT_BYTES)
            client_fail(ct, "netcat printed %ld bytes of %zu", n,
                        NETCAT_BYTES);
        else if (memcmp(got, want, NETCAT_BYTES) != 0)
            client_fail(ct, "netcat printed something else");
    }
    free(got);
    free(want);
    close(c->out);
}

START_TEST(large_input_comes_back_whole_then_netcat_exits_zero)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_ptr_nonnull(loop);
    int lost = 0;
    struct protocol_factory factory = {.ops = &echo_ops, .ctx = &lost};
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "nc_echo", 0);
    ck_assert_ptr_nonnull(server);
    protocol_server_attach(server, &factory);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, &addr), 0);
    struct child c;
    spawn_netcat(&c, &addr);
    struct client_thread feeder, drainer;
    client_thread_start(&feeder, loop, &addr, feed_stdin, &c);
    client_thread_start(&drainer, loop, &addr, drain_stdout, &c);
    client_thread_finish(&feeder, 60000);
    client_thread_finish(&drainer, 60000);
    char err_text[STDERR_MAX];
    int status = finish_netcat(&c, err_text, sizeof err_text);
    ck_assert_msg(status == 0, "netcat exited %d: %s", status, err_text);
    run_loop_until(loop, &lost, 1, 10000); /* the half-close ended it */
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(a_refused_port_makes_netcat_give_up)
{
    /* Bound but not listening: every connect is refused. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    socklen_t len;
    const struct sockaddr *sa = inet_address_sockaddr(&any, &len);
    ck_assert_int_eq(bind(fd, sa, len), 0);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&bound, &blen), 0);
    ck_assert_int_eq(
        inet_address_from_sockaddr(&addr, (struct sockaddr *)&bound, blen),
        0);
    struct child c;
    spawn_netcat(&c, &addr);
    test_close(c.out);
    char err_text[STDERR_MAX];
    int status = finish_netcat(&c, err_text, sizeof err_text);
    test_close(c.in);
    test_close(fd);
    ck_assert_int_eq(status, 1);
    char want[64];
    snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%u",
             inet_address_port(&addr));
    ck_assert_msg(strstr(err_text, want) != NULL, "netcat said: %s",
                  err_text);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("netcat");
    TCase *tc = tcase_create("netcat");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, large_input_comes_back_whole_then_netcat_exits_zero);
    tcase_add_test(tc, a_refused_port_makes_netcat_give_up);
    suite_add_tcase(s, tc);
    return s;
}
