/* A server with I/O threads: connections spread over the pool, echo under
 * load, sends from foreign threads, close racing with them, and the server
 * freed while its connections live in other loops. Callbacks run in the
 * I/O threads, so what they record is atomic or guarded. */
#include "net_test.h"

#include "base/timestamp.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

#define MAX_LOOPS 8

struct shared_log {
    atomic_int ups, downs;
    atomic_llong bytes;
    atomic_int wrong_thread; /* a callback outside its connection's loop */
    pthread_mutex_t mu;      /* guards loops and kept */
    struct event_loop *loops[MAX_LOOPS];
    int nloops;
    struct tcp_conn *kept[64];
    int nkept;
    bool keep;
    bool echo;
};

static void note_loop(struct shared_log *log, struct tcp_conn *conn)
{
    pthread_mutex_lock(&log->mu);
    struct event_loop *loop = tcp_conn_loop(conn);
    bool known = false;
    for (int i = 0; i < log->nloops; i++)
        known |= log->loops[i] == loop;
    if (!known && log->nloops < MAX_LOOPS)
        log->loops[log->nloops++] = loop;
    if (log->keep && log->nkept < 64) {
        tcp_conn_ref(conn);
        log->kept[log->nkept++] = conn;
    }
    pthread_mutex_unlock(&log->mu);
}

/* The i-th connection kept (log->keep), taken under the lock. */
static struct tcp_conn *kept_conn(struct shared_log *log, int i)
{
    pthread_mutex_lock(&log->mu);
    struct tcp_conn *conn = log->kept[i];
    pthread_mutex_unlock(&log->mu);
    return conn;
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct shared_log *log = ctx;
    if (!event_loop_is_in_loop_thread(tcp_conn_loop(conn)))
        atomic_fetch_add(&log->wrong_thread, 1);
    if (tcp_conn_connected(conn)) {
        note_loop(log, conn);
        atomic_fetch_add(&log->ups, 1);
    } else {
        atomic_fetch_add(&log->downs, 1);
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t t, void *ctx)
{
    struct shared_log *log = ctx;
    (void)t;
    if (!event_loop_is_in_loop_thread(tcp_conn_loop(conn)))
        atomic_fetch_add(&log->wrong_thread, 1);
    atomic_fetch_add(&log->bytes, (long long)buffer_readable(input));
    if (log->echo)
        (void)tcp_conn_send_buffer(conn, input);
    else
        buffer_retrieve_all(input);
}

static struct tcp_server *start_threaded(struct event_loop *loop,
                                         struct shared_log *log, int threads,
                                         struct inet_address *addr)
{
    pthread_mutex_init(&log->mu, NULL);
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .ctx = log};
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "mt", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_set_callbacks(server, &cb);
    tcp_server_set_thread_count(server, threads);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, addr), 0);
    return server;
}

/* Downs happen in the I/O threads, and their removals reach the base loop
 * as functors: run the base loop until the count is reached. */
struct count_wait {
    atomic_int *counter;
    int target;
    int64_t deadline_us;
};

static void check_count(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct count_wait *w = ctx;
    (void)id;
    if (atomic_load(w->counter) >= w->target)
        event_loop_quit(loop);
    else
        ck_assert_msg(timestamp_mono_us() < w->deadline_us,
                      "waited too long: %d of %d", atomic_load(w->counter),
                      w->target);
}

static void wait_for_count(struct event_loop *loop, atomic_int *counter,
                           int target)
{
    struct count_wait w = {counter, target, timestamp_mono_us() + 10000000};
    uint64_t id = event_loop_run_every(loop, 1000, check_count, &w);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
    event_loop_cancel_timer(loop, id);
}

/* 200 clients, each in one of 4 client threads: connect all, send on all,
 * then read every echo back. */
#define CLIENT_THREADS 4
#define PER_CLIENT_THREAD 50
#define MESSAGE 5000

