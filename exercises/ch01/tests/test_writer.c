/* Exercise 01.2: a writer that keeps what a socket cannot take yet, and
 * lets the loop sleep when nothing waits.
 *
 * The writer's socket gets a small send buffer, so that a few KiB fill
 * it. The peer is read by a channel of the test, a little per round. An
 * idle loop is told from a spinning one by counting its rounds: the test
 * lets it wait for IDLE_WAIT_MS with nothing to do (a second thread then
 * wakes it through an eventfd) and counts how often it went round in the
 * meantime. A loop that sleeps goes round once, whatever the machine's
 * speed; one that spins goes round thousands of times. Every test runs
 * once per backend (epoll, poll). */
#include "test_support.h"

#include "writer.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_TIMEOUT_S 5
/* The writer socket's send buffer: small, so that sends fill it. */
#define SMALL_SEND_BUFFER 4096
/* What the tests send, in pieces of PIECE bytes. */
#define TOTAL ((size_t)64 * 1024)
#define PIECE 4096
/* The test's reader takes at most this much per round. */
#define READ_CHUNK 1000
/* How long an idle loop is watched, and the most rounds it may go round
 * meanwhile: one for the wake-up, and some slack. */
#define IDLE_WAIT_MS 100
#define IDLE_ROUNDS_MAX 3

static const enum poller_kind backends[] = {POLLER_EPOLL, POLLER_POLL};
static const char *const backend_names[] = {"epoll", "poll"};

static struct event_loop *new_loop(int backend)
{
    struct event_loop *loop = event_loop_new_with_poller(backends[backend]);
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* The bytes of the stream the tests send: position i holds pattern(i). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i % 251);
}

static void fill_pattern(unsigned char *buf, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(from + i);
}

/* A socketpair: [0] for the writer, with a small send buffer; [1] the
 * peer. */
static void writer_socketpair(int fds[2])
{
    test_socketpair(fds);
    int size = SMALL_SEND_BUFFER;
    ck_assert_int_eq(
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
}

static struct writer *new_writer(struct event_loop *loop, int fd)
{
    struct writer *w = writer_new(loop, fd);
    ck_assert_msg(w != NULL, "writer_new: %s", strerror(errno));
    return w;
}

/* Sends pattern bytes [from, from + len) in pieces; each must succeed. */
static void send_pattern(struct writer *w, size_t from, size_t len)
{
    unsigned char piece[PIECE];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < PIECE ? len - done : PIECE;
        fill_pattern(piece, from + done, n);
        int rc = writer_send(w, piece, n);
        ck_assert_msg(rc == 0,
                      "writer_send of %zu bytes (%zu already waiting) "
                      "returned %d (%s); expected 0",
                      n, writer_pending(w), rc, strerror(-rc));
        done += n;
    }
}

/* Wakes the loop after IDLE_WAIT_MS, and counts the rounds it went
 * round from idle_probe_start() until then. */
struct idle_probe {
    struct channel ch;
    int efd;
    pthread_t thread;
    bool started;
    uint64_t start_round;
    uint64_t rounds;
};

static void *wake_after_a_while(void *arg)
{
    struct idle_probe *p = arg;
    usleep(IDLE_WAIT_MS * 1000);
    uint64_t one = 1;
    (void)!write(p->efd, &one, sizeof one);
    return NULL;
}

static void probe_woken(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct idle_probe *p = ctx;
    (void)receive_time;
    uint64_t value;
    ck_assert_int_eq(read(p->efd, &value, sizeof value), sizeof value);
    p->rounds = event_loop_iterations(ch->loop) - p->start_round;
    event_loop_quit(ch->loop);
}

static void idle_probe_init(struct idle_probe *p, struct event_loop *loop)
{
    memset(p, 0, sizeof *p);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(p->efd, 0);
    channel_init(&p->ch, loop, p->efd, p);
    channel_set_read_fn(&p->ch, probe_woken);
    ck_assert_int_eq(channel_enable_reading(&p->ch), 0);
}

/* From now on the loop has nothing to do but wait for the probe. */
static void idle_probe_start(struct idle_probe *p)
{
    p->start_round = event_loop_iterations(p->ch.loop);
    ck_assert_int_eq(pthread_create(&p->thread, NULL, wake_after_a_while, p),
                     0);
    p->started = true;
}

static void idle_probe_destroy(struct idle_probe *p)
{
    if (p->started)
        ck_assert_int_eq(pthread_join(p->thread, NULL), 0);
    channel_remove(&p->ch);
    channel_destroy(&p->ch);
    test_close(p->efd);
}

static void assert_slept(const struct idle_probe *p, int backend,
                         const char *when)
{
    ck_assert_msg(p->rounds >= 1 && p->rounds <= IDLE_ROUNDS_MAX,
                  "%s: %s, the loop went round %llu times in %d ms "
                  "with nothing to do; expected 1 (it sleeps until woken). "
                  "A socket with room is writable in every round: write "
                  "interest must be off while nothing waits",
                  backend_names[backend], when, (unsigned long long)p->rounds,
                  IDLE_WAIT_MS);
}

