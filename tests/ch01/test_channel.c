/* Channels: readiness, interest changes, hang-up and error dispatch, and
 * the stale-event problem (a channel removed or disabled by an earlier
 * callback of the same batch). Runs against the poller MUDUO_POLLER
 * names, and `make test` runs it with both. */
#include "test_support.h"

#include "base/log.h"
#include "net/channel.h"
#include "net/event_loop.h"
#include "net/poller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* What happened to one channel during a test. */
struct probe {
    struct channel ch;
    int reads, writes, closes, errors;
    int quit_on;   /* quit the loop after this many callbacks in all */
    int drain_fd;  /* read callback drains this fd, if >= 0 */
    struct probe *victim; /* an earlier callback does something to it */
    enum { DO_NOTHING, DO_REMOVE, DO_REMOVE_AND_READD, DO_DISABLE_READ,
           DO_DISABLE_ALL, DO_DISABLE_AND_REENABLE, DO_REMOVE_AND_FREE } action;
    int interest; /* what the probe watches: for READD and REENABLE */
};

/* The probe freed by DO_REMOVE_AND_FREE, so the test never reads it. */
static struct probe *g_freed;

static int total_calls(const struct probe *p)
{
    return p->reads + p->writes + p->closes + p->errors;
}

static void after_callback(struct probe *p)
{
    struct probe *v = p->victim;
    if (v != NULL) {
        p->victim = NULL;
        switch (p->action) {
        case DO_REMOVE:
            channel_remove(&v->ch);
            break;
        case DO_REMOVE_AND_READD: /* back in the poller, not in this batch */
            channel_remove(&v->ch);
            ck_assert_int_eq(v->interest == CHANNEL_EVENT_WRITE
                                 ? channel_enable_writing(&v->ch)
                                 : channel_enable_reading(&v->ch),
                             0);
            break;
        case DO_DISABLE_AND_REENABLE:
            ck_assert_int_eq(channel_disable_all(&v->ch), 0);
            ck_assert_int_eq(v->interest == CHANNEL_EVENT_WRITE
                                 ? channel_enable_writing(&v->ch)
                                 : channel_enable_reading(&v->ch),
                             0);
            break;
        case DO_DISABLE_READ:
            ck_assert_int_eq(channel_disable_reading(&v->ch), 0);
            break;
        case DO_DISABLE_ALL:
            ck_assert_int_eq(channel_disable_all(&v->ch), 0);
            break;
        case DO_REMOVE_AND_FREE:
            channel_remove(&v->ch);
            channel_destroy(&v->ch);
            g_freed = v;
            free(v);
            break;
        case DO_NOTHING:
            break;
        }
    }
    if (p->quit_on > 0 && total_calls(p) >= p->quit_on)
        event_loop_quit(p->ch.loop);
}

static void drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static void probe_read(struct channel *ch, int64_t t, void *ctx)
{
    struct probe *p = ctx;
    (void)t;
    ck_assert_ptr_eq(ch, &p->ch);
    p->reads++;
    if (p->drain_fd >= 0)
        drain(p->drain_fd);
    after_callback(p);
}

static void probe_write(struct channel *ch, void *ctx)
{
    struct probe *p = ctx;
    ck_assert_ptr_eq(ch, &p->ch);
    p->writes++;
    after_callback(p);
}

static void probe_close(struct channel *ch, void *ctx)
{
    struct probe *p = ctx;
    ck_assert_ptr_eq(ch, &p->ch);
    p->closes++;
    after_callback(p);
}

static void probe_error(struct channel *ch, void *ctx)
{
    struct probe *p = ctx;
    ck_assert_ptr_eq(ch, &p->ch);
    p->errors++;
    after_callback(p);
}

static void probe_init(struct probe *p, struct event_loop *loop, int fd)
{
    memset(p, 0, sizeof *p);
    p->drain_fd = -1;
    channel_init(&p->ch, loop, fd, p);
    channel_set_read_fn(&p->ch, probe_read);
    channel_set_write_fn(&p->ch, probe_write);
    channel_set_close_fn(&p->ch, probe_close);
    channel_set_error_fn(&p->ch, probe_error);
}

