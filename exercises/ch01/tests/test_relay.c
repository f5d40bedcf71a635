/* Exercise 01.3: a relay from one pipe to another that survives its
 * writer closing.
 *
 * The relay reads pipe `in` and writes pipe `out`, whose capacity is cut
 * to one page so that its writes are partial. The test writes `in` and
 * reads `out`, a little per round, with channels of its own in the same
 * loop, and checks every byte against a pattern. The library's log goes
 * to the test, which fails on any error it reports (an fd closed before
 * its channel was removed is one). SIGPIPE is ignored during each test,
 * as the contract asks. Every test runs once per backend (epoll, poll). */
#include "test_support.h"

#include "relay.h"

#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TEST_TIMEOUT_S 5
/* The output pipe's capacity (the smallest Linux allows: one page). */
#define OUT_PIPE_SIZE 4096
/* What a test sends when it writes all before the loop runs: less than an
 * input pipe holds (64 KiB), more than the relay and the output hold. */
#define PREFILLED ((size_t)48 * 1024)
/* What a test sends a piece per round, while the relay runs. */
#define STREAMED ((size_t)256 * 1024)
#define PIECE 3000
/* The test's reader of the output takes at most this much per round. */
#define READ_CHUNK 1000
/* Rounds in which a relay with a full output surely gets stuck, how long
 * it is then watched, and the most rounds the loop may go round meanwhile:
 * one for the wake-up, and some slack. */
#define STALL_ROUNDS 10
#define IDLE_WAIT_MS 100
#define IDLE_ROUNDS_MAX 3

static const enum poller_kind backends[] = {POLLER_EPOLL, POLLER_POLL};
static const char *const backend_names[] = {"epoll", "poll"};

/* The library's error lines during a test. */
static int library_errors;
static char first_error[LOG_LINE_MAX];

static void capture_log(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    const char *error = memmem(line, len, " ERROR ", 7);
    if (error == NULL || library_errors++ > 0)
        return;
    /* From the level on, without the newline: the runner shows one line. */
    size_t from = (size_t)(error + 1 - line);
    while (len > from && line[len - 1] == '\n')
        len--;
    snprintf(first_error, sizeof first_error, "%.*s", (int)(len - from),
             line + from);
}

static const struct log_sink test_sink = {capture_log, NULL, NULL};
static struct sigaction saved_sigpipe;

static void capture_begin(void)
{
    library_errors = 0;
    first_error[0] = '\0';
    log_set_sink(&test_sink);
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    ck_assert_int_eq(sigaction(SIGPIPE, &ignore, &saved_sigpipe), 0);
}

static void capture_end(void)
{
    log_set_sink(NULL);
    sigaction(SIGPIPE, &saved_sigpipe, NULL);
}

static void assert_no_library_error(int backend)
{
    ck_assert_msg(library_errors == 0,
                  "%s: the library logged %d error(s), the first: \"%s\" "
                  "(an fd closed before its channel was removed?)",
                  backend_names[backend], library_errors, first_error);
}

static struct event_loop *new_loop(int backend)
{
    struct event_loop *loop = event_loop_new_with_poller(backends[backend]);
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i % 251);
}

static void fill_pattern(unsigned char *buf, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(from + i);
}

/* The two pipes: the relay gets in[0] and out[1], the test keeps in[1]
 * (its writer) and out[0] (its reader). */
struct pipes {
    int in[2];
    int out[2];
};

static void pipes_open(struct pipes *p)
{
    test_pipe(p->in);
    test_pipe(p->out);
    ck_assert_int_ge(fcntl(p->out[1], F_SETPIPE_SZ, OUT_PIPE_SIZE), 0);
}