static void many_echo_clients(struct client_thread *ct)
{
    int fds[PER_CLIENT_THREAD];
    char out[MESSAGE], in[MESSAGE];
    fill_pattern(out, sizeof out, (unsigned)(uintptr_t)ct);
    for (int i = 0; i < PER_CLIENT_THREAD; i++)
        if ((fds[i] = client_connect(ct)) < 0)
            return;
    for (int i = 0; i < PER_CLIENT_THREAD; i++)
        (void)client_write_all(ct, fds[i], out, sizeof out);
    for (int i = 0; i < PER_CLIENT_THREAD; i++) {
        if (client_read_exact(ct, fds[i], in, sizeof in) &&
            memcmp(in, out, sizeof out) != 0)
            client_fail(ct, "wrong echo on connection %d", i);
        close(fds[i]);
    }
}

START_TEST(echo_with_four_io_threads_and_two_hundred_clients)
{
    struct event_loop *loop = new_loop();
    struct shared_log log = {.echo = true};
    struct inet_address addr;
    struct tcp_server *server = start_threaded(loop, &log, 4, &addr);
    struct client_thread cts[CLIENT_THREADS];
    for (int i = 0; i < CLIENT_THREADS; i++)
        client_thread_start(&cts[i], loop, &addr, many_echo_clients, NULL);
    /* Each client thread, when done, makes the loop return once. */
    for (int i = 0; i < CLIENT_THREADS; i++)
        client_thread_finish(&cts[i], 60000);
    int total = CLIENT_THREADS * PER_CLIENT_THREAD;
    wait_for_count(loop, &log.downs, total);
    ck_assert_int_eq(atomic_load(&log.ups), total);
    ck_assert_int_eq(atomic_load(&log.bytes), (long long)total * MESSAGE);
    ck_assert_int_eq(atomic_load(&log.wrong_thread), 0);
    ck_assert_int_eq(log.nloops, 4); /* spread over every I/O loop */
    for (int i = 0; i < log.nloops; i++)
        ck_assert_ptr_ne(log.loops[i], loop); /* none in the base loop */
    tcp_server_free(server);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

/* --- input left unread ------------------------------------------------------ */

/* A connection with no input pending reads into its loop's buffer, lent
 * for that read; what the callback leaves unread must stay with its own
 * connection, even when another connection of the same loop reads next. */
struct lines_log {
    atomic_int downs;
};

static void lines_on_connection(struct tcp_conn *conn, void *ctx)
{
    struct lines_log *log = ctx;
    if (!tcp_conn_connected(conn))
        atomic_fetch_add(&log->downs, 1);
}

/* Echoes whole lines only: a partial line waits for the rest. */
static void lines_on_message(struct tcp_conn *conn, struct buffer *input,
                             int64_t t, void *ctx)
{
    (void)t;
    (void)ctx;
    const char *eol;
    while ((eol = buffer_find_eol(input)) != NULL) {
        size_t n = (size_t)(eol - buffer_peek(input)) + 1;
        (void)tcp_conn_send(conn, buffer_peek(input), n);
        buffer_retrieve(input, n);
    }
}

static void partial_lines_client(struct client_thread *ct)
{
    int a = client_connect(ct), b = client_connect(ct);
    if (a < 0 || b < 0)
        return;
    /* Pieces apart in time, so that the server reads them one by one. */
    static const struct {
        int which;
        const char *piece;
    } steps[] = {{0, "ab"}, {1, "xy"}, {0, "c\nde"}, {1, "z\n"}, {0, "f\n"}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int fd = steps[i].which == 0 ? a : b;
        (void)client_write_all(ct, fd, steps[i].piece, strlen(steps[i].piece));
        usleep(20000);
    }
    char in[16] = {0};
    if (client_read_exact(ct, a, in, 8) && memcmp(in, "abc\ndef\n", 8) != 0)
        client_fail(ct, "first connection read '%.8s'", in);
    memset(in, 0, sizeof in);
    if (client_read_exact(ct, b, in, 4) && memcmp(in, "xyz\n", 4) != 0)
        client_fail(ct, "second connection read '%.4s'", in);
    close(a);
    close(b);
}

START_TEST(unread_input_stays_with_its_connection)
{
    struct event_loop *loop = new_loop();
    struct lines_log log = {0};
    struct tcp_callbacks cb = {.on_connection = lines_on_connection,
                               .on_message = lines_on_message,
                               .ctx = &log};
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "lines", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_set_callbacks(server, &cb);
    tcp_server_set_thread_count(server, 1); /* both in one I/O loop */
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, &addr), 0);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, partial_lines_client, NULL);
    client_thread_finish(&ct, 10000);
    wait_for_count(loop, &log.downs, 2);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- sends from other threads --------------------------------------------- */