static void probe_destroy(struct probe *p)
{
    channel_remove(&p->ch);
    channel_destroy(&p->ch);
}

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* Runs one round of the loop: quits from a functor queued now, which runs
 * right after the first batch has been dispatched. */
static void quit_fn(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    event_loop_quit(loop);
}

static void run_one_round(struct event_loop *loop)
{
    ck_assert_int_eq(event_loop_queue(loop, quit_fn, NULL), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
}

START_TEST(pipe_read_readiness)
{
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[0]);
    p.drain_fd = fds[0];
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    ck_assert(channel_is_reading(&p.ch));
    ck_assert(!channel_is_writing(&p.ch));

    run_one_round(loop); /* nothing written yet */
    ck_assert_int_eq(p.reads, 0);

    test_write_all(fds[1], "x", 1);
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1);
    run_one_round(loop); /* drained: level-triggered, but nothing left */
    ck_assert_int_eq(p.reads, 1);
    ck_assert_int_eq(total_calls(&p), 1);

    probe_destroy(&p);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(level_triggered_read_repeats_until_drained)
{
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[0]);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    test_write_all(fds[1], "abc", 3);
    for (int i = 1; i <= 3; i++) { /* not drained: reported every round */
        run_one_round(loop);
        ck_assert_int_eq(p.reads, i);
    }
    probe_destroy(&p);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(write_readiness_and_disable_writing)
{
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[1]);
    p.quit_on = 1;
    ck_assert_int_eq(channel_enable_writing(&p.ch), 0);
    ck_assert(channel_is_writing(&p.ch));
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(p.writes, 1);

    ck_assert_int_eq(channel_disable_writing(&p.ch), 0);
    ck_assert(channel_has_no_events(&p.ch));
    run_one_round(loop);
    ck_assert_int_eq(p.writes, 1);

    ck_assert_int_eq(channel_enable_writing(&p.ch), 0); /* re-attach */
    run_one_round(loop);
    ck_assert_int_eq(p.writes, 2);
    ck_assert_int_eq(total_calls(&p), 2);

    probe_destroy(&p);
    test_close(fds[0]);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(eventfd_read_and_write_on_one_channel)
{
    struct event_loop *loop = new_loop();
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct probe p;
    probe_init(&p, loop, fd);
    p.drain_fd = fd;
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    ck_assert_int_eq(channel_enable_writing(&p.ch), 0);
    uint64_t one = 1;
    ck_assert_int_eq(write(fd, &one, sizeof one), sizeof one);
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1);  /* counter is non-zero */
    ck_assert_int_eq(p.writes, 1); /* and far from overflowing */

    ck_assert_int_eq(channel_disable_reading(&p.ch), 0);
    ck_assert(!channel_is_reading(&p.ch));
    ck_assert_int_eq(write(fd, &one, sizeof one), sizeof one);
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1);
    ck_assert_int_eq(p.writes, 2);

    probe_destroy(&p);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(disable_all_silences_a_ready_channel)
{
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[0]);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    ck_assert_int_eq(channel_disable_all(&p.ch), 0);
    test_write_all(fds[1], "x", 1);
    test_close(fds[1]); /* even a hang-up must not get through */
    run_one_round(loop);
    ck_assert_int_eq(total_calls(&p), 0);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1); /* data then EOF: IN|HUP is a read */
    ck_assert_int_eq(p.closes, 0);
    probe_destroy(&p);
    test_close(fds[0]);
    event_loop_free(loop);
}
END_TEST

START_TEST(hang_up_without_data_calls_close)
{
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[0]);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    test_close(fds[1]);
    run_one_round(loop);
    ck_assert_int_eq(p.closes, 1);
    ck_assert_int_eq(p.reads, 0);
    ck_assert_int_eq(p.errors, 0);
    probe_destroy(&p);
    test_close(fds[0]);
    event_loop_free(loop);
}
END_TEST

/* A reader with no close callback: at the end of file it removes itself
 * and ends the loop, as a program that reads a pipe to its end does. */
struct eof_reader {
    struct channel ch;
    int reads;
    bool eof;
};