/* What done saw; done quits the loop. */
struct outcome {
    int calls;
    int status;
    int in_fd_open; /* the relay's fds at the time of done */
    int out_fd_open;
    int in_fd;
    int out_fd;
};

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void record_done(struct relay *r, int status, void *ctx)
{
    struct outcome *o = ctx;
    (void)r;
    o->calls++;
    o->status = status;
    o->in_fd_open = fd_is_open(o->in_fd);
    o->out_fd_open = fd_is_open(o->out_fd);
    struct event_loop *loop = event_loop_of_current_thread();
    event_loop_quit(loop);
}

static struct relay *start_relay(struct event_loop *loop, struct pipes *p,
                                 struct outcome *o)
{
    memset(o, 0, sizeof *o);
    o->in_fd = p->in[0];
    o->out_fd = p->out[1];
    struct relay *r = relay_new(loop, p->in[0], p->out[1], record_done, o);
    ck_assert_msg(r != NULL, "relay_new: %s", strerror(errno));
    return r;
}

static void assert_done_once(const struct outcome *o, int status, int backend)
{
    ck_assert_msg(o->calls == 1, "%s: done was called %d times; expected once",
                  backend_names[backend], o->calls);
    ck_assert_msg(o->status == status,
                  "%s: done got status %d (%s); expected %d (%s)",
                  backend_names[backend], o->status, strerror(-o->status),
                  status, strerror(-status));
    ck_assert_msg(!o->in_fd_open && !o->out_fd_open,
                  "%s: when done was called, the relay's input was %s and "
                  "its output %s; expected both closed",
                  backend_names[backend], o->in_fd_open ? "open" : "closed",
                  o->out_fd_open ? "open" : "closed");
}

static void assert_relayed(const struct relay *r, size_t expected, int backend)
{
    ck_assert_msg(relay_bytes(r) == expected,
                  "%s: relay_bytes() is %llu; expected %zu (when the input "
                  "ends, what the buffer holds is still to be written)",
                  backend_names[backend], (unsigned long long)relay_bytes(r),
                  expected);
}

/* The test's reader of out[0]: up to READ_CHUNK bytes per round,
 * checked against the pattern. */
struct reader {
    struct channel ch;
    size_t received;
    bool end; /* read() returned 0 */
};

static void check_bytes(const unsigned char *buf, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(from + i))
            ck_abort_msg("byte %zu of the output is %u, expected %u: bytes "
                         "were lost, repeated or reordered",
                         from + i, buf[i], pattern(from + i));
}

static void reader_readable(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct reader *r = ctx;
    (void)receive_time;
    unsigned char buf[READ_CHUNK];
    ssize_t n = read(ch->fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN)
        return;
    ck_assert_msg(n >= 0, "read of the output: %s", strerror(errno));
    if (n == 0) {
        r->end = true;
        channel_remove(ch);
        return;
    }
    check_bytes(buf, (size_t)n, r->received);
    r->received += (size_t)n;
}

static void reader_init(struct reader *r, struct event_loop *loop, int fd)
{
    memset(r, 0, sizeof *r);
    channel_init(&r->ch, loop, fd, r);
    channel_set_read_fn(&r->ch, reader_readable);
    ck_assert_int_eq(channel_enable_reading(&r->ch), 0);
}

/* After the loop: reads what is left in the output pipe, then expects
 * its end (the relay closed it), not EAGAIN (still open). */
static void reader_finish(struct reader *r, int fd, size_t expected,
                          int backend)
{
    channel_remove(&r->ch);
    channel_destroy(&r->ch);
    unsigned char buf[READ_CHUNK];
    while (!r->end) {
        ssize_t n = read(fd, buf, sizeof buf);
        ck_assert_msg(n >= 0,
                      "%s: after done, reading the output found %s after "
                      "%zu bytes; expected its end: close the output "
                      "after the last byte",
                      backend_names[backend],
                      errno == EAGAIN ? "nothing, the pipe still open"
                                      : strerror(errno),
                      r->received);
        check_bytes(buf, (size_t)n, r->received);
        r->received += (size_t)n;
        r->end = n == 0;
    }
    ck_assert_msg(r->received == expected,
                  "%s: the output carried %zu bytes; expected %zu",
                  backend_names[backend], r->received, expected);
}

