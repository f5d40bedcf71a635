/* Threads: the thread-safe pending queue and its wake-up, quit from
 * another thread, loop threads, the latch, and the loop pool. */
#include "test_support.h"

#include "base/count_down_latch.h"
#include "base/log.h"
#include "net/event_loop.h"
#include "net/event_loop_pool.h"
#include "net/event_loop_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* 8 producers x 100k functors into one loop: each runs once, and the
 * functors of one producer run in the order it queued them. */
#define PRODUCERS 8
#define PER_PRODUCER 100000

struct fan_in {
    struct event_loop *loop;
    int64_t next[PRODUCERS]; /* loop thread only */
    int64_t total;
    int out_of_order;
};

static struct fan_in fan;

static void take(struct event_loop *loop, void *ctx)
{
    uintptr_t v = (uintptr_t)ctx;
    int producer = (int)(v >> 32);
    int64_t seq = (int64_t)(v & 0xffffffffu);
    if (fan.next[producer] != seq)
        fan.out_of_order++;
    fan.next[producer] = seq + 1;
    if (++fan.total == (int64_t)PRODUCERS * PER_PRODUCER)
        event_loop_quit(loop);
}

static void *produce(void *arg)
{
    uintptr_t producer = (uintptr_t)arg;
    for (uintptr_t seq = 0; seq < PER_PRODUCER; seq++)
        while (event_loop_queue(fan.loop, take,
                                (void *)(producer << 32 | seq)) != 0)
            usleep(100); /* out of memory: try again */
    return NULL;
}

START_TEST(functors_from_eight_threads_run_once_in_order)
{
    memset(&fan, 0, sizeof fan);
    fan.loop = new_loop();
    pthread_t threads[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, produce,
                                        (void *)i),
                         0);
    ck_assert_int_eq(event_loop_run(fan.loop), 0);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    ck_assert_int_eq(fan.total, (int64_t)PRODUCERS * PER_PRODUCER);
    ck_assert_int_eq(fan.out_of_order, 0);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(fan.next[i], PER_PRODUCER);
    ck_assert_int_eq(event_loop_queue_size(fan.loop), 0);
    event_loop_free(fan.loop);
}
END_TEST

static void *quit_later(void *arg)
{
    usleep(50 * 1000); /* the loop is asleep in the poller by now */
    event_loop_quit(arg);
    return NULL;
}

START_TEST(quit_from_another_thread_wakes_the_loop)
{
    struct event_loop *loop = new_loop();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, quit_later, loop), 0);
    ck_assert_int_eq(event_loop_run(loop), 0); /* would block forever */
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    event_loop_free(loop);
}
END_TEST

struct ran_where {
    atomic_int calls;
    atomic_bool in_loop_thread;
};

static void note_thread(struct event_loop *loop, void *ctx)
{
    struct ran_where *r = ctx;
    atomic_store(&r->in_loop_thread, event_loop_is_in_loop_thread(loop));
    atomic_fetch_add(&r->calls, 1);
    event_loop_quit(loop);
}

static void *run_in_loop_from_outside(void *arg)
{
    static struct ran_where r;
    atomic_store(&r.calls, 0);
    struct event_loop *loop = arg;
    usleep(20 * 1000);
    if (event_loop_run_in_loop(loop, note_thread, &r) != 0)
        return NULL;
    return &r;
}

START_TEST(run_in_loop_runs_now_inside_and_queues_outside)
{
    struct event_loop *loop = new_loop();
    struct ran_where here = {0};
    ck_assert_int_eq(event_loop_run_in_loop(loop, note_thread, &here), 0);
    ck_assert_int_eq(atomic_load(&here.calls), 1); /* ran already */
    ck_assert(atomic_load(&here.in_loop_thread));
    ck_assert_int_eq(event_loop_run(loop), 0); /* quit was asked: returns */

    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_in_loop_from_outside, loop),
                     0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    void *result;
    ck_assert_int_eq(pthread_join(t, &result), 0);
    struct ran_where *r = result;
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(atomic_load(&r->calls), 1);
    ck_assert(atomic_load(&r->in_loop_thread)); /* ran in the loop's thread */
    event_loop_free(loop);
}
END_TEST

/* A functor queued by a functor must not make the next wait block: that
 * round polls without waiting, because the queue is not empty. */
static void second(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    event_loop_quit(loop);
}