static void eof_reader_read(struct channel *ch, int64_t t, void *ctx)
{
    struct eof_reader *r = ctx;
    (void)t;
    r->reads++;
    char buf[64];
    if (read(ch->fd, buf, sizeof buf) == 0) {
        r->eof = true;
        channel_remove(ch);
        event_loop_quit(ch->loop);
    }
}

START_TEST(hang_up_without_close_callback_reaches_the_reader)
{
    /* A pipe whose writer closed reports POLLHUP without POLLIN. With no
     * close callback to take it, nothing would consume it and the loop
     * would spin; it must reach the read callback, whose read() sees the
     * end. A guard on a second hung-up pipe ends the loop after
     * GUARD_ROUNDS rounds if the reader never hears of it. */
    enum { GUARD_ROUNDS = 1000 };
    struct event_loop *loop = new_loop();
    int watched[2], guarded[2];
    test_pipe(watched);
    test_pipe(guarded);
    struct eof_reader r = {.reads = 0};
    channel_init(&r.ch, loop, watched[0], &r);
    channel_set_read_fn(&r.ch, eof_reader_read);
    ck_assert_int_eq(channel_enable_reading(&r.ch), 0);
    struct probe guard;
    probe_init(&guard, loop, guarded[0]);
    guard.quit_on = GUARD_ROUNDS;
    ck_assert_int_eq(channel_enable_reading(&guard.ch), 0);
    test_close(watched[1]);
    test_close(guarded[1]);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_msg(r.eof, "the reader never saw the end of file (%d rounds)",
                  (int)event_loop_iterations(loop));
    ck_assert_int_eq(r.reads, 1);
    ck_assert_int_eq(event_loop_iterations(loop), 1);
    channel_destroy(&r.ch);
    probe_destroy(&guard);
    test_close(watched[0]);
    test_close(guarded[0]);
    event_loop_free(loop);
}
END_TEST

START_TEST(hang_up_interest_alone_hears_only_hang_ups)
{
    /* A channel that neither reads nor writes, but listens for hang-ups:
     * readable data is not its business; the writer closing is. */
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[0]);
    ck_assert_int_eq(channel_enable_hang_up(&p.ch), 0);
    ck_assert(!channel_is_reading(&p.ch));
    ck_assert(!channel_has_no_events(&p.ch));
    test_write_all(fds[1], "x", 1);
    run_one_round(loop);
    ck_assert_int_eq(total_calls(&p), 0);
    test_close(fds[1]);
    run_one_round(loop);
    ck_assert_int_eq(p.closes, 1);
    ck_assert_int_eq(p.reads, 0);
    /* Reading added on top still gets the hang-up, with the data. */
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    p.drain_fd = fds[0];
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1);
    ck_assert_int_eq(p.closes, 1);
    /* Dropping everything silences it: not even the hang-up. */
    ck_assert_int_eq(channel_disable_all(&p.ch), 0);
    ck_assert(channel_has_no_events(&p.ch));
    run_one_round(loop);
    ck_assert_int_eq(total_calls(&p), 2);
    probe_destroy(&p);
    test_close(fds[0]);
    event_loop_free(loop);
}
END_TEST

/* Counts the log lines that mention POLLNVAL. */
static void count_nval_lines(const char *line, size_t len, void *ctx)
{
    if (memmem(line, len, "POLLNVAL", 8) != NULL)
        (*(int *)ctx)++;
}

