/* Exercise 03.1: the line protocol of line_server.h, spoken by clients
 * that split lines, send many at once, and push past the maximum. */
#include "exercise_net.h"
#include "line_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The maximum the boundary tests give the server. */
#define SMALL_MAX_LINE 64
/* Lines sent in one write by the pipelining test. */
#define PIPELINED_LINES 1000
/* Bytes of ECHO lines a client sends before QUIT, without reading:
 * QUIT_BUFFERS times the most the kernel lets a socket buffer hold on
 * this machine (tcp_buffer_max()), so that replies are still queued in
 * the server when QUIT comes; at least QUIT_MIN_BYTES, twice the default
 * 4 MiB of tcp_wmem, and at most QUIT_MAX_BYTES, which bounds the run on
 * a machine with huge buffers. The lines are QUIT_LINE_BYTES long, sent
 * and checked QUIT_BLOCK_LINES at a time. */
#define QUIT_BUFFERS 2
#define QUIT_MIN_BYTES ((size_t)8 << 20)
#define QUIT_MAX_BYTES ((size_t)128 << 20)
#define QUIT_LINE_BYTES 1024
#define QUIT_REPLY_BYTES (QUIT_LINE_BYTES - 4) /* "ECHO " -> "+" */
#define QUIT_BLOCK_LINES 64
/* Bytes a client sends after QUIT, without reading. */
#define AFTER_QUIT_BYTES (64 * 1024)
/* Pause between the pieces of a split line, so that they tend to arrive
 * in separate reads (a test still passes if they do not). */
#define PIECE_PAUSE_US 20000

struct fixture {
    struct event_loop *loop;
    struct line_server *server;
    struct inet_address addr;
};

static void fixture_start(struct fixture *f, size_t max_line)
{
    f->loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    f->server = line_server_new(f->loop, &any_port, max_line);
    ck_assert_msg(f->server != NULL, "line_server_new: %s", strerror(errno));
    ck_assert_int_eq(line_server_start(f->server), 0);
    ck_assert_int_eq(line_server_listen_address(f->server, &f->addr), 0);
    ck_assert_uint_ne(inet_address_port(&f->addr), 0);
}

/* Runs fn in a client thread until it returns. */
static void fixture_talk(struct fixture *f, void (*fn)(struct client_thread *),
                         void *arg)
{
    struct client_thread ct;
    client_thread_start(&ct, f->loop, &f->addr, fn, arg);
    client_thread_finish(&ct, CLIENT_FINISH_MS);
}

static void fixture_stop(struct fixture *f)
{
    line_server_free(f->server);
    event_loop_free(f->loop);
    expect_no_fd_left();
}

/* A client socket whose small writes leave at once, one segment each. */
static int connect_no_delay(struct client_thread *ct)
{
    int fd = client_connect(ct);
    int on = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    return fd;
}

/* "x" repeated n times, after prefix, then end. */
static char *make_line(const char *prefix, size_t n, const char *end)
{
    size_t p = strlen(prefix), e = strlen(end);
    char *line = malloc(p + n + e + 1);
    if (line == NULL) /* client threads may not use ck_assert */
        abort();
    memcpy(line, prefix, p);
    memset(line + p, 'x', n);
    memcpy(line + p + n, end, e + 1);
    return line;
}

/* --- commands -------------------------------------------------------- */

struct exchange {
    const char *send;
    const char *reply;
};

struct script {
    const struct exchange *steps;
    size_t len;
};

/* Plays a script on one connection: each line, then its reply. */
static void script_client(struct client_thread *ct)
{
    const struct script *s = ct->arg;
    int fd = connect_no_delay(ct);
    if (fd < 0)
        return;
    for (size_t i = 0; i < s->len; i++)
        if (!client_exchange(ct, fd, s->steps[i].send, s->steps[i].reply))
            break;
    close(fd);
}

static void play(const struct exchange *steps, size_t len)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct script s = {steps, len};
    fixture_talk(&f, script_client, &s);
    fixture_stop(&f);
}

START_TEST(ping_gets_pong)
{
    static const struct exchange steps[] = {
        {"PING\n", "+PONG\n"},
        {"PING\n", "+PONG\n"},
    };
    play(steps, sizeof steps / sizeof steps[0]);
}
END_TEST