/* The test's end of the socketpair: reads up to READ_CHUNK bytes per
 * round, checks them against the pattern, and when `expected` bytes came,
 * stops reading and quits the loop, or starts the idle probe. */
struct reader {
    struct channel ch;
    size_t received;
    size_t expected;
    struct idle_probe *probe; /* started when everything came, or NULL */
};

static void reader_readable(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct reader *r = ctx;
    (void)receive_time;
    unsigned char buf[READ_CHUNK];
    ssize_t n = read(ch->fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN)
        return;
    ck_assert_msg(n > 0, "the peer's read returned %zd (%s) after %zu bytes", n,
                  n == 0 ? "end of stream" : strerror(errno), r->received);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] != pattern(r->received + (size_t)i))
            ck_abort_msg("byte %zu of the stream is %u, expected %u: bytes "
                         "were lost, repeated or reordered",
                         r->received + (size_t)i, buf[i],
                         pattern(r->received + (size_t)i));
    r->received += (size_t)n;
    ck_assert_msg(r->received <= r->expected,
                  "the peer got %zu bytes, more than the %zu sent", r->received,
                  r->expected);
    if (r->received < r->expected)
        return;
    channel_remove(ch);
    if (r->probe != NULL)
        idle_probe_start(r->probe);
    else
        event_loop_quit(ch->loop);
}

static void reader_init(struct reader *r, struct event_loop *loop, int fd,
                        size_t expected)
{
    memset(r, 0, sizeof *r);
    r->expected = expected;
    channel_init(&r->ch, loop, fd, r);
    channel_set_read_fn(&r->ch, reader_readable);
    ck_assert_int_eq(channel_enable_reading(&r->ch), 0);
}

static void reader_destroy(struct reader *r)
{
    channel_remove(&r->ch);
    channel_destroy(&r->ch);
}

START_TEST(test_writes_at_once_when_the_socket_has_room)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    static const char hello[] = "hello, peer";
    int rc = writer_send(w, hello, sizeof hello);
    ck_assert_msg(rc == 0, "writer_send returned %d (%s); expected 0", rc,
                  strerror(-rc));
    ck_assert_msg(writer_pending(w) == 0,
                  "%zu bytes wait after a short send to an empty socket; "
                  "expected them written at once",
                  writer_pending(w));
    /* The loop never ran: the bytes must be there already. */
    char buf[sizeof hello + 1];
    ssize_t n = read(fds[1], buf, sizeof buf);
    ck_assert_msg(n == (ssize_t)sizeof hello &&
                      memcmp(buf, hello, (size_t)n) == 0,
                  "the peer read %zd bytes before the loop ran; expected "
                  "the %zu sent",
                  n, sizeof hello);
    writer_free(w);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_sends_the_rest_when_the_peer_reads)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    send_pattern(w, 0, TOTAL);
    ck_assert_msg(writer_pending(w) > 0 && writer_pending(w) < TOTAL,
                  "%zu of %zu bytes wait after the sends; expected some "
                  "written at once and the rest waiting (the socket takes "
                  "a few KiB)",
                  writer_pending(w), TOTAL);
    struct reader r;
    reader_init(&r, loop, fds[1], TOTAL);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(r.received == TOTAL, "%s: the peer got %zu of %zu bytes",
                  backend_names[_i], r.received, TOTAL);
    ck_assert_uint_eq(writer_pending(w), 0);
    ck_assert_int_eq(writer_error(w), 0);
    reader_destroy(&r);
    writer_free(w);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_keeps_the_order_when_room_comes_back)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    size_t half = TOTAL / 2;
    send_pattern(w, 0, half);
    ck_assert_msg(writer_pending(w) > 0,
                  "nothing waits after sending %zu bytes to a socket that "
                  "holds a few KiB",
                  half);
    /* The peer reads what the socket holds: now it has room, but bytes
     * still wait in the writer, and the next ones must go behind them. */
    char buf[READ_CHUNK];
    size_t early = 0;
    ssize_t n;
    while ((n = read(fds[1], buf, sizeof buf)) > 0)
        early += (size_t)n;
    ck_assert_msg(early > 0 && early < half,
                  "the peer found %zu bytes in the socket; expected some of "
                  "the %zu sent",
                  early, half);
    send_pattern(w, half, TOTAL - half);
    struct reader r;
    reader_init(&r, loop, fds[1], TOTAL);
    r.received = early;
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(r.received == TOTAL, "%s: the peer got %zu of %zu bytes",
                  backend_names[_i], r.received, TOTAL);
    reader_destroy(&r);
    writer_free(w);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_loop_sleeps_before_and_after_sending)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);

    struct idle_probe before;
    idle_probe_init(&before, loop);
    idle_probe_start(&before);
    ck_assert_int_eq(event_loop_run(loop), 0);
    assert_slept(&before, _i, "before any send");
    idle_probe_destroy(&before);

    send_pattern(w, 0, TOTAL);
    struct idle_probe after;
    idle_probe_init(&after, loop);
    struct reader r;
    reader_init(&r, loop, fds[1], TOTAL);
    r.probe = &after;
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(r.received == TOTAL, "%s: the peer got %zu of %zu bytes",
                  backend_names[_i], r.received, TOTAL);
    assert_slept(&after, _i, "once everything was sent");
    idle_probe_destroy(&after);

    reader_destroy(&r);
    writer_free(w);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_refuses_more_than_the_limit)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    /* The peer never reads: everything past the socket's few KiB waits,
     * until the limit. */
    static unsigned char big[WRITER_MAX_PENDING / 4];
    int rc = 0;
    int sends = 0;
    size_t pending = 0;
    while (rc == 0 && sends < 8) {
        pending = writer_pending(w);
        rc = writer_send(w, big, sizeof big);
        sends++;
    }
    ck_assert_msg(rc == -ENOBUFS,
                  "send %d of %zu bytes, with %zu waiting, returned %d (%s); "
                  "expected -ENOBUFS past WRITER_MAX_PENDING (%zu)",
                  sends, sizeof big, pending, rc, strerror(-rc),
                  WRITER_MAX_PENDING);
    ck_assert_msg(pending + sizeof big > WRITER_MAX_PENDING,
                  "a send was refused with %zu bytes waiting, which leaves "
                  "room for %zu more",
                  pending, sizeof big);
    ck_assert_msg(writer_pending(w) == pending,
                  "a refused send changed the bytes waiting from %zu to %zu; "
                  "expected it to keep nothing",
                  pending, writer_pending(w));
    /* A refusal does not end the writer: a send that fits still goes. */
    rc = writer_send(w, big, WRITER_MAX_PENDING - pending);
    ck_assert_msg(rc == 0 && writer_pending(w) == WRITER_MAX_PENDING,
                  "a send up to the limit returned %d and left %zu waiting; "
                  "expected 0 and %zu",
                  rc, writer_pending(w), WRITER_MAX_PENDING);
    ck_assert_int_eq(writer_error(w), 0);
    writer_free(w);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