START_TEST(fd_closed_while_watched_is_reported_once)
{
    /* Closing an fd before removing its channel is the owner's bug. poll()
     * then reports POLLNVAL in every round; the loop says so once, hands
     * it to the error callback once and stops polling the fd. (epoll
     * forgets a closed fd by itself and reports nothing.) */
    enum { ROUNDS = 100 };
    struct event_loop *loop = new_loop();
    bool poll_backend = strcmp(event_loop_poller_name(loop), "poll") == 0;
    int watched[2], guarded[2];
    test_pipe(watched);
    test_pipe(guarded);
    struct probe p, guard;
    probe_init(&p, loop, watched[0]);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    probe_init(&guard, loop, guarded[0]);
    guard.quit_on = ROUNDS; /* a hung-up pipe: one close call a round */
    ck_assert_int_eq(channel_enable_reading(&guard.ch), 0);
    test_close(guarded[1]);
    int nval_lines = 0;
    struct log_sink sink = {count_nval_lines, NULL, &nval_lines};
    log_set_sink(&sink);
    test_close(watched[0]); /* the bug: still watched */
    int rc = event_loop_run(loop);
    log_set_sink(NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(guard.closes, ROUNDS);
    ck_assert_int_eq(nval_lines, (poll_backend ? 1 : 0));
    ck_assert_int_eq(p.errors, (poll_backend ? 1 : 0));
    ck_assert_int_eq(p.reads, 0);
    log_set_level(LOG_LEVEL_FATAL); /* epoll: DEL of a closed fd fails */
    probe_destroy(&p);
    log_set_level(LOG_LEVEL_INFO);
    probe_destroy(&guard);
    test_close(watched[1]);
    test_close(guarded[0]);
    event_loop_free(loop);
}
END_TEST

START_TEST(error_event_calls_error)
{
    /* The write end of a pipe whose read end is closed reports POLLERR. */
    struct event_loop *loop = new_loop();
    int fds[2];
    test_pipe(fds);
    struct probe p;
    probe_init(&p, loop, fds[1]);
    ck_assert_int_eq(channel_enable_writing(&p.ch), 0);
    test_close(fds[0]);
    run_one_round(loop);
    ck_assert_int_eq(p.errors, 1);
    ck_assert_int_eq(p.closes, 0);
    probe_destroy(&p);
    test_close(fds[1]);
    event_loop_free(loop);
}
END_TEST

START_TEST(socket_peer_close_with_data_is_a_read)
{
    struct event_loop *loop = new_loop();
    int sv[2];
    test_socketpair(sv);
    struct probe p;
    probe_init(&p, loop, sv[0]);
    ck_assert_int_eq(channel_enable_reading(&p.ch), 0);
    test_write_all(sv[1], "bye", 3);
    test_close(sv[1]);
    run_one_round(loop);
    ck_assert_int_eq(p.reads, 1);
    ck_assert_int_eq(p.closes, 0);
    char buf[8];
    ck_assert_int_eq(read(sv[0], buf, sizeof buf), 3);
    ck_assert_int_eq(read(sv[0], buf, sizeof buf), 0); /* EOF */
    probe_destroy(&p);
    test_close(sv[0]);
    event_loop_free(loop);
}
END_TEST

/* Two ready channels in one batch; whichever is dispatched first acts on
 * the other. The other must then get no callback in that batch. Each is
 * ready in one of three ways. */
enum ready_kind {
    READABLE, /* a pipe with data: POLLIN */
    HANGUP,   /* a pipe whose writer closed, no data: POLLHUP */
    ERRORED,  /* a pipe's write end whose reader closed: POLLERR */
};

struct member {
    struct probe *probe;
    int fds[2]; /* -1 once closed */
};

struct pair {
    struct member a, b;
};

static void member_init(struct member *m, struct event_loop *loop,
                        enum ready_kind kind)
{
    test_pipe(m->fds);
    m->probe = calloc(1, sizeof *m->probe);
    if (kind == ERRORED) {
        probe_init(m->probe, loop, m->fds[1]);
        m->probe->interest = CHANNEL_EVENT_WRITE;
        ck_assert_int_eq(channel_enable_writing(&m->probe->ch), 0);
        test_close(m->fds[0]);
        m->fds[0] = -1;
    } else {
        probe_init(m->probe, loop, m->fds[0]);
        m->probe->interest = CHANNEL_EVENT_READ;
        ck_assert_int_eq(channel_enable_reading(&m->probe->ch), 0);
        if (kind == READABLE) {
            test_write_all(m->fds[1], "x", 1);
        } else {
            test_close(m->fds[1]);
            m->fds[1] = -1;
        }
    }
}

static void pair_init(struct pair *pr, struct event_loop *loop, int action,
                      enum ready_kind kind_a, enum ready_kind kind_b)
{
    member_init(&pr->a, loop, kind_a);
    member_init(&pr->b, loop, kind_b);
    pr->a.probe->victim = pr->b.probe;
    pr->b.probe->victim = pr->a.probe;
    pr->a.probe->action = pr->b.probe->action = action;
}

static void member_destroy(struct member *m)
{
    if (m->probe != NULL) {
        probe_destroy(m->probe);
        free(m->probe);
    }
    for (int i = 0; i < 2; i++)
        if (m->fds[i] >= 0)
            test_close(m->fds[i]);
}

static void pair_destroy(struct pair *pr)
{
    member_destroy(&pr->a);
    member_destroy(&pr->b);
}

/* How many of the two got any callback this batch. */
static int pair_called(const struct pair *pr)
{
    return (total_calls(pr->a.probe) > 0) + (total_calls(pr->b.probe) > 0);
}

START_TEST(removed_or_disabled_in_batch_gets_no_callback)
{
    static const struct {
        int action;
        enum ready_kind a, b;
    } cases[] = {
        {DO_REMOVE, READABLE, READABLE},
        {DO_REMOVE_AND_READD, READABLE, READABLE},
        {DO_DISABLE_READ, READABLE, READABLE},
        {DO_DISABLE_ALL, READABLE, READABLE},
        {DO_DISABLE_AND_REENABLE, READABLE, READABLE},
        {DO_DISABLE_ALL, READABLE, HANGUP},
        {DO_REMOVE_AND_READD, READABLE, HANGUP},
        {DO_DISABLE_AND_REENABLE, READABLE, HANGUP},
        {DO_DISABLE_ALL, READABLE, ERRORED},
        {DO_REMOVE_AND_READD, READABLE, ERRORED},
        {DO_DISABLE_AND_REENABLE, READABLE, ERRORED},
        {DO_DISABLE_ALL, HANGUP, ERRORED},
    };
    struct event_loop *loop = new_loop();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pair pr;
        pair_init(&pr, loop, cases[i].action, cases[i].a, cases[i].b);
        run_one_round(loop);
        ck_assert_msg(pair_called(&pr) == 1,
                      "case %zu: %d channels called back, expected 1", i,
                      pair_called(&pr));
        pair_destroy(&pr);
    }
    event_loop_free(loop);
}
END_TEST

