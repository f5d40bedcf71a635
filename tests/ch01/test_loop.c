/* The event loop: run and quit, the pending queue, one loop per thread,
 * and the choice of poller. */
#include "test_support.h"

#include "base/timestamp.h"
#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

static void count_fn(struct event_loop *loop, void *ctx);

static void quit_fn(struct event_loop *loop, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    event_loop_quit(loop);
}

START_TEST(run_until_quit_from_a_functor)
{
    struct event_loop *loop = new_loop();
    int calls = 0;
    ck_assert_int_eq(event_loop_queue(loop, quit_fn, &calls), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(calls, 1);
    ck_assert_uint_eq(event_loop_iterations(loop), 1);
    /* A loop can run again after it quit. */
    ck_assert_int_eq(event_loop_queue(loop, quit_fn, &calls), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(calls, 2);
    event_loop_free(loop);
}
END_TEST

START_TEST(quit_before_run_returns_without_polling)
{
    struct event_loop *loop = new_loop();
    event_loop_quit(loop);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_uint_eq(event_loop_iterations(loop), 0);
    event_loop_free(loop);
}
END_TEST

/* An eventfd that a channel reads; the callback counts and maybe quits. */
struct counter {
    struct channel ch;
    int fd;
    int reads;
    int quit_after;
    int64_t receive_time;
    uint64_t iteration_seen;
};

static void counter_read(struct channel *ch, int64_t receive_time, void *ctx)
{
    struct counter *c = ctx;
    ck_assert_ptr_eq(ch, &c->ch);
    uint64_t value;
    ck_assert_int_eq(read(c->fd, &value, sizeof value), sizeof value);
    c->reads++;
    c->receive_time = receive_time;
    c->iteration_seen = event_loop_iterations(ch->loop);
    if (c->reads == c->quit_after)
        event_loop_quit(ch->loop);
}

static void counter_init(struct counter *c, struct event_loop *loop)
{
    memset(c, 0, sizeof *c);
    c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(c->fd, 0);
    channel_init(&c->ch, loop, c->fd, c);
    channel_set_read_fn(&c->ch, counter_read);
    ck_assert_int_eq(channel_enable_reading(&c->ch), 0);
}

static void counter_signal(struct counter *c)
{
    uint64_t one = 1;
    ck_assert_int_eq(write(c->fd, &one, sizeof one), sizeof one);
}

static void counter_destroy(struct counter *c)
{
    channel_remove(&c->ch);
    channel_destroy(&c->ch);
    test_close(c->fd);
}

START_TEST(quit_from_a_read_callback_ends_after_the_round)
{
    struct event_loop *loop = new_loop();
    struct counter c;
    counter_init(&c, loop);
    c.quit_after = 1;
    int functor_calls = 0;
    counter_signal(&c);
    /* Queued before the run: runs in the same round as the callback that
     * quits, because quit ends the loop only after the round. It does not
     * quit itself: only the read callback does. */
    ck_assert_int_eq(event_loop_queue(loop, count_fn, &functor_calls), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(c.reads, 1);
    ck_assert_int_eq(functor_calls, 1);
    ck_assert_uint_eq(event_loop_iterations(loop), 1);
    counter_destroy(&c);
    event_loop_free(loop);
}
END_TEST

START_TEST(read_callback_gets_the_poll_return_time)
{
    struct event_loop *loop = new_loop();
    struct counter c;
    counter_init(&c, loop);
    c.quit_after = 1;
    int64_t before = timestamp_mono_us();
    counter_signal(&c);
    ck_assert_int_eq(event_loop_run(loop), 0);
    int64_t after = timestamp_mono_us();
    ck_assert_int_eq(c.receive_time, event_loop_poll_return_time(loop));
    ck_assert_int_ge(c.receive_time, before);
    ck_assert_int_le(c.receive_time, after);
    counter_destroy(&c);
    event_loop_free(loop);
}
END_TEST

/* Records the order in which functors ran, and the round of each. */
struct order_log {
    int order[16];
    uint64_t round[16];
    int len;
    struct event_loop *loop;
};

struct step {
    struct order_log *log;
    int id;
    struct step *then; /* queued from inside this functor, if set */
};

static void step_fn(struct event_loop *loop, void *ctx)
{
    struct step *s = ctx;
    struct order_log *log = s->log;
    log->round[log->len] = event_loop_iterations(loop);
    log->order[log->len++] = s->id;
    if (s->then != NULL)
        ck_assert_int_eq(event_loop_queue(loop, step_fn, s->then), 0);
    if (s->id == 99)
        event_loop_quit(loop);
}

START_TEST(pending_queue_is_fifo_and_requeues_run_next_round)
{
    struct event_loop *loop = new_loop();
    struct order_log log = {.loop = loop};
    struct step last = {&log, 99, NULL};
    struct step inner = {&log, 4, &last};
    struct step s1 = {&log, 1, &inner};
    struct step s2 = {&log, 2, NULL};
    struct step s3 = {&log, 3, NULL};
    ck_assert_int_eq(event_loop_queue(loop, step_fn, &s1), 0);
    ck_assert_int_eq(event_loop_queue(loop, step_fn, &s2), 0);
    ck_assert_int_eq(event_loop_queue(loop, step_fn, &s3), 0);
    ck_assert_int_eq(event_loop_queue_size(loop), 3);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(log.len, 5);
    int expected[] = {1, 2, 3, 4, 99};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(log.order[i], expected[i]);
    /* 1-3 in round 1; 4, queued by 1, in round 2; 99 in round 3. */
    ck_assert_uint_eq(log.round[0], 1);
    ck_assert_uint_eq(log.round[2], 1);
    ck_assert_uint_eq(log.round[3], 2);
    ck_assert_uint_eq(log.round[4], 3);
    ck_assert_int_eq(event_loop_queue_size(loop), 0);
    event_loop_free(loop);
}
END_TEST

/* A functor that re-queues itself every time must not starve the poller:
 * each round runs it once and then polls, so an fd event gets through. */
struct requeuer {
    int runs;
    bool stop;
};

static void requeue_fn(struct event_loop *loop, void *ctx)
{
    struct requeuer *r = ctx;
    r->runs++;
    if (!r->stop)
        ck_assert_int_eq(event_loop_queue(loop, requeue_fn, r), 0);
}

START_TEST(self_requeueing_functor_does_not_starve_io)
{
    struct event_loop *loop = new_loop();
    struct counter c;
    counter_init(&c, loop);
    c.quit_after = 1;
    struct requeuer r = {0, false};
    ck_assert_int_eq(event_loop_queue(loop, requeue_fn, &r), 0);
    counter_signal(&c);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(c.reads, 1);
    ck_assert_int_eq(r.runs, 1);
    ck_assert_uint_eq(event_loop_iterations(loop), 1);
    counter_destroy(&c);
    /* event_loop_free runs what is still queued, once more here. */
    ck_assert_int_eq(event_loop_queue_size(loop), 1);
    r.stop = true;
    event_loop_free(loop);
    ck_assert_int_eq(r.runs, 2);
}
END_TEST

static void count_fn(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (*(int *)ctx)++;
}

START_TEST(free_runs_functors_still_queued)
{
    struct event_loop *loop = new_loop();
    int calls = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(event_loop_queue(loop, count_fn, &calls), 0);
    event_loop_free(loop);
    ck_assert_int_eq(calls, 100);
}
END_TEST

START_TEST(loop_of_current_thread_is_tracked)
{
    ck_assert_ptr_null(event_loop_of_current_thread());
    struct event_loop *loop = new_loop();
    ck_assert_ptr_eq(event_loop_of_current_thread(), loop);
    ck_assert(event_loop_is_in_loop_thread(loop));
    event_loop_free(loop);
    ck_assert_ptr_null(event_loop_of_current_thread());
    /* After the free, this thread may own a new loop. */
    loop = new_loop();
    event_loop_free(loop);
}
END_TEST

static void make_two_loops(void *arg)
{
    (void)arg;
    struct event_loop *first = event_loop_new();
    if (first == NULL)
        _exit(3);
    (void)event_loop_new(); /* must abort */
    _exit(4);
}

START_TEST(second_loop_in_one_thread_aborts)
{
    int status = test_run_in_child(make_two_loops, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
}
END_TEST

/* event_loop_iterations() is loop thread only in every chapter (queueing
 * becomes thread-safe in chapter 4, so it would not do here). */
static void *use_from_other_thread(void *arg)
{
    (void)event_loop_iterations(arg); /* must abort */
    return NULL;
}

static void use_loop_from_other_thread(void *arg)
{
    (void)arg;
    struct event_loop *loop = event_loop_new();
    if (loop == NULL)
        _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, use_from_other_thread, loop) != 0)
        _exit(5);
    pthread_join(t, NULL);
    _exit(4);
}

START_TEST(loop_used_from_another_thread_aborts)
{
    int status = test_run_in_child(use_loop_from_other_thread, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
}
END_TEST

static void free_with_registered_channel(void *arg)
{
    (void)arg;
    struct event_loop *loop = event_loop_new();
    int fd = eventfd(0, EFD_CLOEXEC);
    if (loop == NULL || fd < 0)
        _exit(3);
    struct channel ch;
    channel_init(&ch, loop, fd, NULL);
    if (channel_enable_reading(&ch) != 0)
        _exit(5);
    event_loop_free(loop); /* must abort: ch is still registered */
    _exit(4);
}

START_TEST(free_with_a_registered_channel_aborts)
{
    int status = test_run_in_child(free_with_registered_channel, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, expected SIGABRT", status);
}
END_TEST

START_TEST(poller_chosen_in_code_and_by_environment)
{
    struct event_loop *loop = event_loop_new_with_poller(POLLER_POLL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_str_eq(event_loop_poller_name(loop), "poll");
    event_loop_free(loop);

    loop = event_loop_new_with_poller(POLLER_EPOLL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_str_eq(event_loop_poller_name(loop), "epoll");
    event_loop_free(loop);

    const char *env = getenv("MUDUO_POLLER");
    char *saved = env != NULL ? strdup(env) : NULL;
    ck_assert_int_eq(setenv("MUDUO_POLLER", "poll", 1), 0);
    loop = new_loop();
    ck_assert_str_eq(event_loop_poller_name(loop), "poll");
    event_loop_free(loop);

    ck_assert_int_eq(setenv("MUDUO_POLLER", "kqueue", 1), 0);
    errno = 0;
    ck_assert_ptr_null(event_loop_new());
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(event_loop_of_current_thread());

    if (saved != NULL)
        setenv("MUDUO_POLLER", saved, 1);
    else
        unsetenv("MUDUO_POLLER");
    free(saved);
}
END_TEST

/* A signal that interrupts the wait (no SA_RESTART) is not an error: the
 * loop goes round again. */
static volatile sig_atomic_t alarms;

static void on_alarm(int signo)
{
    (void)signo;
    alarms++;
}

struct signaller {
    pthread_t target;
    struct counter *c;
};

/* Interrupts the loop's thread every 10 ms for 200 ms, so that some
 * signal surely arrives while it waits (even under valgrind, which runs
 * threads slowly), then wakes it for real. */
static void *signal_repeatedly(void *arg)
{
    struct signaller *s = arg;
    for (int i = 0; i < 20; i++) {
        usleep(10 * 1000);
        pthread_kill(s->target, SIGALRM);
    }
    uint64_t one = 1;
    (void)!write(s->c->fd, &one, sizeof one);
    return NULL;
}

START_TEST(signal_interrupting_the_wait_is_harmless)
{
    struct event_loop *loop = new_loop();
    struct counter c;
    counter_init(&c, loop);
    c.quit_after = 1;
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: the wait fails with EINTR */
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
    alarms = 0;
    struct signaller s = {pthread_self(), &c};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, signal_repeatedly, &s), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(alarms, 20);
    ck_assert_int_eq(c.reads, 1);
    /* interrupted waits count as rounds; the read came in a later one */
    ck_assert_uint_ge(event_loop_iterations(loop), 2);
    sigaction(SIGALRM, &old, NULL);
    counter_destroy(&c);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch01 event loop");
    TCase *tc = tcase_create("loop");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, run_until_quit_from_a_functor);
    tcase_add_test(tc, quit_before_run_returns_without_polling);
    tcase_add_test(tc, quit_from_a_read_callback_ends_after_the_round);
    tcase_add_test(tc, read_callback_gets_the_poll_return_time);
    tcase_add_test(tc, pending_queue_is_fifo_and_requeues_run_next_round);
    tcase_add_test(tc, self_requeueing_functor_does_not_starve_io);
    tcase_add_test(tc, free_runs_functors_still_queued);
    tcase_add_test(tc, loop_of_current_thread_is_tracked);
    tcase_add_test(tc, second_loop_in_one_thread_aborts);
    tcase_add_test(tc, loop_used_from_another_thread_aborts);
    tcase_add_test(tc, free_with_a_registered_channel_aborts);
    tcase_add_test(tc, poller_chosen_in_code_and_by_environment);
    tcase_add_test(tc, signal_interrupting_the_wait_is_harmless);
    suite_add_tcase(s, tc);
    return s;
}