#define SENDERS 3
#define LINES 1000

struct sender_args {
    struct tcp_conn *conn;
    int id;
    atomic_int *refused;
};

static void *send_lines(void *arg)
{
    struct sender_args *a = arg;
    /* Sending nothing is allowed, also with no buffer at all. */
    if (tcp_conn_send(a->conn, NULL, 0) != 0)
        atomic_fetch_add(a->refused, 1);
    for (int i = 0; i < LINES; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d:%d\n", a->id, i);
        if (tcp_conn_send(a->conn, line, (size_t)n) != 0)
            atomic_fetch_add(a->refused, 1);
    }
    return NULL;
}

/* Reads lines until it has LINES from each of SENDERS + 1 senders, and
 * checks that each sender's numbers come in order. */
static void check_senders_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    (void)client_write_all(ct, fd, "go", 2); /* the server starts sending */
    int next[SENDERS + 1] = {0};
    int total = 0;
    char line[64];
    size_t len = 0;
    while (total < (SENDERS + 1) * LINES && ct->error[0] == '\0') {
        char c;
        if (!client_read_exact(ct, fd, &c, 1))
            break;
        if (c != '\n') {
            if (len < sizeof line - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        int id, seq;
        if (sscanf(line, "%d:%d", &id, &seq) != 2 || id < 0 || id > SENDERS) {
            client_fail(ct, "garbled line '%s'", line);
            break;
        }
        if (seq != next[id])
            client_fail(ct, "sender %d: got %d, expected %d", id, seq,
                        next[id]);
        next[id] = seq + 1;
        total++;
    }
    close(fd);
}

/* Callbacks run in I/O threads, where ck_assert must not be used (it
 * unwinds the test's own thread): they count problems for the test. */
struct foreign_state {
    struct shared_log log;
    pthread_t threads[SENDERS];
    struct sender_args args[SENDERS];
    atomic_int refused;
    atomic_int senders_started;
    atomic_bool started;
};

/* On "go", in the connection's loop: start three foreign senders, and
 * send the loop's own lines at the same time (sender id 0... they are
 * numbered SENDERS). */
static void foreign_message(struct tcp_conn *conn, struct buffer *input,
                            int64_t t, void *ctx)
{
    struct foreign_state *st = ctx;
    (void)t;
    buffer_retrieve_all(input);
    if (atomic_exchange(&st->started, true))
        return;
    for (int i = 0; i < SENDERS; i++) {
        st->args[i] = (struct sender_args){conn, i, &st->refused};
        tcp_conn_ref(conn); /* held while the sender runs */
        if (pthread_create(&st->threads[i], NULL, send_lines,
                           &st->args[i]) != 0) {
            tcp_conn_unref(conn);
            return;
        }
        atomic_fetch_add(&st->senders_started, 1);
    }
    for (int i = 0; i < LINES; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d:%d\n", SENDERS, i);
        if (tcp_conn_send(conn, line, (size_t)n) != 0)
            atomic_fetch_add(&st->refused, 1);
    }
}

static void foreign_connection(struct tcp_conn *conn, void *ctx)
{
    struct foreign_state *st = ctx;
    on_connection(conn, &st->log);
}

START_TEST(foreign_thread_sends_keep_each_senders_order)
{
    struct event_loop *loop = new_loop();
    struct foreign_state st = {.log = {.echo = false}};
    pthread_mutex_init(&st.log.mu, NULL);
    struct tcp_callbacks cb = {.on_connection = foreign_connection,
                               .on_message = foreign_message,
                               .ctx = &st};
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "senders", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_set_callbacks(server, &cb);
    tcp_server_set_thread_count(server, 2);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_int_eq(tcp_server_listen_address(server, &addr), 0);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, check_senders_client, NULL);
    client_thread_finish(&ct, 30000);
    ck_assert(atomic_load(&st.started));
    ck_assert_int_eq(atomic_load(&st.senders_started), SENDERS);
    for (int i = 0; i < SENDERS; i++) {
        ck_assert_int_eq(pthread_join(st.threads[i], NULL), 0);
        tcp_conn_unref(st.args[i].conn);
    }
    ck_assert_int_eq(atomic_load(&st.refused), 0);
    wait_for_count(loop, &st.log.downs, 1);
    tcp_server_free(server);
    pthread_mutex_destroy(&st.log.mu);
    event_loop_free(loop);
}
END_TEST