static void first(struct event_loop *loop, void *ctx)
{
    (void)ctx;
    ck_assert_int_eq(event_loop_queue(loop, second, NULL), 0);
}

START_TEST(functor_queued_by_a_functor_does_not_block)
{
    struct event_loop *loop = new_loop();
    ck_assert_int_eq(event_loop_queue(loop, first, NULL), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_free(loop);
}
END_TEST

/* --- loop threads --------------------------------------------------------- */

struct init_record {
    atomic_int calls;
    struct event_loop *loop_seen;
    atomic_bool right_thread;
};

static void init_thread(struct event_loop *loop, void *ctx)
{
    struct init_record *r = ctx;
    r->loop_seen = loop;
    atomic_store(&r->right_thread, event_loop_is_in_loop_thread(loop) &&
                                       event_loop_of_current_thread() == loop);
    atomic_fetch_add(&r->calls, 1);
}

static void count_call(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct count_down_latch *latch = ctx;
    count_down_latch_count_down(latch);
}

START_TEST(loop_threads_start_and_stop_repeatedly)
{
    for (int i = 0; i < 50; i++) {
        struct init_record r = {0};
        struct event_loop_thread *t = event_loop_thread_new(init_thread, &r);
        ck_assert_ptr_nonnull(t);
        struct event_loop *loop = event_loop_thread_loop(t);
        ck_assert_ptr_nonnull(loop); /* exists as soon as start returns */
        ck_assert_int_eq(atomic_load(&r.calls), 1);
        ck_assert_ptr_eq(r.loop_seen, loop);
        ck_assert(atomic_load(&r.right_thread));
        ck_assert(!event_loop_is_in_loop_thread(loop));
        /* Hand it work and wait for it to be done. */
        struct count_down_latch done;
        count_down_latch_init(&done, 1);
        ck_assert_int_eq(event_loop_queue(loop, count_call, &done), 0);
        count_down_latch_wait(&done);
        count_down_latch_destroy(&done);
        event_loop_thread_free(t);
    }
}
END_TEST

static atomic_int late_runs;

static void late(struct event_loop *loop, void *ctx)
{
    (void)loop;
    (void)ctx;
    atomic_fetch_add(&late_runs, 1);
}

START_TEST(stopping_a_loop_thread_runs_what_is_queued)
{
    atomic_store(&late_runs, 0);
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(event_loop_queue(event_loop_thread_loop(t), late,
                                          NULL),
                         0);
    event_loop_thread_free(t);
    ck_assert_int_eq(atomic_load(&late_runs), 1000);
}
END_TEST

static void quit_then_count(struct event_loop *loop, void *ctx)
{
    event_loop_quit(loop); /* ends this run only: the thread runs again */
    count_down_latch_count_down(ctx);
}

START_TEST(a_loop_thread_outlives_a_quit_of_its_loop)
{
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(t);
    struct event_loop *loop = event_loop_thread_loop(t);
    struct count_down_latch quit_done, later_done;
    count_down_latch_init(&quit_done, 1);
    count_down_latch_init(&later_done, 1);
    ck_assert_int_eq(event_loop_queue(loop, quit_then_count, &quit_done), 0);
    count_down_latch_wait(&quit_done);
    /* Queued after the quit took effect: the loop must still be there
     * and still be run by its thread. */
    ck_assert_int_eq(event_loop_queue(loop, count_call, &later_done), 0);
    count_down_latch_wait(&later_done);
    ck_assert_ptr_eq(event_loop_thread_loop(t), loop);
    event_loop_thread_free(t);
    count_down_latch_destroy(&quit_done);
    count_down_latch_destroy(&later_done);
}
END_TEST

/* The fds of the epoll instances in the process, in fds[0..return). */
static int epoll_fds(int *fds, int max)
{
    int n = 0;
    for (int fd = 3; fd < 1024 && n < max; fd++) {
        char target[64];
        if (test_fd_target(fd, target, sizeof target) &&
            strcmp(target, "anon_inode:[eventpoll]") == 0)
            fds[n++] = fd;
    }
    return n;
}

/* The fd of the only epoll instance in the process, or -1. */
static int find_epoll_fd(void)
{
    int fds[2];
    int n = epoll_fds(fds, 2);
    ck_assert_int_le(n, 1);
    return n == 1 ? fds[0] : -1;
}

/* MUDUO_POLLER=epoll for the loops made until restore_poller(saved),
 * whatever the suite runs with: only an epoll fd can be broken from
 * outside. Safe only while no other thread runs. */
static char *force_epoll(void)
{
    const char *env = getenv("MUDUO_POLLER");
    char *saved = env != NULL ? strdup(env) : NULL;
    ck_assert_int_eq(setenv("MUDUO_POLLER", "epoll", 1), 0);
    return saved;
}

static void restore_poller(char *saved)
{
    if (saved != NULL)
        setenv("MUDUO_POLLER", saved, 1);
    else
        unsetenv("MUDUO_POLLER");
    free(saved);
}

/* Puts /dev/null in the place of epoll fd @p epfd: the next epoll_wait()
 * of its loop fails. */
static void break_epoll_fd(int epfd)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(null_fd, 0);
    ck_assert_int_eq(dup3(null_fd, epfd, O_CLOEXEC), epfd);
    test_close(null_fd);
}