START_TEST(removed_and_freed_in_batch_is_never_touched)
{
    /* The victim's memory is freed inside the batch; the sanitizers and
     * valgrind would catch any later access by the loop. */
    struct event_loop *loop = new_loop();
    struct pair pr;
    pair_init(&pr, loop, DO_REMOVE_AND_FREE, READABLE, READABLE);
    g_freed = NULL;
    run_one_round(loop);
    ck_assert_msg(g_freed == pr.a.probe || g_freed == pr.b.probe,
                  "nothing was freed");
    struct member *gone = g_freed == pr.a.probe ? &pr.a : &pr.b;
    struct member *survivor = gone == &pr.a ? &pr.b : &pr.a;
    ck_assert_int_eq(total_calls(survivor->probe), 1);
    gone->probe = NULL; /* freed by the survivor's callback */
    pair_destroy(&pr);
    event_loop_free(loop);
}
END_TEST

static void remove_self_in_read(struct channel *ch, int64_t t,
                                        void *ctx)
{
    (void)t;
    int *calls = ctx;
    (*calls)++;
    channel_remove(ch); /* the write event of this batch must not follow */
}

static void fail_write(struct channel *ch, void *ctx)
{
    (void)ch;
    (void)ctx;
    ck_abort_msg("write callback after the channel removed itself");
}