/* --- close racing with sends ------------------------------------------------ */

struct racer_args {
    struct tcp_conn *conn;
    atomic_int *after_close;
};

/* Sends small chunks, a few thousand a second (so that a slow loop, as
 * under valgrind, is not buried in queued sends), until a send is refused
 * because the connection has closed: at most 60 s. */
static void *send_until_closed(void *arg)
{
    struct racer_args *a = arg;
    char chunk[64];
    memset(chunk, 'r', sizeof chunk);
    for (int i = 0; i < 300000; i++) {
        int err = tcp_conn_send(a->conn, chunk, sizeof chunk);
        if (err == -ENOTCONN) {
            atomic_fetch_add(a->after_close, 1);
            break;
        }
        if (err != 0)
            break;
        usleep(200);
    }
    return NULL;
}

static void read_a_little_then_reset(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char buf[4096];
    for (int i = 0; i < 20; i++) /* some of the racing output */
        if (read(fd, buf, sizeof buf) <= 0)
            break;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd); /* reset, while four threads keep sending */
}

START_TEST(close_racing_with_sends_from_other_threads)
{
    struct event_loop *loop = new_loop();
    struct shared_log log = {.keep = true};
    struct inet_address addr;
    struct tcp_server *server = start_threaded(loop, &log, 2, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, read_a_little_then_reset, NULL);
    /* Wait for the connection, then race four senders against its end. */
    wait_for_count(loop, &log.ups, 1);
    atomic_int after_close = 0;
    struct tcp_conn *conn = kept_conn(&log, 0);
    pthread_t racers[4];
    struct racer_args args = {conn, &after_close};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&racers[i], NULL, send_until_closed,
                                        &args),
                         0);
    client_thread_finish(&ct, 10000);
    wait_for_count(loop, &log.downs, 1);
    /* Closed: every racer's next send is refused at once, without harm. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(racers[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&after_close), 4);
    ck_assert(tcp_conn_disconnected(conn));
    ck_assert_int_eq(tcp_conn_send(conn, "x", 1), -ENOTCONN);
    tcp_conn_unref(conn);
    tcp_server_free(server);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

/* --- the server freed while connections live elsewhere -------------------- */

struct idle_job {
    int count;
};

static void idle_until_closed(struct client_thread *ct)
{
    struct idle_job *job = ct->arg;
    int fds[32];
    for (int i = 0; i < job->count; i++)
        if ((fds[i] = client_connect(ct)) < 0)
            return;
    for (int i = 0; i < job->count; i++) {
        (void)client_expect_closed(ct, fds[i], 10000);
        close(fds[i]);
    }
}

START_TEST(server_freed_while_connections_live_in_other_loops)
{
    struct event_loop *loop = new_loop();
    struct shared_log log = {0};
    struct inet_address addr;
    struct tcp_server *server = start_threaded(loop, &log, 4, &addr);
    struct idle_job job = {20};
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, idle_until_closed, &job);
    wait_for_count(loop, &log.ups, 20);
    ck_assert_uint_eq(tcp_server_connection_count(server), 20);
    tcp_server_free(server); /* joins the I/O threads */
    /* Every connection was told, in its own thread, before the join. */
    ck_assert_int_eq(atomic_load(&log.downs), 20);
    ck_assert_int_eq(atomic_load(&log.wrong_thread), 0);
    client_thread_finish(&ct, 20000);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

/* Run in another loop's thread: the start is queued to the base loop,
 * and the socket is not listening until the base loop runs it. */
struct start_call {
    struct tcp_server *server;
    atomic_int result;
};

static void start_server_fn(struct event_loop *loop, void *ctx)
{
    struct start_call *call = ctx;
    (void)loop;
    atomic_store(&call->result, tcp_server_start(call->server));
}

/* The start is queued: until the base loop runs it, connections are
 * refused. So try for a while. */
static int connect_when_listening(struct client_thread *ct)
{
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t len;
        const struct sockaddr *sa = inet_address_sockaddr(&ct->server, &len);
        if (fd >= 0 && connect(fd, sa, len) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(10000);
    }
    client_fail(ct, "the server never listened");
    return -1;
}