/* A sink that counts down a latch when the loop thread says it idles;
 * no Check calls: it runs in the loop thread. */
static void note_idle(const char *line, size_t len, void *ctx)
{
    if (memmem(line, len, "idle until stopped", 18) != NULL)
        count_down_latch_count_down(ctx);
}

/* A loop thread whose poller failed idles until stop(). The poller is
 * broken from outside: /dev/null takes the place of its epoll fd, so its
 * next epoll_wait() fails. stop() must be done with the loop before it
 * lets the thread free it: when it was not, a thread that won the race
 * could free the loop while stop() was still quitting it. */
#define STOP_ROUNDS 20

static void stop_after_poller_failure(void)
{
    char *saved = force_epoll();
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    restore_poller(saved);
    ck_assert_ptr_nonnull(t);

    struct count_down_latch idle, ran;
    count_down_latch_init(&idle, 1);
    count_down_latch_init(&ran, 1);
    struct log_sink sink = {note_idle, NULL, &idle};
    log_set_sink(&sink);
    int epfd = find_epoll_fd();
    ck_assert_int_ge(epfd, 0);
    break_epoll_fd(epfd);
    /* Wakes the loop if it waits (holding the old epoll instance): its
     * next wait is on /dev/null, and fails. The functor runs then, or,
     * if the wait failed first, when stop() frees the loop. */
    ck_assert_int_eq(
        event_loop_queue(event_loop_thread_loop(t), count_call, &ran), 0);
    count_down_latch_wait(&idle);
    event_loop_thread_free(t); /* the loop closes /dev/null as its epoll fd */
    log_set_sink(NULL);
    ck_assert_int_eq(count_down_latch_count(&ran), 0);
    count_down_latch_destroy(&idle);
    count_down_latch_destroy(&ran);
}

START_TEST(stopping_a_loop_thread_whose_poller_failed)
{
    for (int round = 0; round < STOP_ROUNDS; round++)
        stop_after_poller_failure();
}
END_TEST

static void *count_down_later(void *arg)
{
    usleep(20 * 1000);
    count_down_latch_count_down(arg);
    count_down_latch_count_down(arg);
    count_down_latch_count_down(arg); /* below zero: stays at zero */
    return NULL;
}

START_TEST(count_down_latch_waits_for_zero)
{
    struct count_down_latch latch;
    count_down_latch_init(&latch, 2);
    ck_assert_int_eq(count_down_latch_count(&latch), 2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, count_down_later, &latch), 0);
    count_down_latch_wait(&latch);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(count_down_latch_count(&latch), 0);
    count_down_latch_wait(&latch); /* at zero: returns at once */
    count_down_latch_destroy(&latch);
}
END_TEST

/* --- the pool ------------------------------------------------------------- */

START_TEST(pool_without_threads_is_the_base_loop)
{
    struct event_loop *base = new_loop();
    struct event_loop_pool *pool = event_loop_pool_new(base);
    ck_assert_ptr_nonnull(pool);
    struct init_record r = {0};
    ck_assert_int_eq(event_loop_pool_start(pool, 0, init_thread, &r), 0);
    ck_assert_int_eq(atomic_load(&r.calls), 1); /* once, with the base */
    ck_assert_ptr_eq(r.loop_seen, base);
    ck_assert_int_eq(event_loop_pool_size(pool), 0);
    ck_assert_ptr_eq(event_loop_pool_next(pool), base);
    ck_assert_ptr_eq(event_loop_pool_for_hash(pool, 12345), base);
    event_loop_pool_free(pool);
    event_loop_free(base);
}
END_TEST

