/* Exercise 01.4: a broadcast whose sinks, and itself, end inside
 * callbacks of the loop.
 *
 * The source is a pipe; each sink is one end of a socketpair whose other
 * end, the peer, the test keeps and reads. Some tests put several ends in
 * one batch of the loop (the source's and the sinks' hang-ups together,
 * in both orders): a fanout that frees a channel from inside that
 * channel's own callback makes the library abort ("Aborted" below; run
 * the test program by hand to read the assertion). The library's log
 * goes to the test, which fails on any error it reports, and on to
 * stderr. Every test runs once per backend (epoll, poll). */
#include "test_support.h"

#include "fanout.h"

#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_TIMEOUT_S 5
/* Sinks in most tests. */
#define SINKS 3
/* The most rounds a test waits for something the loop does in one or
 * two (a functor that re-queues itself makes each of them quick). */
#define ROUNDS_MAX 20

static const enum poller_kind backends[] = {POLLER_EPOLL, POLLER_POLL};
static const char *const backend_names[] = {"epoll", "poll"};
#define BACKENDS ((int)(sizeof backends / sizeof backends[0]))

static const char message[] = "one message for every sink\n";

/* The library's error lines during a test; every line also goes on to
 * stderr, so that an assertion's line is there to read. */
static int library_errors;
static char first_error[LOG_LINE_MAX];

static void capture_log(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    (void)!write(STDERR_FILENO, line, len);
    const char *error = memmem(line, len, " ERROR ", 7);
    if (error == NULL || library_errors++ > 0)
        return;
    size_t from = (size_t)(error + 1 - line);
    while (len > from && line[len - 1] == '\n')
        len--;
    snprintf(first_error, sizeof first_error, "%.*s", (int)(len - from),
             line + from);
}

static const struct log_sink test_sink = {capture_log, NULL, NULL};

static void capture_begin(void)
{
    library_errors = 0;
    first_error[0] = '\0';
    log_set_sink(&test_sink);
}

static void capture_end(void)
{
    log_set_sink(NULL);
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

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A fanout's fds and what its done saw: done records and quits. */
struct rig {
    int source[2];          /* the fanout reads [0]; the test writes [1] */
    int pair[SINKS + 1][2]; /* sink [0], peer [1] */
    int sinks;
    struct fanout *f;
    int done_calls;
    int status;
    int open_at_done; /* the fanout's fds still open when done ran */
};

static void record_done(int status, void *ctx)
{
    struct rig *s = ctx;
    s->done_calls++;
    s->status = status;
    s->open_at_done = fd_is_open(s->source[0]);
    for (int i = 0; i < s->sinks; i++)
        s->open_at_done += fd_is_open(s->pair[i][0]);
    event_loop_quit(event_loop_of_current_thread());
}

static void start(struct rig *s, struct event_loop *loop, int sinks)
{
    memset(s, 0, sizeof *s);
    s->sinks = sinks;
    test_pipe(s->source);
    s->f = fanout_new(loop, s->source[0], record_done, s);
    ck_assert_msg(s->f != NULL, "fanout_new: %s", strerror(errno));
    for (int i = 0; i < sinks; i++) {
        test_socketpair(s->pair[i]);
        int rc = fanout_add_sink(s->f, s->pair[i][0]);
        ck_assert_msg(rc == 0, "fanout_add_sink: %d (%s)", rc, strerror(-rc));
    }
}

static void assert_done_once(const struct rig *s, int backend)
{
    ck_assert_msg(s->done_calls == 1,
                  "%s: done was called %d times; expected once",
                  backend_names[backend], s->done_calls);
    ck_assert_msg(s->status == 0, "%s: done got %d (%s); expected 0",
                  backend_names[backend], s->status, strerror(-s->status));
    ck_assert_msg(s->open_at_done == 0,
                  "%s: %d of the fanout's fds were still open when done "
                  "was called; expected all closed",
                  backend_names[backend], s->open_at_done);
}

/* Reads a peer until it has nothing more: what came, and whether the
 * stream ended (the fanout closed the sink). */
static size_t read_peer(int fd, char *buf, size_t cap, bool *ended)
{
    size_t got = 0;
    *ended = false;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0) {
            ck_assert_msg(errno == EAGAIN, "read of a peer: %s",
                          strerror(errno));
            return got;
        }
        if (n == 0) {
            *ended = true;
            return got;
        }
        got += (size_t)n;
        ck_assert_msg(got < cap, "a peer got more than %zu bytes", cap);
    }
}