static void echo_once_client(struct client_thread *ct)
{
    int fd = connect_when_listening(ct);
    if (fd < 0)
        return;
    char back[5];
    if (client_write_all(ct, fd, "hello", 5) &&
        client_read_exact(ct, fd, back, 5) && memcmp(back, "hello", 5) != 0)
        client_fail(ct, "wrong echo");
    close(fd);
}

START_TEST(start_from_another_thread)
{
    struct event_loop *loop = new_loop();
    struct shared_log log = {.echo = true};
    pthread_mutex_init(&log.mu, NULL);
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .ctx = &log};
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "late", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_set_callbacks(server, &cb);
    tcp_server_set_thread_count(server, 1);
    ck_assert_int_eq(tcp_server_listen_address(server, &addr), 0);
    struct event_loop_thread *other = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(other);
    struct start_call call = {server, -1};
    ck_assert_int_eq(event_loop_run_in_loop(event_loop_thread_loop(other),
                                            start_server_fn, &call),
                     0);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, echo_once_client, NULL);
    client_thread_finish(&ct, 10000);
    event_loop_thread_free(other);
    ck_assert_int_eq(atomic_load(&call.result), 0); /* queued */
    wait_for_count(loop, &log.downs, 1);
    tcp_server_free(server);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

/* A start queued from another thread, then the server freed before the
 * base loop ran it: the start holds the server, sees it is gone, and
 * does nothing. */
START_TEST(server_freed_before_its_queued_start_runs)
{
    struct event_loop *loop = new_loop();
    struct inet_address any;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *server = tcp_server_new(loop, &any, "gone", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_set_thread_count(server, 2);
    struct event_loop_thread *other = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(other);
    struct start_call call = {server, -1};
    ck_assert_int_eq(event_loop_run_in_loop(event_loop_thread_loop(other),
                                            start_server_fn, &call),
                     0);
    event_loop_thread_free(other); /* runs start_server_fn, then joins */
    ck_assert_int_eq(atomic_load(&call.result), 0);
    ck_assert_int_eq(event_loop_queue_size(loop), 1); /* the start */
    tcp_server_free(server);
    event_loop_free(loop); /* runs the start, after the free */
}
END_TEST

/* listen() fails (another socket took the port in between), the start is
 * tried again later and succeeds: the pool started by the first attempt
 * is kept, not started twice. */
START_TEST(start_can_be_retried_after_listen_fails)
{
    struct event_loop *loop = new_loop();
    struct inet_address any, addr;
    inet_address_loopback(&any, 0, false);
    struct tcp_server *first = tcp_server_new(loop, &any, "first", 0);
    ck_assert_ptr_nonnull(first);
    ck_assert_int_eq(tcp_server_listen_address(first, &addr), 0);
    /* Both bound with SO_REUSEADDR, neither listening: Linux allows it;
     * only one of them can listen. */
    struct tcp_server *second = tcp_server_new(loop, &addr, "second", 0);
    ck_assert_ptr_nonnull(second);
    struct shared_log log = {.echo = true};
    pthread_mutex_init(&log.mu, NULL);
    struct tcp_callbacks cb = {.on_connection = on_connection,
                               .on_message = on_message,
                               .ctx = &log};
    tcp_server_set_callbacks(second, &cb);
    tcp_server_set_thread_count(second, 2);
    ck_assert_int_eq(tcp_server_start(first), 0);
    ck_assert_int_eq(tcp_server_start(second), -EADDRINUSE);
    tcp_server_free(first);
    ck_assert_int_eq(tcp_server_start(second), 0); /* the retry */
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, echo_once_client, NULL);
    client_thread_finish(&ct, 10000);
    wait_for_count(loop, &log.downs, 1);
    ck_assert_int_eq(atomic_load(&log.wrong_thread), 0);
    ck_assert_int_eq(log.nloops, 1);
    ck_assert_ptr_ne(log.loops[0], loop); /* served by an I/O thread */
    tcp_server_free(second);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

struct init_log {
    atomic_int calls;
    atomic_int in_own_thread;
};

static void count_init(struct event_loop *loop, void *ctx)
{
    struct init_log *l = ctx;
    atomic_fetch_add(&l->calls, 1);
    if (event_loop_is_in_loop_thread(loop))
        atomic_fetch_add(&l->in_own_thread, 1);
}

START_TEST(thread_init_runs_once_in_each_io_thread)
{
    int counts[] = {0, 3};
    for (int i = 0; i < 2; i++) {
        struct event_loop *loop = new_loop();
        struct inet_address any;
        inet_address_loopback(&any, 0, false);
        struct tcp_server *server = tcp_server_new(loop, &any, "init", 0);
        ck_assert_ptr_nonnull(server);
        struct init_log l = {0};
        tcp_server_set_thread_count(server, counts[i]);
        tcp_server_set_thread_init(server, count_init, &l);
        ck_assert_int_eq(tcp_server_start(server), 0);
        /* With no I/O threads, the base loop is initialised instead. */
        int expect = counts[i] > 0 ? counts[i] : 1;
        ck_assert_int_eq(atomic_load(&l.calls), expect);
        ck_assert_int_eq(atomic_load(&l.in_own_thread), expect);
        ck_assert_int_eq(tcp_server_start(server), 0); /* idempotent */
        ck_assert_int_eq(atomic_load(&l.calls), expect);
        tcp_server_free(server);
        event_loop_free(loop);
    }
}
END_TEST

/* --- shutdown and force_close from another thread -------------------------- */

/* First connection: everything sent before the shutdown, then end of
 * file. Second: closed by force. */
static void shutdown_then_forced_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char got[16];
    long n = client_read_to_eof(ct, fd, got, sizeof got);
    if (n >= 0 && (n != 3 || memcmp(got, "bye", 3) != 0))
        client_fail(ct, "expected \"bye\" then end of file, got %ld bytes",
                    n);
    /* Our side is still open: the server shut down only its sending
     * half. Close it, then open the second connection. */
    close(fd);
    fd = client_connect(ct);
    if (fd < 0)
        return;
    (void)client_expect_closed(ct, fd, 10000);
    close(fd);
}