START_TEST(echo_returns_its_text)
{
    static const struct exchange steps[] = {
        {"ECHO hello, world\n", "+hello, world\n"},
        {"ECHO  two spaces\n", "+ two spaces\n"},
        {"ECHO \n", "+\n"},
        {"ECHO\n", "+\n"},
        {"ECHO PING\n", "+PING\n"},
    };
    play(steps, sizeof steps / sizeof steps[0]);
}
END_TEST

START_TEST(unknown_command_gets_an_error_and_the_connection_stays)
{
    static const struct exchange steps[] = {
        {"HELLO\n", "-ERR unknown command\n"},
        {"\n", "-ERR unknown command\n"},
        {"ping\n", "-ERR unknown command\n"},
        {"PING now\n", "-ERR unknown command\n"},
        {"ECHOES\n", "-ERR unknown command\n"},
        {" PING\n", "-ERR unknown command\n"},
        {"PING\n", "+PONG\n"},
    };
    play(steps, sizeof steps / sizeof steps[0]);
}
END_TEST

START_TEST(crlf_line_ends_are_accepted)
{
    static const struct exchange steps[] = {
        {"PING\r\n", "+PONG\n"},
        {"ECHO crlf\r\n", "+crlf\n"},
        {"ECHO a\rb\n", "+a\rb\n"}, /* only the \r of the line end goes */
        {"\r\n", "-ERR unknown command\n"},
    };
    play(steps, sizeof steps / sizeof steps[0]);
}
END_TEST

/* --- lines and reads ------------------------------------------------- */

/* Sends each piece separately, then expects reply. */
static bool send_in_pieces(struct client_thread *ct, int fd,
                           const char *const *pieces, const char *reply)
{
    char shown[128] = "";
    size_t used = 0;
    for (size_t i = 0; pieces[i] != NULL; i++) {
        if (!client_write_all(ct, fd, pieces[i], strlen(pieces[i])))
            return false;
        show_bytes(pieces[i], strlen(pieces[i]), shown + used,
                   sizeof shown - used);
        used = strlen(shown);
        if (pieces[i + 1] != NULL && used + 3 < sizeof shown)
            used += (size_t)snprintf(shown + used, sizeof shown - used,
                                     " + ");
        usleep(PIECE_PAUSE_US);
    }
    return client_expect(ct, fd, reply, shown);
}

static void split_client(struct client_thread *ct)
{
    int fd = connect_no_delay(ct);
    if (fd < 0)
        return;
    static const char *const ping[] = {"PI", "NG", "\n", NULL};
    static const char *const echo[] = {"ECHO ab", "c\r", "\n", NULL};
    static const char *const byte_by_byte[] = {"E", "C", "H", "O", " ", "z",
                                               "\n", NULL};
    if (send_in_pieces(ct, fd, ping, "+PONG\n") &&
        send_in_pieces(ct, fd, echo, "+abc\n"))
        send_in_pieces(ct, fd, byte_by_byte, "+z\n");
    close(fd);
}

START_TEST(line_split_across_writes_is_answered_once_whole)
{
    struct fixture f;
    fixture_start(&f, 0);
    fixture_talk(&f, split_client, NULL);
    fixture_stop(&f);
}
END_TEST