/* Expects the peer of sink i to hold the message, then maybe its end. */
static void assert_peer_got(const struct rig *s, int i, bool end, int backend)
{
    char buf[4 * sizeof message];
    bool ended;
    size_t got = read_peer(s->pair[i][1], buf, sizeof buf, &ended);
    ck_assert_msg(got == sizeof message && memcmp(buf, message, got) == 0,
                  "%s: the peer of sink %d got %zu bytes; expected the "
                  "%zu-byte message",
                  backend_names[backend], i, got, sizeof message);
    ck_assert_msg(ended == end, "%s: the peer of sink %d %s; expected %s",
                  backend_names[backend], i,
                  ended ? "saw the end of its stream" : "is still connected",
                  end ? "its end (the fanout closes every sink)"
                      : "it still connected");
}

/* Expects the peer of sink i to see the end of its stream now, with
 * nothing before it. */
static void assert_peer_ended(const struct rig *s, int i, int backend)
{
    char buf[4 * sizeof message];
    bool ended;
    size_t got = read_peer(s->pair[i][1], buf, sizeof buf, &ended);
    ck_assert_msg(got == 0 && ended,
                  "%s: the peer of sink %d got %zu bytes and %s; expected "
                  "nothing, and the end of its stream",
                  backend_names[backend], i, got,
                  ended ? "its end" : "no end (its sink is still open)");
}

/* Closes the test's ends: the source's writer (if still open) and the
 * peers. */
static void close_test_ends(struct rig *s)
{
    if (s->source[1] >= 0)
        test_close(s->source[1]);
    for (int i = 0; i < s->sinks; i++)
        if (s->pair[i][1] >= 0)
            test_close(s->pair[i][1]);
}

static void close_source_writer(struct rig *s)
{
    test_close(s->source[1]);
    s->source[1] = -1;
}

static void close_peer(struct rig *s, int i)
{
    test_close(s->pair[i][1]);
    s->pair[i][1] = -1;
}

/* Runs the loop until the fanout has `sinks` sinks, or ROUNDS_MAX rounds
 * went by; returns the rounds run. */
struct waiter {
    struct fanout *f;
    int sinks;
    int rounds;
};

static void check_sinks(struct event_loop *loop, void *ctx)
{
    struct waiter *w = ctx;
    if (++w->rounds == ROUNDS_MAX || fanout_sinks(w->f) == w->sinks)
        event_loop_quit(loop);
    else
        ck_assert_int_eq(event_loop_queue(loop, check_sinks, w), 0);
}