START_TEST(pool_is_round_robin_and_hash_is_stable)
{
    struct event_loop *base = new_loop();
    struct event_loop_pool *pool = event_loop_pool_new(base);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(event_loop_pool_start(pool, -1, NULL, NULL), -EINVAL);
    ck_assert_int_eq(event_loop_pool_start(pool, 3, NULL, NULL), 0);
    ck_assert_int_eq(event_loop_pool_size(pool), 3);
    struct event_loop *seen[6];
    for (int i = 0; i < 6; i++) {
        seen[i] = event_loop_pool_next(pool);
        ck_assert_ptr_ne(seen[i], base);
    }
    ck_assert(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(seen[i], seen[i + 3]); /* the cycle repeats */
    for (size_t h = 0; h < 10; h++)
        ck_assert_ptr_eq(event_loop_pool_for_hash(pool, h),
                         event_loop_pool_for_hash(pool, h + 3));
    event_loop_pool_free(pool);
    event_loop_free(base);
}
END_TEST

START_TEST(pool_passes_over_a_loop_whose_poller_failed)
{
    /* One of two loop threads loses its poller: new work must go to the
     * other one only, by both pickers. */
    struct event_loop *base = new_loop();
    struct event_loop_pool *pool = event_loop_pool_new(base);
    ck_assert_ptr_nonnull(pool);
    int before[4], after[4];
    int n_before = epoll_fds(before, 4);
    char *saved = force_epoll();
    ck_assert_int_eq(event_loop_pool_start(pool, 2, NULL, NULL), 0);
    restore_poller(saved);
    int n_after = epoll_fds(after, 4);
    ck_assert_int_eq(n_after, n_before + 2);
    int victim = -1; /* an epoll fd that was not there before: a thread's */
    for (int i = 0; i < n_after && victim < 0; i++) {
        victim = after[i];
        for (int k = 0; k < n_before; k++)
            if (before[k] == after[i])
                victim = -1;
    }
    ck_assert_int_ge(victim, 0);

    struct count_down_latch idle, ran;
    count_down_latch_init(&idle, 1);
    count_down_latch_init(&ran, 2);
    struct log_sink sink = {note_idle, NULL, &idle};
    log_set_sink(&sink);
    break_epoll_fd(victim);
    for (int i = 0; i < 2; i++) /* wakes both: the broken one then fails */
        ck_assert_int_eq(
            event_loop_queue(event_loop_pool_next(pool), count_call, &ran),
            0);
    count_down_latch_wait(&idle);
    struct event_loop *healthy = event_loop_pool_next(pool);
    ck_assert_ptr_ne(healthy, base);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_eq(event_loop_pool_next(pool), healthy);
    for (size_t h = 0; h < 10; h++)
        ck_assert_ptr_eq(event_loop_pool_for_hash(pool, h), healthy);
    event_loop_pool_free(pool); /* the broken loop runs its queue now */
    log_set_sink(NULL);
    ck_assert_int_eq(count_down_latch_count(&ran), 0);
    count_down_latch_destroy(&idle);
    count_down_latch_destroy(&ran);
    event_loop_free(base);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch04 threads");
    TCase *tc = tcase_create("threads");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, functors_from_eight_threads_run_once_in_order);
    tcase_add_test(tc, quit_from_another_thread_wakes_the_loop);
    tcase_add_test(tc, run_in_loop_runs_now_inside_and_queues_outside);
    tcase_add_test(tc, functor_queued_by_a_functor_does_not_block);
    tcase_add_test(tc, loop_threads_start_and_stop_repeatedly);
    tcase_add_test(tc, stopping_a_loop_thread_runs_what_is_queued);
    tcase_add_test(tc, a_loop_thread_outlives_a_quit_of_its_loop);
    tcase_add_test(tc, stopping_a_loop_thread_whose_poller_failed);
    tcase_add_test(tc, count_down_latch_waits_for_zero);
    tcase_add_test(tc, pool_without_threads_is_the_base_loop);
    tcase_add_test(tc, pool_is_round_robin_and_hash_is_stable);
    tcase_add_test(tc, pool_passes_over_a_loop_whose_poller_failed);
    suite_add_tcase(s, tc);
    return s;
}