static void pipelining_client(struct client_thread *ct)
{
    size_t cap = (size_t)PIPELINED_LINES * 32;
    char *lines = malloc(cap), *want = malloc(cap), *got = malloc(cap);
    if (lines == NULL || want == NULL || got == NULL)
        abort();
    size_t lines_len = 0, want_len = 0;
    for (int i = 0; i < PIPELINED_LINES; i++) {
        if (i % 3 == 0) {
            lines_len += (size_t)snprintf(lines + lines_len,
                                          cap - lines_len, "PING\n");
            want_len += (size_t)snprintf(want + want_len, cap - want_len,
                                         "+PONG\n");
        } else {
            lines_len += (size_t)snprintf(lines + lines_len,
                                          cap - lines_len, "ECHO %d\n", i);
            want_len += (size_t)snprintf(want + want_len, cap - want_len,
                                         "+%d\n", i);
        }
    }
    int fd = client_connect(ct);
    if (fd >= 0 && client_write_all(ct, fd, lines, lines_len) &&
        client_read_within(ct, fd, got, want_len, "1000 lines in one write")) {
        size_t i = 0;
        while (i < want_len && got[i] == want[i])
            i++;
        if (i < want_len) {
            size_t from = i > 20 ? i - 20 : 0;
            size_t len = want_len - from < 40 ? want_len - from : 40;
            char w[96], g[96];
            client_fail(ct, "replies out of order at byte %zu: expected "
                            "'...%s', got '...%s'",
                        i, show_bytes(want + from, len, w, sizeof w),
                        show_bytes(got + from, len, g, sizeof g));
        }
    }
    if (fd >= 0)
        close(fd);
    free(lines);
    free(want);
    free(got);
}

START_TEST(pipelined_lines_get_their_replies_in_order)
{
    struct fixture f;
    fixture_start(&f, 0);
    fixture_talk(&f, pipelining_client, NULL);
    fixture_stop(&f);
}
END_TEST