static void run_until_sinks(struct event_loop *loop, struct fanout *f,
                            int sinks, int backend, const char *why)
{
    struct waiter w = {f, sinks, 0};
    ck_assert_int_eq(event_loop_queue(loop, check_sinks, &w), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(fanout_sinks(f) == sinks,
                  "%s: %s, the fanout still has %d sinks after %d rounds; "
                  "expected %d",
                  backend_names[backend], why, fanout_sinks(f), w.rounds,
                  sinks);
}

START_TEST(test_copies_the_source_to_every_sink)
{
    struct event_loop *loop = new_loop(_i);
    struct rig s;
    start(&s, loop, SINKS);
    ck_assert_int_eq(fanout_sinks(s.f), SINKS);
    test_write_all(s.source[1], message, sizeof message);
    close_source_writer(&s);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&s, _i);
    for (int i = 0; i < SINKS; i++)
        assert_peer_got(&s, i, true, _i);
    close_test_ends(&s);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_drops_a_sink_as_soon_as_its_peer_closes)
{
    struct event_loop *loop = new_loop(_i);
    struct rig s;
    start(&s, loop, SINKS);
    close_peer(&s, 1); /* nothing is being sent */
    run_until_sinks(loop, s.f, SINKS - 1, _i, "with a sink's peer closed");
    ck_assert_msg(!fd_is_open(s.pair[1][0]),
                  "%s: the dropped sink's fd is still open", backend_names[_i]);
    /* The others still get what comes. */
    test_write_all(s.source[1], message, sizeof message);
    run_until_sinks(loop, s.f, SINKS - 1, _i, "after a message");
    assert_peer_got(&s, 0, false, _i);
    assert_peer_got(&s, 2, false, _i);
    fanout_free(s.f);
    assert_peer_ended(&s, 0, _i);
    assert_peer_ended(&s, 2, _i);
    ck_assert_int_eq(s.done_calls, 0);
    close_test_ends(&s);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_drops_a_sink_that_cannot_take_a_chunk)
{
    struct event_loop *loop = new_loop(_i);
    struct rig s;
    start(&s, loop, SINKS);
    /* Fill sink 0's socket: its peer is not reading. */
    char junk[1024] = {0};
    ssize_t n;
    do
        n = write(s.pair[0][0], junk, sizeof junk);
    while (n > 0);
    ck_assert_int_eq(errno, EAGAIN);
    test_write_all(s.source[1], message, sizeof message);
    run_until_sinks(loop, s.f, SINKS - 1, _i,
                    "with a message and a sink whose socket is full");
    ck_assert_msg(!fd_is_open(s.pair[0][0]),
                  "%s: the dropped sink's fd is still open", backend_names[_i]);
    assert_peer_got(&s, 1, false, _i);
    assert_peer_got(&s, 2, false, _i);
    fanout_free(s.f);
    close_test_ends(&s);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_ends_and_closes_everything_when_the_source_closes)
{
    struct event_loop *loop = new_loop(_i);
    struct rig s;
    start(&s, loop, SINKS);
    close_source_writer(&s);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&s, _i);
    for (int i = 0; i < SINKS; i++)
        assert_peer_ended(&s, i, _i);
    close_test_ends(&s);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

/* _i: the backend, and whether the sinks' hang-ups come before the
 * source's in the batch (epoll reports them in the order they happened;
 * poll in the order of its array, where the source is first). */
START_TEST(test_survives_every_end_in_one_batch)
{
    int backend = _i % BACKENDS;
    bool sinks_first = _i >= BACKENDS;
    struct event_loop *loop = new_loop(backend);
    struct rig s;
    start(&s, loop, SINKS);
    if (!sinks_first)
        close_source_writer(&s);
    for (int i = 0; i < SINKS; i++)
        close_peer(&s, i);
    if (sinks_first)
        close_source_writer(&s);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_done_once(&s, backend);
    ck_assert_msg(event_loop_iterations(loop) == 1,
                  "%s: the fanout ended in round %llu; expected the first",
                  backend_names[backend],
                  (unsigned long long)event_loop_iterations(loop));
    close_test_ends(&s);
    assert_no_library_error(backend);
    event_loop_free(loop);
}
END_TEST

/* A channel of the test's, ready in the same batch as the fanout's source
 * and sinks, and before them, frees the fanout. */
struct killer {
    struct channel ch;
    int efd;
    struct fanout *victim;
};

static void kill_fanout(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct killer *k = ctx;
    (void)receive_time;
    uint64_t value;
    ck_assert_int_eq(read(k->efd, &value, sizeof value), sizeof value);
    fanout_free(k->victim);
    event_loop_quit(ch->loop);
}