START_TEST(shutdown_and_force_close_from_another_thread)
{
    struct event_loop *loop = new_loop();
    struct shared_log log = {.keep = true};
    struct inet_address addr;
    struct tcp_server *server = start_threaded(loop, &log, 2, &addr);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, shutdown_then_forced_client, NULL);
    /* This thread is not the connections' thread: each call below is
     * queued to the connection's I/O loop. */
    wait_for_count(loop, &log.ups, 1);
    struct tcp_conn *first = kept_conn(&log, 0);
    ck_assert(!event_loop_is_in_loop_thread(tcp_conn_loop(first)));
    ck_assert_int_eq(tcp_conn_send(first, "bye", 3), 0);
    tcp_conn_shutdown(first); /* after "bye", which was queued first */
    wait_for_count(loop, &log.ups, 2);
    struct tcp_conn *second = kept_conn(&log, 1);
    tcp_conn_force_close(second);
    client_thread_finish(&ct, 20000);
    wait_for_count(loop, &log.downs, 2);
    ck_assert(tcp_conn_disconnected(first));
    ck_assert(tcp_conn_disconnected(second));
    tcp_server_free(server);
    /* The I/O loops are gone; kept references still answer, without
     * touching them. */
    ck_assert_int_eq(tcp_conn_send(first, "late", 4), -ENOTCONN);
    tcp_conn_shutdown(first);
    tcp_conn_force_close(second);
    tcp_conn_unref(first);
    tcp_conn_unref(second);
    pthread_mutex_destroy(&log.mu);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch04 threaded server");
    TCase *tc = tcase_create("threaded_server");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, echo_with_four_io_threads_and_two_hundred_clients);
    tcase_add_test(tc, unread_input_stays_with_its_connection);
    tcase_add_test(tc, foreign_thread_sends_keep_each_senders_order);
    tcase_add_test(tc, close_racing_with_sends_from_other_threads);
    tcase_add_test(tc, server_freed_while_connections_live_in_other_loops);
    tcase_add_test(tc, start_from_another_thread);
    tcase_add_test(tc, server_freed_before_its_queued_start_runs);
    tcase_add_test(tc, start_can_be_retried_after_listen_fails);
    tcase_add_test(tc, thread_init_runs_once_in_each_io_thread);
    tcase_add_test(tc, shutdown_and_force_close_from_another_thread);
    suite_add_tcase(s, tc);
    return s;
}