START_TEST(channel_removing_itself_gets_no_further_callback)
{
    struct event_loop *loop = new_loop();
    int fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); /* readable, writable */
    ck_assert_int_ge(fd, 0);
    int calls = 0;
    struct channel ch;
    channel_init(&ch, loop, fd, &calls);
    channel_set_read_fn(&ch, remove_self_in_read);
    channel_set_write_fn(&ch, fail_write);
    ck_assert_int_eq(channel_enable_reading(&ch), 0);
    ck_assert_int_eq(channel_enable_writing(&ch), 0);
    run_one_round(loop);
    ck_assert_int_eq(calls, 1);
    run_one_round(loop);
    ck_assert_int_eq(calls, 1);
    channel_remove(&ch); /* idempotent */
    channel_destroy(&ch);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(regular_file_reading_is_refused_by_epoll_only)
{
    struct event_loop *loop = new_loop();
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct channel ch;
    channel_init(&ch, loop, fd, NULL);
    int err = channel_enable_reading(&ch);
    if (strcmp(event_loop_poller_name(loop), "epoll") == 0) {
        ck_assert_int_eq(err, -EPERM);
        ck_assert(channel_has_no_events(&ch)); /* interest rolled back */
    } else {
        ck_assert_int_eq(err, 0);
        ck_assert(channel_is_reading(&ch));
    }
    channel_remove(&ch);
    channel_destroy(&ch);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

static void destroy_self_read(struct channel *ch, int64_t t, void *ctx)
{
    (void)t;
    (void)ctx;
    channel_remove(ch);
    channel_destroy(ch); /* must abort: its event is being dispatched */
}

static void destroy_while_dispatching(void *arg)
{
    (void)arg;
    struct event_loop *loop = event_loop_new();
    int fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop == NULL || fd < 0)
        _exit(3);
    struct channel ch;
    channel_init(&ch, loop, fd, NULL);
    channel_set_read_fn(&ch, destroy_self_read);
    if (channel_enable_reading(&ch) != 0)
        _exit(5);
    event_loop_run(loop);
    _exit(4);
}