START_TEST(test_copies_everything_then_closes_the_output)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    unsigned char data[PREFILLED];
    fill_pattern(data, 0, sizeof data);
    test_write_all(p.in[1], data, sizeof data);
    test_close(p.in[1]); /* the writer goes away, its bytes still unread */
    struct outcome o;
    struct relay *r = start_relay(loop, &p, &o);
    struct reader rd;
    reader_init(&rd, loop, p.out[0]);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&o, 0, _i);
    assert_relayed(r, PREFILLED, _i);
    reader_finish(&rd, p.out[0], PREFILLED, _i);
    relay_free(r);
    test_close(p.out[0]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_ends_when_the_writer_closes_without_sending)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    test_close(p.in[1]);
    struct outcome o;
    struct relay *r = start_relay(loop, &p, &o);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&o, 0, _i);
    assert_relayed(r, 0, _i);
    char c;
    ck_assert_msg(read(p.out[0], &c, 1) == 0,
                  "%s: the output is not at its end after done",
                  backend_names[_i]);
    relay_free(r);
    test_close(p.out[0]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

/* The test's writer of in[1]: a functor that, each round, writes the next
 * piece (what the pipe takes of it), and closes the pipe after the last. */
struct streamer {
    int fd;
    size_t sent;
    bool closed;
};

static void stream_piece(struct event_loop *loop, void *ctx)
{
    struct streamer *s = ctx;
    unsigned char piece[PIECE];
    size_t n = STREAMED - s->sent < PIECE ? STREAMED - s->sent : PIECE;
    fill_pattern(piece, s->sent, n);
    ssize_t w = write(s->fd, piece, n);
    ck_assert_msg(w > 0 || errno == EAGAIN, "write of the input: %s",
                  strerror(errno));
    s->sent += w > 0 ? (size_t)w : 0;
    if (s->sent == STREAMED) {
        test_close(s->fd);
        s->closed = true;
        return;
    }
    ck_assert_int_eq(event_loop_queue(loop, stream_piece, s), 0);
}

START_TEST(test_copies_input_that_comes_over_many_rounds)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    ck_assert_int_ge(fcntl(p.in[1], F_SETPIPE_SZ, OUT_PIPE_SIZE), 0);
    struct outcome o;
    struct relay *r = start_relay(loop, &p, &o);
    struct reader rd;
    reader_init(&rd, loop, p.out[0]);
    struct streamer s = {.fd = p.in[1]};
    ck_assert_int_eq(event_loop_queue(loop, stream_piece, &s), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(s.closed,
                  "%s: the relay finished after %zu of %zu bytes were "
                  "written to its input, before the input ended",
                  backend_names[_i], s.sent, STREAMED);
    assert_done_once(&o, 0, _i);
    assert_relayed(r, STREAMED, _i);
    reader_finish(&rd, p.out[0], STREAMED, _i);
    relay_free(r);
    test_close(p.out[0]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

/* Keeps the loop busy for STALL_ROUNDS rounds (a functor that re-queues
 * itself makes every wait return at once), which is more than the relay
 * needs to fill its output and its buffer; then lets it wait, and after
 * IDLE_WAIT_MS wakes it from another thread, through an eventfd, and
 * quits. A loop with nothing to do goes round once in that wait,
 * whatever the machine's speed. */
struct staller {
    struct channel ch;
    int efd;
    int busy_rounds;
    bool started;
    pthread_t thread;
    uint64_t idle_from; /* the round at which the wait began */
    uint64_t idle_rounds;
};

static void *wake_after_a_while(void *arg)
{
    struct staller *st = arg;
    usleep(IDLE_WAIT_MS * 1000);
    uint64_t one = 1;
    (void)!write(st->efd, &one, sizeof one);
    return NULL;
}

static void staller_woken(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct staller *st = ctx;
    (void)receive_time;
    uint64_t value;
    ck_assert_int_eq(read(st->efd, &value, sizeof value), sizeof value);
    st->idle_rounds = event_loop_iterations(ch->loop) - st->idle_from;
    event_loop_quit(ch->loop);
}

static void staller_round(struct event_loop *loop, void *ctx)
{
    struct staller *st = ctx;
    if (++st->busy_rounds < STALL_ROUNDS) {
        ck_assert_int_eq(event_loop_queue(loop, staller_round, st), 0);
        return;
    }
    st->idle_from = event_loop_iterations(loop);
    ck_assert_int_eq(pthread_create(&st->thread, NULL, wake_after_a_while, st),
                     0);
    st->started = true;
}

static void staller_start(struct staller *st, struct event_loop *loop)
{
    memset(st, 0, sizeof *st);
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(st->efd, 0);
    channel_init(&st->ch, loop, st->efd, st);
    channel_set_read_fn(&st->ch, staller_woken);
    ck_assert_int_eq(channel_enable_reading(&st->ch), 0);
    ck_assert_int_eq(event_loop_queue(loop, staller_round, st), 0);
}

static void staller_destroy(struct staller *st)
{
    if (st->started)
        ck_assert_int_eq(pthread_join(st->thread, NULL), 0);
    channel_remove(&st->ch);
    channel_destroy(&st->ch);
    test_close(st->efd);
}

START_TEST(test_stops_reading_while_the_output_is_full)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    int out_size = fcntl(p.out[1], F_GETPIPE_SZ);
    unsigned char data[PREFILLED];
    fill_pattern(data, 0, sizeof data);
    test_write_all(p.in[1], data, sizeof data);
    /* Nobody reads the output, and the input stays open. */
    struct outcome o;
    struct relay *r = start_relay(loop, &p, &o);
    struct staller st;
    staller_start(&st, loop);
    ck_assert_int_eq(event_loop_run(loop), 0);
    int unread = -1;
    ck_assert_int_eq(ioctl(p.in[0], FIONREAD, &unread), 0);
    size_t taken = PREFILLED - (size_t)unread;
    ck_assert_msg(o.calls == 0,
                  "%s: done was called (status %d) before the input ended",
                  backend_names[_i], o.status);
    ck_assert_msg(relay_bytes(r) == (uint64_t)out_size,
                  "%s: the relay wrote %llu bytes; expected %d, what the "
                  "output pipe holds",
                  backend_names[_i], (unsigned long long)relay_bytes(r),
                  out_size);
    ck_assert_msg(taken <= (size_t)out_size + RELAY_BUFFER_SIZE,
                  "%s: the relay read %zu bytes of its input, with %d in the "
                  "full output pipe; expected at most %zu more "
                  "(RELAY_BUFFER_SIZE): stop reading while the buffer is "
                  "full",
                  backend_names[_i], taken, out_size, RELAY_BUFFER_SIZE);
    ck_assert_msg(st.idle_rounds <= IDLE_ROUNDS_MAX,
                  "%s: stuck with a full output, the loop went round %llu "
                  "times in %d ms; expected 1 (it sleeps until woken): an "
                  "interest that cannot be served wakes the loop in every "
                  "round",
                  backend_names[_i], (unsigned long long)st.idle_rounds,
                  IDLE_WAIT_MS);
    staller_destroy(&st);
    relay_free(r);
    test_close(p.in[1]);
    test_close(p.out[0]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_reports_a_closed_output)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    test_close(p.out[0]); /* the output's reader is gone */
    unsigned char data[PIECE];
    fill_pattern(data, 0, sizeof data);
    test_write_all(p.in[1], data, sizeof data);
    struct outcome o;
    struct relay *r = start_relay(loop, &p, &o);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&o, -EPIPE, _i);
    /* The input was closed too: its writer hears about it. */
    ck_assert_msg(write(p.in[1], data, 1) < 0 && errno == EPIPE,
                  "%s: writing the relay's input after done did not fail "
                  "with EPIPE: the relay's end of it is still open",
                  backend_names[_i]);
    relay_free(r);
    test_close(p.in[1]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

/* done's work in test_closes_each_fd_once: puts fds of the test's own at
 * the numbers the relay closed, and queues the relay's free. */
struct reuse {
    struct outcome o;
    struct relay *r;
    int placeholder;
};

static void free_relay(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct reuse *u = ctx;
    relay_free(u->r);
    u->r = NULL;
}

static void reuse_numbers(struct relay *r, int status, void *ctx)
{
    struct reuse *u = ctx;
    record_done(r, status, &u->o);
    if (u->o.in_fd_open || u->o.out_fd_open)
        return; /* assert_done_once() says so */
    /* Any fd opened now may get these numbers: a close of them from now
     * on would close someone else's fd. */
    ck_assert_int_eq(dup2(u->placeholder, u->o.in_fd), u->o.in_fd);
    ck_assert_int_eq(dup2(u->placeholder, u->o.out_fd), u->o.out_fd);
    ck_assert_int_eq(
        event_loop_queue(event_loop_of_current_thread(), free_relay, u), 0);
}

START_TEST(test_closes_each_fd_once)
{
    struct event_loop *loop = new_loop(_i);
    struct pipes p;
    pipes_open(&p);
    unsigned char data[PIECE];
    fill_pattern(data, 0, sizeof data);
    test_write_all(p.in[1], data, sizeof data);
    test_close(p.in[1]);
    struct reuse u = {.o = {.in_fd = p.in[0], .out_fd = p.out[1]}};
    u.placeholder = eventfd(0, EFD_CLOEXEC);
    ck_assert_int_ge(u.placeholder, 0);
    u.r = relay_new(loop, p.in[0], p.out[1], reuse_numbers, &u);
    ck_assert_msg(u.r != NULL, "relay_new: %s", strerror(errno));
    struct reader rd;
    reader_init(&rd, loop, p.out[0]);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&u.o, 0, _i);
    ck_assert_msg(u.r == NULL, "%s: the relay was not freed",
                  backend_names[_i]);
    bool in_kept = fd_is_open(u.o.in_fd), out_kept = fd_is_open(u.o.out_fd);
    if (in_kept)
        test_close(u.o.in_fd);
    if (out_kept)
        test_close(u.o.out_fd);
    ck_assert_msg(in_kept && out_kept,
                  "%s: relay_free() after done closed fd %d (%s) again, "
                  "which by then belonged to someone else: close each fd "
                  "once, and remember that it is closed",
                  backend_names[_i], in_kept ? u.o.out_fd : u.o.in_fd,
                  in_kept ? "the output's number" : "the input's number");
    reader_finish(&rd, p.out[0], PIECE, _i);
    test_close(u.placeholder);
    test_close(p.out[0]);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 01.3 relay");
    TCase *tc = tcase_create("relay");
    tcase_add_fd_guard(tc);
    tcase_add_checked_fixture(tc, capture_begin, capture_end);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    int n = (int)(sizeof backends / sizeof backends[0]);
    tcase_add_loop_test(tc, test_copies_everything_then_closes_the_output, 0,
                        n);
    tcase_add_loop_test(tc, test_ends_when_the_writer_closes_without_sending, 0,
                        n);
    tcase_add_loop_test(tc, test_copies_input_that_comes_over_many_rounds, 0,
                        n);
    tcase_add_loop_test(tc, test_stops_reading_while_the_output_is_full, 0, n);
    tcase_add_loop_test(tc, test_reports_a_closed_output, 0, n);
    tcase_add_loop_test(tc, test_closes_each_fd_once, 0, n);
    suite_add_tcase(s, tc);
    return s;
}