START_TEST(test_may_be_freed_by_another_callback_in_the_same_batch)
{
    struct event_loop *loop = new_loop(_i);
    struct killer k = {.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    ck_assert_int_ge(k.efd, 0);
    channel_init(&k.ch, loop, k.efd, &k); /* first in poll's array */
    channel_set_read_fn(&k.ch, kill_fanout);
    ck_assert_int_eq(channel_enable_reading(&k.ch), 0);
    struct rig s;
    start(&s, loop, SINKS);
    k.victim = s.f;
    uint64_t one = 1; /* ready first, for epoll */
    ck_assert_int_eq(write(k.efd, &one, sizeof one), sizeof one);
    test_write_all(s.source[1], message, sizeof message);
    close_peer(&s, 1);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(s.done_calls, 0);
    assert_peer_ended(&s, 0, _i); /* freed before it read the message */
    assert_peer_ended(&s, 2, _i);
    channel_remove(&k.ch);
    channel_destroy(&k.ch);
    test_close(k.efd);
    close_test_ends(&s);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

static void count_done(int status, void *ctx)
{
    (void)status;
    ++*(int *)ctx;
}

START_TEST(test_refuses_a_sink_past_the_limit)
{
    struct event_loop *loop = new_loop(_i);
    int source[2];
    test_pipe(source);
    int done_calls = 0;
    struct fanout *f = fanout_new(loop, source[0], count_done, &done_calls);
    ck_assert_msg(f != NULL, "fanout_new: %s", strerror(errno));
    int peers[FANOUT_MAX_SINKS];
    for (int i = 0; i < FANOUT_MAX_SINKS; i++) {
        int pair[2];
        test_socketpair(pair);
        int rc = fanout_add_sink(f, pair[0]);
        ck_assert_msg(rc == 0, "sink %d: fanout_add_sink returned %d (%s)", i,
                      rc, strerror(-rc));
        peers[i] = pair[1];
    }
    int extra[2];
    test_socketpair(extra);
    int rc = fanout_add_sink(f, extra[0]);
    ck_assert_msg(rc == -ENOSPC,
                  "sink %d: fanout_add_sink returned %d (%s); expected "
                  "-ENOSPC past FANOUT_MAX_SINKS",
                  FANOUT_MAX_SINKS + 1, rc, strerror(-rc));
    ck_assert_int_eq(fanout_sinks(f), FANOUT_MAX_SINKS);
    /* A refused fd is still the caller's: open, for it to close. */
    test_close(extra[0]);
    test_close(extra[1]);
    fanout_free(f);
    for (int i = 0; i < FANOUT_MAX_SINKS; i++)
        test_close(peers[i]);
    test_close(source[1]);
    ck_assert_int_eq(done_calls, 0);
    assert_no_library_error(_i);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 01.4 fanout");
    TCase *tc = tcase_create("fanout");
    tcase_add_fd_guard(tc);
    tcase_add_checked_fixture(tc, capture_begin, capture_end);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_loop_test(tc, test_copies_the_source_to_every_sink, 0, BACKENDS);
    tcase_add_loop_test(tc, test_drops_a_sink_as_soon_as_its_peer_closes, 0,
                        BACKENDS);
    tcase_add_loop_test(tc, test_drops_a_sink_that_cannot_take_a_chunk, 0,
                        BACKENDS);
    tcase_add_loop_test(tc,
                        test_ends_and_closes_everything_when_the_source_closes,
                        0, BACKENDS);
    tcase_add_loop_test(tc, test_survives_every_end_in_one_batch, 0,
                        2 * BACKENDS);
    tcase_add_loop_test(tc,
                        test_may_be_freed_by_another_callback_in_the_same_batch,
                        0, BACKENDS);
    tcase_add_loop_test(tc, test_refuses_a_sink_past_the_limit, 0, BACKENDS);
    suite_add_tcase(s, tc);
    return s;
}