START_TEST(destroy_during_own_dispatch_aborts)
{
    int status = test_run_in_child(destroy_while_dispatching, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
}
END_TEST

/* At the poller itself: a channel with no interest is not reported at
 * all, not even its hang-up (epoll takes it out of the set; poll skips it
 * with a negative fd). Otherwise the loop would spin on it. */
START_TEST(poller_reports_nothing_for_a_channel_without_interest)
{
    struct poller *pollers[] = {poller_epoll_new(), poller_poll_new()};
    for (int k = 0; k < 2; k++) {
        struct poller *p = pollers[k];
        ck_assert_ptr_nonnull(p);
        int fds[2];
        test_pipe(fds);
        test_write_all(fds[1], "x", 1);
        test_close(fds[1]); /* readable and hung up */
        struct channel ch;
        memset(&ch, 0, sizeof ch);
        ch.fd = fds[0];
        ch.poller_slot = -1;
        ch.events = CHANNEL_EVENT_READ;
        ck_assert_int_eq(p->ops->update(p, &ch), 0);
        struct channel *ready[4];
        ck_assert_int_eq(p->ops->poll(p, 0, ready, 4), 1);
        ck_assert_ptr_eq(ready[0], &ch);
        ck_assert(ch.revents & POLLIN);
        ch.events = CHANNEL_EVENT_NONE;
        ck_assert_int_eq(p->ops->update(p, &ch), 0);
        ck_assert_int_eq(p->channels, 1); /* still known */
        ck_assert_int_eq(p->ops->poll(p, 0, ready, 4), 0);
        ch.events = CHANNEL_EVENT_READ; /* attached again */
        ck_assert_int_eq(p->ops->update(p, &ch), 0);
        ck_assert_int_eq(p->ops->poll(p, 0, ready, 4), 1);
        p->ops->remove(p, &ch);
        ck_assert_int_eq(ch.poller_slot, -1);
        ck_assert_int_eq(p->channels, 0);
        p->ops->free(p);
        test_close(fds[0]);
    }
}
END_TEST

/* Removing a channel from the middle (poll moves the last entry into the
 * hole) leaves every other channel reported correctly. */
START_TEST(removing_a_middle_channel_keeps_the_others)
{
    struct event_loop *loop = new_loop();
    enum { N = 5 };
    int fds[N][2];
    struct probe probes[N];
    for (int i = 0; i < N; i++) {
        test_pipe(fds[i]);
        probe_init(&probes[i], loop, fds[i][0]);
        probes[i].drain_fd = fds[i][0];
        ck_assert_int_eq(channel_enable_reading(&probes[i].ch), 0);
    }
    probe_destroy(&probes[1]);
    probe_destroy(&probes[3]);
    for (int i = 0; i < N; i++)
        test_write_all(fds[i][1], "x", 1);
    run_one_round(loop);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(probes[i].reads, i == 1 || i == 3 ? 0 : 1);
    /* The removed fds are watched no more, under any channel's name. */
    char c;
    ck_assert_int_eq(read(fds[1][0], &c, 1), 1);
    ck_assert_int_eq(read(fds[3][0], &c, 1), 1);
    test_write_all(fds[1][1], "y", 1);
    test_write_all(fds[3][1], "y", 1);
    run_one_round(loop);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(probes[i].reads, i == 1 || i == 3 ? 0 : 1);
    /* and each remaining channel still maps to its own fd */
    test_write_all(fds[4][1], "z", 1);
    run_one_round(loop);
    ck_assert_int_eq(probes[4].reads, 2);
    ck_assert_int_eq(probes[0].reads + probes[2].reads, 2);
    for (int i = 0; i < N; i++) {
        if (i != 1 && i != 3)
            probe_destroy(&probes[i]);
        test_close(fds[i][0]);
        test_close(fds[i][1]);
    }
    event_loop_free(loop);
}
END_TEST

/* More ready channels than the ready list holds at first (16): the batch
 * is cut, the rest come back next round, and the list grows. */
START_TEST(more_ready_channels_than_the_ready_list)
{
    struct event_loop *loop = new_loop();
    enum { N = 40 };
    int fds[N];
    struct probe probes[N];
    for (int i = 0; i < N; i++) {
        fds[i] = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        ck_assert_int_ge(fds[i], 0);
        probe_init(&probes[i], loop, fds[i]);
        probes[i].drain_fd = fds[i];
        ck_assert_int_eq(channel_enable_reading(&probes[i].ch), 0);
    }
    int rounds = 0, total = 0;
    while (total < N && rounds < 10) {
        run_one_round(loop);
        rounds++;
        total = 0;
        for (int i = 0; i < N; i++)
            total += probes[i].reads;
    }
    ck_assert_int_eq(total, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(probes[i].reads, 1); /* each exactly once */
    ck_assert_int_ge(rounds, 2); /* 16 fit in the first batch */
    ck_assert_int_le(rounds, 3); /* then 32 */
    for (int i = 0; i < N; i++) {
        probe_destroy(&probes[i]);
        test_close(fds[i]);
    }
    event_loop_free(loop);
}
END_TEST

START_TEST(events_to_string)
{
    char buf[64];
    ck_assert_str_eq(channel_events_to_string(POLLIN | POLLHUP, buf,
                                              sizeof buf),
                     "IN HUP");
    ck_assert_str_eq(channel_events_to_string(0, buf, sizeof buf), "");
    /* whole names only: "OUT ERR" does not fit in 5 bytes */
    ck_assert_str_eq(channel_events_to_string(POLLOUT | POLLERR, buf, 5),
                     "OUT");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch01 channel");
    TCase *tc = tcase_create("channel");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, pipe_read_readiness);
    tcase_add_test(tc, level_triggered_read_repeats_until_drained);
    tcase_add_test(tc, write_readiness_and_disable_writing);
    tcase_add_test(tc, eventfd_read_and_write_on_one_channel);
    tcase_add_test(tc, disable_all_silences_a_ready_channel);
    tcase_add_test(tc, hang_up_without_data_calls_close);
    tcase_add_test(tc, hang_up_without_close_callback_reaches_the_reader);
    tcase_add_test(tc, fd_closed_while_watched_is_reported_once);
    tcase_add_test(tc, hang_up_interest_alone_hears_only_hang_ups);
    tcase_add_test(tc, error_event_calls_error);
    tcase_add_test(tc, socket_peer_close_with_data_is_a_read);
    tcase_add_test(tc, removed_or_disabled_in_batch_gets_no_callback);
    tcase_add_test(tc, removed_and_freed_in_batch_is_never_touched);
    tcase_add_test(tc, channel_removing_itself_gets_no_further_callback);
    tcase_add_test(tc, regular_file_reading_is_refused_by_epoll_only);
    tcase_add_test(tc, destroy_during_own_dispatch_aborts);
    tcase_add_test(tc, poller_reports_nothing_for_a_channel_without_interest);
    tcase_add_test(tc, removing_a_middle_channel_keeps_the_others);
    tcase_add_test(tc, more_ready_channels_than_the_ready_list);
    tcase_add_test(tc, events_to_string);
    suite_add_tcase(s, tc);
    return s;
}