/* Two clients, each in the middle of a line, in turn. */
static void two_clients(struct client_thread *ct)
{
    int a = connect_no_delay(ct), b = connect_no_delay(ct);
    if (a >= 0 && b >= 0 && client_write_all(ct, a, "EC", 2)) {
        usleep(PIECE_PAUSE_US);
        if (client_write_all(ct, b, "ECHO b", 6)) {
            usleep(PIECE_PAUSE_US);
            if (client_exchange(ct, a, "HO a\n", "+a\n"))
                client_exchange(ct, b, "\n", "+b\n");
        }
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
}

START_TEST(partial_lines_of_two_clients_do_not_mix)
{
    struct fixture f;
    fixture_start(&f, 0);
    fixture_talk(&f, two_clients, NULL);
    fixture_stop(&f);
}
END_TEST

/* --- the maximum length ---------------------------------------------- */

static void longest_lines_client(struct client_thread *ct)
{
    /* SMALL_MAX_LINE bytes in all, with "\n" or "\r\n". */
    char *lf = make_line("ECHO ", SMALL_MAX_LINE - 6, "\n");
    char *crlf = make_line("ECHO ", SMALL_MAX_LINE - 7, "\r\n");
    char *lf_reply = make_line("+", SMALL_MAX_LINE - 6, "\n");
    char *crlf_reply = make_line("+", SMALL_MAX_LINE - 7, "\n");
    int fd = connect_no_delay(ct);
    /* The longest line, its "\n" sent apart after a pause: the server
     * must not refuse it while it holds every byte but the last. */
    const char *const pieces[] = {lf, NULL};
    char *body = make_line("ECHO ", SMALL_MAX_LINE - 6, "");
    const char *const last_byte_apart[] = {body, "\n", NULL};
    if (fd >= 0 && send_in_pieces(ct, fd, pieces, lf_reply) &&
        client_exchange(ct, fd, crlf, crlf_reply))
        send_in_pieces(ct, fd, last_byte_apart, lf_reply);
    if (fd >= 0)
        close(fd);
    free(lf);
    free(crlf);
    free(lf_reply);
    free(crlf_reply);
    free(body);
}

START_TEST(line_of_the_maximum_length_is_served)
{
    struct fixture f;
    fixture_start(&f, SMALL_MAX_LINE);
    fixture_talk(&f, longest_lines_client, NULL);
    fixture_stop(&f);
}
END_TEST

static void too_long_client(struct client_thread *ct)
{
    /* Two good lines, then one byte more than the maximum. */
    char *lines = make_line("PING\nECHO a\nECHO ", SMALL_MAX_LINE - 5, "\n");
    int fd = connect_no_delay(ct);
    if (fd >= 0 && client_write_all(ct, fd, lines, strlen(lines)) &&
        client_expect(ct, fd, "+PONG\n+a\n-ERR line too long\n",
                      "two lines and one too long"))
        client_expect_eof(ct, fd, "-ERR line too long");
    if (fd >= 0)
        close(fd);
    free(lines);
}

START_TEST(line_one_byte_too_long_gets_an_error_then_the_end)
{
    struct fixture f;
    fixture_start(&f, SMALL_MAX_LINE);
    fixture_talk(&f, too_long_client, NULL);
    fixture_stop(&f);
}
END_TEST

static void endless_line_client(struct client_thread *ct)
{
    /* The maximum without a "\n": whatever comes next, the line is too
     * long already. The client sends no more and waits. */
    char *start = make_line("ECHO ", SMALL_MAX_LINE - 5, "");
    int fd = connect_no_delay(ct);
    if (fd >= 0 && client_write_all(ct, fd, start, strlen(start)) &&
        client_expect(ct, fd, "-ERR line too long\n",
                      "a line as long as the maximum with no end yet"))
        client_expect_eof(ct, fd, "-ERR line too long");
    if (fd >= 0)
        close(fd);
    free(start);
}

START_TEST(endless_line_is_refused_without_waiting_for_its_end)
{
    struct fixture f;
    fixture_start(&f, SMALL_MAX_LINE);
    fixture_talk(&f, endless_line_client, NULL);
    fixture_stop(&f);
}
END_TEST

START_TEST(maximum_below_the_minimum_is_refused)
{
    struct event_loop *loop = exercise_loop();
    struct inet_address any_port;
    inet_address_loopback(&any_port, 0, false);
    errno = 0;
    struct line_server *s =
        line_server_new(loop, &any_port, LINE_SERVER_MIN_LINE - 1);
    ck_assert_msg(s == NULL && errno == EINVAL,
                  "line_server_new(max_line %d): expected NULL and EINVAL, "
                  "got %p and errno %d",
                  LINE_SERVER_MIN_LINE - 1, (void *)s, errno);
    event_loop_free(loop);
    expect_no_fd_left();
}
END_TEST

/* --- closing --------------------------------------------------------- */

/* How much the QUIT test sends before QUIT on this machine, and how
 * long it waits for its client, which grows with it: CLIENT_FINISH_MS
 * for each QUIT_MIN_BYTES. */
struct quit_test {
    size_t lines; /* of QUIT_LINE_BYTES */
    int finish_ms;
};

static void quit_size(struct quit_test *q)
{
    size_t bytes = QUIT_BUFFERS * tcp_buffer_max();
    if (bytes < QUIT_MIN_BYTES)
        bytes = QUIT_MIN_BYTES;
    if (bytes > QUIT_MAX_BYTES)
        bytes = QUIT_MAX_BYTES;
    q->lines = bytes / QUIT_LINE_BYTES;
    q->finish_ms =
        CLIENT_FINISH_MS * (int)((bytes + QUIT_MIN_BYTES - 1) / QUIT_MIN_BYTES);
}

/* Copies of one line, count times, into a new buffer. */
static char *repeat_line(const char *line, size_t len, size_t count)
{
    char *out = malloc(len * count);
    if (out == NULL) /* client threads may not use ck_assert */
        abort();
    for (size_t i = 0; i < count; i++)
        memcpy(out + i * len, line, len);
    return out;
}

static void quit_client(struct client_thread *ct)
{
    /* Many lines before QUIT and more after it, all sent before
     * reading a reply: with a small receive window the replies
     * pile up in the server's output, which a graceful close delivers
     * in full; the lines after QUIT are read and ignored. Every ECHO line
     * is the same, so a block of them is sent again and again, and each
     * block of replies compared with one block of what they should be. */
    const struct quit_test *q = ct->arg;
    size_t after = AFTER_QUIT_BYTES / 5;
    char *line = make_line("ECHO ", QUIT_LINE_BYTES - 6, "\n");
    char *reply = make_line("+", QUIT_LINE_BYTES - 6, "\n");
    char *lines = repeat_line(line, QUIT_LINE_BYTES, QUIT_BLOCK_LINES);
    char *want = repeat_line(reply, QUIT_REPLY_BYTES, QUIT_BLOCK_LINES);
    char *got = malloc((size_t)QUIT_REPLY_BYTES * QUIT_BLOCK_LINES);
    char *tail = malloc(5 + after * 5);
    if (got == NULL || tail == NULL)
        abort();
    memcpy(tail, "QUIT\n", 5);
    for (size_t i = 0; i < after; i++)
        memcpy(tail + 5 + i * 5, "PING\n", 5);
    char what[64];
    snprintf(what, sizeof what, "%zu MiB of ECHO, QUIT and more PINGs",
             q->lines * QUIT_LINE_BYTES >> 20);
    int fd = client_connect_small_rcvbuf(ct);
    bool ok = fd >= 0;
    for (size_t i = 0; ok && i < q->lines; i += QUIT_BLOCK_LINES) {
        size_t k =
            q->lines - i < QUIT_BLOCK_LINES ? q->lines - i : QUIT_BLOCK_LINES;
        ok = client_write_all(ct, fd, lines, k * QUIT_LINE_BYTES);
    }
    ok = ok && client_write_all(ct, fd, tail, 5 + after * 5);
    for (size_t i = 0; ok && i < q->lines; i += QUIT_BLOCK_LINES) {
        size_t k =
            q->lines - i < QUIT_BLOCK_LINES ? q->lines - i : QUIT_BLOCK_LINES;
        ok = client_read_within(ct, fd, got, k * QUIT_REPLY_BYTES, what);
        if (ok && memcmp(got, want, k * QUIT_REPLY_BYTES) != 0) {
            client_fail(ct, "the replies before +BYE differ from the lines");
            ok = false;
        }
    }
    if (ok && client_expect(ct, fd, "+BYE\n", what))
        client_expect_eof(ct, fd, "+BYE");
    if (fd >= 0)
        close(fd);
    free(tail);
    free(got);
    free(want);
    free(lines);
    free(line);
    free(reply);
}

START_TEST(quit_gets_every_reply_then_bye_and_later_lines_are_ignored)
{
    struct fixture f;
    fixture_start(&f, 0);
    struct quit_test q;
    quit_size(&q);
    struct client_thread ct;
    client_thread_start(&ct, f.loop, &f.addr, quit_client, &q);
    client_thread_finish(&ct, q.finish_ms);
    fixture_stop(&f);
}
END_TEST

static void connect_and_ping(struct client_thread *ct)
{
    int *fd = ct->arg;
    *fd = connect_no_delay(ct);
    if (*fd >= 0)
        client_exchange(ct, *fd, "PING\n", "+PONG\n");
}

static void expect_end(struct client_thread *ct)
{
    int *fd = ct->arg;
    client_expect_eof(ct, *fd, "line_server_free()");
    close(*fd);
}

START_TEST(server_freed_with_a_connection_open_closes_it)
{
    struct fixture f;
    fixture_start(&f, 0);
    int fd = -1;
    fixture_talk(&f, connect_and_ping, &fd);
    ck_assert_int_ge(fd, 0);
    line_server_free(f.server);
    f.server = NULL;
    fixture_talk(&f, expect_end, &fd);
    event_loop_free(f.loop);
    expect_no_fd_left();
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 03.1 line server");
    TCase *tc = exercise_tcase("line_server");
    tcase_add_test(tc, ping_gets_pong);
    tcase_add_test(tc, echo_returns_its_text);
    tcase_add_test(tc, unknown_command_gets_an_error_and_the_connection_stays);
    tcase_add_test(tc, crlf_line_ends_are_accepted);
    tcase_add_test(tc, line_split_across_writes_is_answered_once_whole);
    tcase_add_test(tc, pipelined_lines_get_their_replies_in_order);
    tcase_add_test(tc, partial_lines_of_two_clients_do_not_mix);
    tcase_add_test(tc, line_of_the_maximum_length_is_served);
    tcase_add_test(tc, line_one_byte_too_long_gets_an_error_then_the_end);
    tcase_add_test(tc, endless_line_is_refused_without_waiting_for_its_end);
    tcase_add_test(tc, maximum_below_the_minimum_is_refused);
    tcase_add_test(tc, quit_gets_every_reply_then_bye_and_later_lines_are_ignored);
    tcase_add_test(tc, server_freed_with_a_connection_open_closes_it);
    suite_add_tcase(s, tc);
    return s;
}
