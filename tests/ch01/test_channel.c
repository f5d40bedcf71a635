/* Channels: readiness, interest changes, hang-up and error dispatch, and
 * the stale-event problem (a channel removed or disabled by an earlier
 * callback of the same batch). Runs against the poller MUDUO_POLLER
 * names, and `make test` runs it with both. */
#include "test_support.h"

#include "net/channel.h"
#include "net/event_loop.h"

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
    enum { DO_NOTHING, DO_REMOVE, DO_DISABLE_READ, DO_DISABLE_ALL,
           DO_REMOVE_AND_FREE } action;
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
 * the other. The other must then get no callback in that batch. */
struct pair {
    int fds_a[2], fds_b[2];
    struct probe *a, *b;
};

static void pair_init(struct pair *pr, struct event_loop *loop, int action)
{
    test_pipe(pr->fds_a);
    test_pipe(pr->fds_b);
    pr->a = calloc(1, sizeof *pr->a);
    pr->b = calloc(1, sizeof *pr->b);
    probe_init(pr->a, loop, pr->fds_a[0]);
    probe_init(pr->b, loop, pr->fds_b[0]);
    pr->a->victim = pr->b;
    pr->b->victim = pr->a;
    pr->a->action = pr->b->action = action;
    ck_assert_int_eq(channel_enable_reading(&pr->a->ch), 0);
    ck_assert_int_eq(channel_enable_reading(&pr->b->ch), 0);
    test_write_all(pr->fds_a[1], "a", 1);
    test_write_all(pr->fds_b[1], "b", 1);
}

static void pair_destroy(struct pair *pr)
{
    if (pr->a != NULL) {
        probe_destroy(pr->a);
        free(pr->a);
    }
    if (pr->b != NULL) {
        probe_destroy(pr->b);
        free(pr->b);
    }
    for (int i = 0; i < 2; i++) {
        test_close(pr->fds_a[i]);
        test_close(pr->fds_b[i]);
    }
}

START_TEST(removed_in_batch_gets_no_callback)
{
    struct event_loop *loop = new_loop();
    struct pair pr;
    pair_init(&pr, loop, DO_REMOVE);
    run_one_round(loop);
    ck_assert_int_eq(total_calls(pr.a) + total_calls(pr.b), 1);
    pair_destroy(&pr);
    event_loop_free(loop);
}
END_TEST

START_TEST(disabled_in_batch_gets_no_callback)
{
    struct event_loop *loop = new_loop();
    int actions[] = {DO_DISABLE_READ, DO_DISABLE_ALL};
    for (int i = 0; i < 2; i++) {
        struct pair pr;
        pair_init(&pr, loop, actions[i]);
        run_one_round(loop);
        ck_assert_int_eq(total_calls(pr.a) + total_calls(pr.b), 1);
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
    pair_init(&pr, loop, DO_REMOVE_AND_FREE);
    run_one_round(loop);
    ck_assert_msg(g_freed == pr.a || g_freed == pr.b, "nothing was freed");
    struct probe *survivor = g_freed == pr.a ? pr.b : pr.a;
    ck_assert_int_eq(total_calls(survivor), 1);
    if (g_freed == pr.a)
        pr.a = NULL;
    else
        pr.b = NULL;
    pair_destroy(&pr);
    event_loop_free(loop);
}
END_TEST

static void remove_self_then_read_again(struct channel *ch, int64_t t,
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
    channel_set_read_fn(&ch, remove_self_then_read_again);
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

START_TEST(events_to_string)
{
    char buf[64];
    ck_assert_str_eq(channel_events_to_string(POLLIN | POLLHUP, buf,
                                              sizeof buf),
                     "IN HUP");
    ck_assert_str_eq(channel_events_to_string(0, buf, sizeof buf), "");
    ck_assert_str_eq(channel_events_to_string(POLLOUT | POLLERR, buf, 5),
                     "OUT ");
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
    tcase_add_test(tc, error_event_calls_error);
    tcase_add_test(tc, socket_peer_close_with_data_is_a_read);
    tcase_add_test(tc, removed_in_batch_gets_no_callback);
    tcase_add_test(tc, disabled_in_batch_gets_no_callback);
    tcase_add_test(tc, removed_and_freed_in_batch_is_never_touched);
    tcase_add_test(tc, channel_removing_itself_gets_no_further_callback);
    tcase_add_test(tc, regular_file_reading_is_refused_by_epoll_only);
    tcase_add_test(tc, destroy_during_own_dispatch_aborts);
    tcase_add_test(tc, events_to_string);
    suite_add_tcase(s, tc);
    return s;
}