static bool peer_gone(int err)
{
    return err == -EPIPE || err == -ECONNRESET;
}

START_TEST(test_reports_a_peer_that_went_away)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    test_close(fds[1]);
    static const char hello[] = "anyone there?";
    int rc = writer_send(w, hello, sizeof hello);
    ck_assert_msg(peer_gone(rc),
                  "writer_send to a closed peer returned %d (%s); expected "
                  "-EPIPE or -ECONNRESET",
                  rc, strerror(-rc));
    ck_assert_int_eq(writer_error(w), rc);
    rc = writer_send(w, hello, sizeof hello);
    ck_assert_msg(rc == writer_error(w),
                  "a send after the error returned %d; expected the "
                  "error, %d",
                  rc, writer_error(w));
    ck_assert_uint_eq(writer_pending(w), 0);
    writer_free(w);
    test_close(fds[0]);
    event_loop_free(loop);
}
END_TEST

START_TEST(test_stops_writing_to_a_peer_that_went_away)
{
    struct event_loop *loop = new_loop(_i);
    int fds[2];
    writer_socketpair(fds);
    struct writer *w = new_writer(loop, fds[0]);
    send_pattern(w, 0, TOTAL);
    ck_assert_uint_gt(writer_pending(w), 0);
    test_close(fds[1]); /* with bytes still waiting */
    struct idle_probe probe;
    idle_probe_init(&probe, loop);
    idle_probe_start(&probe);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(peer_gone(writer_error(w)),
                  "%s: writer_error() is %d (%s) after the peer closed with "
                  "bytes waiting; expected -EPIPE or -ECONNRESET",
                  backend_names[_i], writer_error(w),
                  strerror(-writer_error(w)));
    ck_assert_msg(writer_pending(w) == 0,
                  "%zu bytes still wait for a peer that went away",
                  writer_pending(w));
    /* One round for the error, one for the wake-up. */
    ck_assert_msg(probe.rounds <= IDLE_ROUNDS_MAX,
                  "%s: the loop went round %llu times in %d ms after the "
                  "error; an fd that hung up is reported in every round "
                  "while it is watched: stop watching it",
                  backend_names[_i], (unsigned long long)probe.rounds,
                  IDLE_WAIT_MS);
    idle_probe_destroy(&probe);
    writer_free(w);
    test_close(fds[0]);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("exercise 01.2 writer");
    TCase *tc = tcase_create("writer");
    tcase_add_fd_guard(tc);
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    int n = (int)(sizeof backends / sizeof backends[0]);
    tcase_add_loop_test(tc, test_writes_at_once_when_the_socket_has_room, 0, n);
    tcase_add_loop_test(tc, test_sends_the_rest_when_the_peer_reads, 0, n);
    tcase_add_loop_test(tc, test_keeps_the_order_when_room_comes_back, 0, n);
    tcase_add_loop_test(tc, test_loop_sleeps_before_and_after_sending, 0, n);
    tcase_add_loop_test(tc, test_refuses_more_than_the_limit, 0, n);
    tcase_add_loop_test(tc, test_reports_a_peer_that_went_away, 0, n);
    tcase_add_loop_test(tc, test_stops_writing_to_a_peer_that_went_away, 0, n);
    suite_add_tcase(s, tc);
    return s;
}
