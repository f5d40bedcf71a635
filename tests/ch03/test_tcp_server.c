/* The TCP server and connection: echo of many sizes, callback order,
 * every way a connection ends, flow control, many connections, IPv6, and
 * the server's own destruction. */
#include "net_test.h"

#include "net/tcp_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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

/* What the server side saw. */
struct server_log {
    char events[4096]; /* U = up, M = message, W = write complete, D = down */
    size_t len;
    int ups, downs, write_completes, high_waters, expected_high_waters;
    size_t bytes_in;
    size_t high_water_mark;
    struct tcp_conn *kept;     /* a reference kept past the callbacks */
    bool echo;
    bool keep_ref;
    bool stop_read_on_up;
    bool send_nothing_on_up;   /* send(NULL, 0) when a connection comes up */
    size_t send_on_up;         /* bytes to send when a connection comes up */
    bool one_byte_first;       /* ... in two sends: 1 byte, then the rest */
    bool shutdown_on_up;       /* ... then shut down */
    char force_close_byte;     /* force_close when this byte arrives */
    bool free_server_on_message;
    bool free_server_on_up;
    bool free_server_on_down;
    bool force_close_on_write_complete;
    size_t queued_after_last_message; /* output left after the last echo */
    struct tcp_server *server;
};

static void note(struct server_log *log, char e)
{
    if (log->len + 1 < sizeof log->events)
        log->events[log->len++] = e;
}

static char big_payload[16 << 20];

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct server_log *log = ctx;
    if (tcp_conn_connected(conn)) {
        note(log, 'U');
        log->ups++;
        if (log->keep_ref) {
            tcp_conn_ref(conn);
            log->kept = conn;
        }
        if (log->send_nothing_on_up)
            ck_assert_int_eq(tcp_conn_send(conn, NULL, 0), 0);
        if (log->stop_read_on_up) {
            tcp_conn_stop_read(conn);
            ck_assert(!tcp_conn_is_reading(conn));
        }
        if (log->send_on_up > 0) {
            /* The first send of one byte goes straight out and queues a
             * write-complete call; the rest cannot all go out at once. */
            size_t first = log->one_byte_first ? 1 : 0;
            if (first > 0)
                ck_assert_int_eq(tcp_conn_send(conn, big_payload, 1), 0);
            ck_assert_int_eq(tcp_conn_send(conn, big_payload + first,
                                           log->send_on_up - first),
                             0);
        }
        if (log->free_server_on_up && log->server != NULL) {
            tcp_server_free(log->server);
            log->server = NULL;
            return;
        }
        if (log->shutdown_on_up) {
            tcp_conn_shutdown(conn);
            ck_assert_int_eq(tcp_conn_state(conn), TCP_DISCONNECTING);
        }
    } else {
        note(log, 'D');
        log->downs++;
        ck_assert(tcp_conn_disconnected(conn));
        ck_assert(!tcp_conn_is_reading(conn));
        if (log->free_server_on_down && log->server != NULL) {
            tcp_server_free(log->server);
            log->server = NULL;
        }
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct server_log *log = ctx;
    ck_assert_int_gt(receive_time_us, 0);
    ck_assert_ptr_eq(input, tcp_conn_input(conn));
    note(log, 'M');
    size_t n = buffer_readable(input);
    log->bytes_in += n;
    if (log->force_close_byte != 0 &&
        memchr(buffer_peek(input), log->force_close_byte, n) != NULL) {
        buffer_retrieve_all(input);
        tcp_conn_force_close(conn);
        ck_assert_int_eq(tcp_conn_state(conn), TCP_DISCONNECTING);
        return;
    }
    if (log->free_server_on_message && log->server != NULL) {
        tcp_server_free(log->server);
        log->server = NULL;
        buffer_retrieve_all(input);
        return;
    }
    if (log->echo) {
        size_t before = tcp_conn_output_bytes(conn);
        ck_assert_int_eq(tcp_conn_send_buffer(conn, input), 0);
        size_t after = tcp_conn_output_bytes(conn);
        if (before < log->high_water_mark && after >= log->high_water_mark)
            log->expected_high_waters++;
        log->queued_after_last_message = after;
    } else {
        buffer_retrieve_all(input);
    }
}

static void on_write_complete(struct tcp_conn *conn, void *ctx)
{
    struct server_log *log = ctx;
    ck_assert_uint_eq(tcp_conn_output_bytes(conn), 0);
    ck_assert(!tcp_conn_disconnected(conn)); /* nothing after down */
    note(log, 'W');
    log->write_completes++;
    if (log->force_close_on_write_complete) {
        tcp_conn_force_close(conn);
        tcp_conn_force_close(conn); /* twice is harmless */
    }
}

static void on_high_water(struct tcp_conn *conn, size_t queued, void *ctx)
{
    struct server_log *log = ctx;
    ck_assert(!tcp_conn_disconnected(conn)); /* nothing after down */
    ck_assert_uint_ge(queued, log->high_water_mark);
    log->high_waters++;
}

static struct tcp_callbacks callbacks_for(struct server_log *log)
{
    struct tcp_callbacks cb = {
        .on_connection = on_connection,
        .on_message = on_message,
        .on_write_complete = on_write_complete,
        .on_high_water = on_high_water,
        .high_water_mark = log->high_water_mark,
        .ctx = log,
    };
    return cb;
}

/* Most tests below have one shape: a server on a fresh loop records what
 * it sees in a server_log; a client thread talks to it; the test waits
 * until the server has seen the connections end, then reads the log. */
struct harness {
    struct event_loop *loop;
    struct inet_address addr;
    struct tcp_callbacks cb;
    struct server_log *log; /* log->server: NULL once a callback freed it */
};

static void harness_start(struct harness *h, struct server_log *log,
                          bool ipv6)
{
    h->loop = new_loop();
    h->log = log;
    h->cb = callbacks_for(log);
    log->server = start_test_server(h->loop, &h->cb, ipv6, &h->addr);
}

/* Runs fn(arg) in a client thread until it returns (at most timeout_ms),
 * then the loop until the server has seen `downs` connections end. */
static void harness_run_client(struct harness *h,
                               void (*fn)(struct client_thread *ct),
                               void *arg, int timeout_ms, int downs)
{
    struct client_thread ct;
    client_thread_start(&ct, h->loop, &h->addr, fn, arg);
    client_thread_finish(&ct, timeout_ms);
    run_loop_until(h->loop, &h->log->downs, downs, 10000);
}

static void harness_stop(struct harness *h)
{
    if (h->log->server != NULL)
        tcp_server_free(h->log->server);
    event_loop_free(h->loop);
}

/* --- echo ----------------------------------------------------------------- */

struct echo_job {
    size_t size;
};

/* Writes everything first, then reads it all back: the server must queue
 * up to the whole payload, crossing the high-water mark on the way. */
static void echo_client(struct client_thread *ct)
{
    struct echo_job *job = ct->arg;
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char *sent = malloc(job->size), *got = malloc(job->size);
    fill_pattern(sent, job->size, (unsigned)job->size);
    if (client_write_all(ct, fd, sent, job->size) &&
        client_read_exact(ct, fd, got, job->size) &&
        memcmp(sent, got, job->size) != 0)
        client_fail(ct, "echo of %zu bytes differs", job->size);
    close(fd);
    free(sent);
    free(got);
}

START_TEST(echo_sizes_from_one_byte_to_ten_mib)
{
    size_t sizes[] = {1, 100, 4096, 65536 + 17, 1 << 20, 10 << 20};
    int high_waters = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct server_log log = {.echo = true, .high_water_mark = 256 * 1024};
        struct harness h;
        harness_start(&h, &log, false);
        struct echo_job job = {sizes[i]};
        harness_run_client(&h, echo_client, &job, 30000, 1);
        ck_assert_uint_eq(log.bytes_in, sizes[i]);
        ck_assert_int_eq(log.ups, 1);
        ck_assert_int_eq(log.high_waters, log.expected_high_waters);
        high_waters += log.high_waters;
        harness_stop(&h);
    }
    ck_assert_int_gt(high_waters, 0); /* the big sizes crossed the mark */
}
END_TEST

/* --- callbacks in order, references, names ------------------------------- */

static void chat_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char reply[5];
    for (int i = 0; i < 3; i++)
        if (!client_write_all(ct, fd, "ping!", 5) ||
            !client_read_exact(ct, fd, reply, 5))
            break;
    close(fd);
}

START_TEST(callbacks_in_order_and_a_kept_reference)
{
    struct server_log log = {.echo = true, .keep_ref = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, chat_client, NULL, 10000, 1);
    log.events[log.len] = '\0';
    /* up; then message, write-complete three times; down */
    ck_assert_str_eq(log.events, "UMWMWMWD");
    ck_assert_uint_eq(tcp_server_connection_count(log.server), 0);

    /* Our reference keeps the closed connection readable. */
    struct tcp_conn *conn = log.kept;
    ck_assert_ptr_nonnull(conn);
    ck_assert(tcp_conn_disconnected(conn));
    ck_assert_str_eq(tcp_conn_state_name(tcp_conn_state(conn)),
                     "disconnected");
    char expect[96], port[16];
    snprintf(port, sizeof port, "%u", (unsigned)inet_address_port(&h.addr));
    snprintf(expect, sizeof expect, "test-127.0.0.1:%s#1", port);
    ck_assert_str_eq(tcp_conn_name(conn), expect);
    ck_assert(inet_address_equal(tcp_conn_local_address(conn), &h.addr));
    ck_assert_ptr_eq(tcp_conn_loop(conn), h.loop);
    ck_assert_int_eq(tcp_conn_send(conn, "late", 4), -ENOTCONN);
    tcp_conn_shutdown(conn);    /* no-ops when closed */
    tcp_conn_force_close(conn);
    tcp_conn_unref(conn); /* the last reference: closes the fd */
    harness_stop(&h);
}
END_TEST

/* --- ways to close --------------------------------------------------------- */

struct half_close_job {
    size_t size;
    int delay_ms; /* before reading back */
};

/* Sends, shuts down its sending side, and only then reads: everything
 * must come back, then end of file. */
static void half_close_client(struct client_thread *ct)
{
    struct half_close_job *job = ct->arg;
    int fd = client_connect_small_rcvbuf(ct);
    if (fd < 0)
        return;
    char *sent = malloc(job->size), *got = malloc(job->size + 1);
    fill_pattern(sent, job->size, 42);
    if (client_write_all(ct, fd, sent, job->size)) {
        shutdown(fd, SHUT_WR);
        usleep((useconds_t)job->delay_ms * 1000);
        long n = client_read_to_eof(ct, fd, got, job->size + 1);
        if (n >= 0 && ((size_t)n != job->size ||
                       memcmp(sent, got, job->size) != 0))
            client_fail(ct, "got %ld of %zu bytes back", n, job->size);
    }
    close(fd);
    free(sent);
    free(got);
}

START_TEST(peer_half_close_gets_all_output_then_close)
{
    size_t sizes[] = {10, 4 << 20};
    for (int i = 0; i < 2; i++) {
        struct server_log log = {.echo = true};
        struct harness h;
        harness_start(&h, &log, false);
        /* 4 MiB cannot all be in flight: output is still queued at the
         * server when the end of file arrives, and must not be lost. */
        struct half_close_job job = {sizes[i], 200};
        harness_run_client(&h, half_close_client, &job, 20000, 1);
        ck_assert_uint_eq(log.bytes_in, sizes[i]);
        ck_assert_int_eq(log.downs, 1);
        if (sizes[i] > 1000000) /* the premise: output still queued at EOF */
            ck_assert_uint_gt(log.queued_after_last_message, 0);
        harness_stop(&h);
    }
}
END_TEST

struct slow_reader_job {
    size_t expect;
};

static void slow_reader_client(struct client_thread *ct)
{
    struct slow_reader_job *job = ct->arg;
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    usleep(100 * 1000); /* let the server queue its output first */
    char *got = malloc(job->expect + 1);
    long n = client_read_to_eof(ct, fd, got, job->expect + 1);
    if (n >= 0 && ((size_t)n != job->expect ||
                   memcmp(got, big_payload, job->expect) != 0))
        client_fail(ct, "read %ld of %zu bytes before end of file", n,
                    job->expect);
    close(fd);
    free(got);
}

START_TEST(shutdown_delivers_all_queued_output_before_fin)
{
    fill_pattern(big_payload, sizeof big_payload, 7);
    struct server_log log = {.send_on_up = 8 << 20, .shutdown_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    struct slow_reader_job job = {8 << 20};
    harness_run_client(&h, slow_reader_client, &job, 20000, 1);
    ck_assert_int_eq(log.write_completes, 1);
    harness_stop(&h);
}
END_TEST

/* A send that goes straight out queues a write-complete call; a second
 * send in the same callback leaves output queued. The call must wait for
 * that output too: one write-complete, when all of it has gone. */
START_TEST(write_complete_waits_for_output_queued_after_it)
{
    fill_pattern(big_payload, sizeof big_payload, 9);
    struct server_log log = {.send_on_up = (8 << 20) + 1,
                             .one_byte_first = true,
                             .shutdown_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    struct slow_reader_job job = {(8 << 20) + 1};
    harness_run_client(&h, slow_reader_client, &job, 20000, 1);
    ck_assert_int_eq(log.write_completes, 1);
    ck_assert_str_eq(log.events, "UWD");
    harness_stop(&h);
}
END_TEST

/* Connects, waits a moment for the server's callbacks, closes. */
static void connect_then_close_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    usleep(50 * 1000);
    close(fd);
}

START_TEST(sending_nothing_is_a_no_op)
{
    /* No bytes, no buffer: accepted, and no write-complete follows. */
    struct server_log log = {.send_nothing_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, connect_then_close_client, NULL, 10000, 1);
    ck_assert_str_eq(log.events, "UD");
    harness_stop(&h);
}
END_TEST

/* Never reads; closes with SO_LINGER 0, which sends RST. */
static void reset_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    usleep(100 * 1000); /* the server queues output meanwhile */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

START_TEST(peer_reset_with_output_pending)
{
    struct server_log log = {.send_on_up = 8 << 20};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, reset_client, NULL, 10000, 1);
    ck_assert_int_eq(log.ups, 1);
    ck_assert_int_eq(log.downs, 1); /* reported once */
    ck_assert_int_eq(log.write_completes, 0);
    ck_assert_uint_eq(tcp_server_connection_count(log.server), 0);
    harness_stop(&h);
}
END_TEST

static void force_close_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    if (client_write_all(ct, fd, "abcx", 4))
        (void)client_expect_closed(ct, fd, 5000);
    close(fd);
}

START_TEST(force_close_from_a_message_callback)
{
    struct server_log log = {.force_close_byte = 'x'};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, force_close_client, NULL, 10000, 1);
    ck_assert_int_eq(log.downs, 1);
    harness_stop(&h);
}
END_TEST

/* Output queued, then the peer resets instead of reading: no crash, one
 * close, nothing leaked. */
START_TEST(shutdown_with_output_pending_then_peer_reset)
{
    struct server_log log = {.send_on_up = 8 << 20, .shutdown_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, reset_client, NULL, 10000, 1);
    ck_assert_int_eq(log.downs, 1);
    ck_assert_int_eq(log.write_completes, 0);
    harness_stop(&h);
}
END_TEST

static void expect_close_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    (void)client_write_all(ct, fd, "x", 1);
    (void)client_expect_closed(ct, fd, 5000);
    close(fd);
}

START_TEST(server_freed_from_the_up_callback)
{
    struct server_log log = {.free_server_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, expect_close_client, NULL, 10000, 1);
    ck_assert_ptr_null(log.server);
    ck_assert_int_eq(log.ups, 1);
    harness_stop(&h);
}
END_TEST

START_TEST(server_freed_from_the_down_callback)
{
    struct server_log log = {.echo = true, .free_server_on_down = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, chat_client, NULL, 10000, 1);
    ck_assert_ptr_null(log.server);
    harness_stop(&h);
}
END_TEST

/* Gets its echo in full, then the server closes. */
static void echo_then_closed_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char back[4];
    if (client_write_all(ct, fd, "abcd", 4) &&
        client_read_exact(ct, fd, back, 4))
        (void)client_expect_closed(ct, fd, 5000);
    close(fd);
}

START_TEST(force_close_from_the_write_complete_callback)
{
    struct server_log log = {.echo = true,
                             .force_close_on_write_complete = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, echo_then_closed_client, NULL, 10000, 1);
    ck_assert_int_eq(log.write_completes, 1);
    ck_assert_int_eq(log.downs, 1);
    harness_stop(&h);
}
END_TEST

/* Two connections with input waiting in the same batch; the first message
 * force-closes the other, which must then get no message in that batch. */
struct rival_state {
    struct tcp_conn *conns[2];
    int count;
    int messages;
};

static void rival_connection(struct tcp_conn *conn, void *ctx)
{
    struct rival_state *st = ctx;
    if (tcp_conn_connected(conn)) {
        tcp_conn_stop_read(conn); /* let input pile up in both */
        tcp_conn_ref(conn);
        st->conns[st->count++] = conn;
    }
}

static void rival_message(struct tcp_conn *conn, struct buffer *input,
                          int64_t t, void *ctx)
{
    struct rival_state *st = ctx;
    (void)t;
    ck_assert_msg(tcp_conn_connected(conn), "message after force_close");
    st->messages++;
    buffer_retrieve_all(input);
    for (int i = 0; i < st->count; i++)
        if (st->conns[i] != conn)
            tcp_conn_force_close(st->conns[i]);
}

static void start_both(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct rival_state *st = ctx;
    (void)id;
    if (st->count < 2) { /* not both connected yet */
        event_loop_run_after(loop, 10000, start_both, st);
        return;
    }
    tcp_conn_start_read(st->conns[0]);
    tcp_conn_start_read(st->conns[1]);
}

static void two_writers(struct client_thread *ct)
{
    int a = client_connect(ct), b = client_connect(ct);
    if (a < 0 || b < 0)
        return;
    (void)client_write_all(ct, a, "a", 1);
    (void)client_write_all(ct, b, "b", 1);
    /* one of them is closed by the server, the other stays open */
    struct pollfd pfd[2] = {{.fd = a, .events = POLLIN},
                            {.fd = b, .events = POLLIN}};
    int n = poll(pfd, 2, 5000);
    if (n != 1)
        client_fail(ct, "expected exactly one connection closed, poll: %d",
                    n);
    close(a);
    close(b);
}

START_TEST(force_closed_connection_gets_nothing_more_in_the_batch)
{
    struct event_loop *loop = new_loop();
    struct rival_state st = {.count = 0};
    struct tcp_callbacks cb = {.on_connection = rival_connection,
                               .on_message = rival_message,
                               .ctx = &st};
    struct inet_address addr;
    struct tcp_server *server = start_test_server(loop, &cb, false, &addr);
    ck_assert_uint_ne(event_loop_run_after(loop, 50000, start_both, &st), 0);
    struct client_thread ct;
    client_thread_start(&ct, loop, &addr, two_writers, NULL);
    client_thread_finish(&ct, 10000);
    ck_assert_int_eq(st.messages, 1);
    for (int i = 0; i < st.count; i++)
        tcp_conn_unref(st.conns[i]);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- flow control ---------------------------------------------------------- */

struct stop_read_state {
    struct server_log log;
    int bytes_when_checked;
    int checks;
    struct tcp_conn *conn;
};

static void resume_reading(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct stop_read_state *st = ctx;
    (void)loop;
    (void)id;
    st->bytes_when_checked = (int)st->log.bytes_in;
    st->checks++;
    ck_assert_msg(st->log.kept != NULL, "no connection after 150 ms");
    tcp_conn_start_read(st->log.kept);
    ck_assert(tcp_conn_is_reading(st->log.kept));
}

static void send_and_wait_echo(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char reply[6];
    if (client_write_all(ct, fd, "hello!", 6))
        (void)client_read_exact(ct, fd, reply, 6);
    close(fd);
}

START_TEST(stop_read_holds_input_until_start_read)
{
    struct stop_read_state st = {
        .log = {.echo = true, .keep_ref = true, .stop_read_on_up = true}};
    struct harness h;
    harness_start(&h, &st.log, false);
    /* 150 ms after the start, check that nothing was read, then resume. */
    ck_assert_uint_ne(event_loop_run_after(h.loop, 150 * 1000,
                                           resume_reading, &st),
                      0);
    harness_run_client(&h, send_and_wait_echo, NULL, 10000, 1);
    ck_assert_int_eq(st.checks, 1);
    ck_assert_int_eq(st.bytes_when_checked, 0); /* held back while stopped */
    ck_assert_uint_eq(st.log.bytes_in, 6);      /* and delivered after */
    tcp_conn_unref(st.log.kept);
    harness_stop(&h);
}
END_TEST

START_TEST(stopped_reader_hears_a_peer_reset)
{
    /* Reading stopped and nothing to send: the connection has no interest
     * left in the poller, yet a reset from the peer must still end it. */
    struct server_log log = {.stop_read_on_up = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, reset_client, NULL, 10000, 1);
    ck_assert_int_eq(log.ups, 1);
    ck_assert_int_eq(log.downs, 1);
    ck_assert_uint_eq(tcp_server_connection_count(log.server), 0);
    harness_stop(&h);
}
END_TEST

struct closed_both_ways_state {
    struct server_log log;
    uint64_t rounds_while_stopped;
    int checks;
};

static void resume_after_close(struct event_loop *loop, uint64_t id,
                               void *ctx)
{
    struct closed_both_ways_state *st = ctx;
    (void)id;
    st->rounds_while_stopped = event_loop_iterations(loop);
    st->checks++;
    ck_assert_msg(st->log.kept != NULL, "no connection after 150 ms");
    ck_assert_uint_eq(st->log.bytes_in, 0);
    tcp_conn_start_read(st->log.kept);
}

/* Sends its bytes, reads the server's end of file, then closes. */
static void send_then_close_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    char buf[16];
    if (client_write_all(ct, fd, "hello", 5) &&
        client_read_to_eof(ct, fd, buf, sizeof buf) != 0)
        client_fail(ct, "expected only the server's end of file");
    close(fd);
}

START_TEST(stopped_reader_keeps_input_after_both_sides_closed)
{
    /* The server stops reading and shuts down; the peer sends, then
     * closes too. Both directions are done, which the poller reports as a
     * hang-up; but the peer's bytes still wait to be read. The connection
     * must neither drop them nor wake the loop in every round until
     * reading resumes: then come the bytes, then the close. */
    enum { MAX_ROUNDS = 1000 }; /* a spinning loop makes 100k+ in 150 ms */
    struct closed_both_ways_state st = {
        .log = {.keep_ref = true, .stop_read_on_up = true,
                .shutdown_on_up = true}};
    struct harness h;
    harness_start(&h, &st.log, false);
    ck_assert_uint_ne(event_loop_run_after(h.loop, 150 * 1000,
                                           resume_after_close, &st),
                      0);
    harness_run_client(&h, send_then_close_client, NULL, 10000, 1);
    ck_assert_int_eq(st.checks, 1);
    ck_assert_uint_lt(st.rounds_while_stopped, MAX_ROUNDS);
    ck_assert_uint_eq(st.log.bytes_in, 5);
    ck_assert_str_eq(st.log.events, "UMD");
    tcp_conn_unref(st.log.kept);
    harness_stop(&h);
}
END_TEST

/* --- many connections ------------------------------------------------------ */

static void many_connections_client(struct client_thread *ct)
{
    for (int i = 0; i < 1000 && ct->error[0] == '\0'; i++) {
        int fd = client_connect(ct);
        if (fd < 0)
            return;
        char c = (char)i, back;
        if (client_write_all(ct, fd, &c, 1) &&
            client_read_exact(ct, fd, &back, 1) && back != c)
            client_fail(ct, "connection %d echoed the wrong byte", i);
        close(fd);
    }
}

START_TEST(thousand_connections_opened_and_closed)
{
    struct server_log log = {.echo = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, many_connections_client, NULL, 60000, 1000);
    ck_assert_int_eq(log.ups, 1000);
    ck_assert_int_eq(log.downs, 1000);
    ck_assert_uint_eq(tcp_server_connection_count(log.server), 0);
    harness_stop(&h);
}
END_TEST

START_TEST(ipv6_loopback_echo)
{
    struct server_log log = {.echo = true};
    struct harness h;
    harness_start(&h, &log, true);
    ck_assert_int_eq(inet_address_family(&h.addr), AF_INET6);
    struct echo_job job = {100000};
    harness_run_client(&h, echo_client, &job, 10000, 1);
    ck_assert_uint_eq(log.bytes_in, 100000);
    harness_stop(&h);
}
END_TEST

/* --- the server's own life --------------------------------------------------- */

struct idle_clients_job {
    int count;
    int fds[10];
};

/* Opens connections, says hello on each, then waits for the server to
 * close them all. */
static void idle_clients(struct client_thread *ct)
{
    struct idle_clients_job *job = ct->arg;
    for (int i = 0; i < job->count; i++) {
        job->fds[i] = client_connect(ct);
        if (job->fds[i] < 0)
            return;
        (void)client_write_all(ct, job->fds[i], "hi", 2);
    }
    for (int i = 0; i < job->count; i++) {
        (void)client_expect_closed(ct, job->fds[i], 5000);
        close(job->fds[i]);
    }
}

static void free_server_timer(struct event_loop *loop, uint64_t id,
                              void *ctx)
{
    struct server_log *log = ctx;
    (void)loop;
    (void)id;
    if (log->bytes_in < 20) { /* not everyone is connected yet */
        event_loop_run_after(loop, 5000, free_server_timer, log);
        return;
    }
    tcp_server_free(log->server);
    log->server = NULL;
}

START_TEST(server_freed_with_live_connections)
{
    struct server_log log = {0};
    struct harness h;
    harness_start(&h, &log, false);
    ck_assert_uint_ne(event_loop_run_after(h.loop, 5000, free_server_timer,
                                           &log),
                      0);
    struct idle_clients_job job = {.count = 10};
    harness_run_client(&h, idle_clients, &job, 10000, 10);
    ck_assert_ptr_null(log.server);
    ck_assert_int_eq(log.ups, 10);
    ck_assert_int_eq(log.downs, 10); /* every connection told it ended */
    harness_stop(&h);
}
END_TEST

static void one_message_client(struct client_thread *ct)
{
    int fd = client_connect(ct);
    if (fd < 0)
        return;
    if (client_write_all(ct, fd, "bye", 3))
        (void)client_expect_closed(ct, fd, 5000);
    close(fd);
}

START_TEST(server_freed_from_its_own_callback)
{
    struct server_log log = {.free_server_on_message = true};
    struct harness h;
    harness_start(&h, &log, false);
    harness_run_client(&h, one_message_client, NULL, 10000, 1);
    ck_assert_ptr_null(log.server);
    harness_stop(&h);
}
END_TEST

START_TEST(start_is_idempotent_and_ports_conflict)
{
    struct event_loop *loop = new_loop();
    struct server_log log = {0};
    struct tcp_callbacks cb = callbacks_for(&log);
    struct inet_address addr;
    struct tcp_server *server = start_test_server(loop, &cb, false, &addr);
    ck_assert_int_eq(tcp_server_start(server), 0);
    ck_assert_str_eq(tcp_server_name(server), "test");
    ck_assert_ptr_eq(tcp_server_loop(server), loop);
    errno = 0;
    ck_assert_ptr_null(tcp_server_new(loop, &addr, "second", 0));
    ck_assert_int_eq(errno, EADDRINUSE);
    tcp_server_free(server);
    /* Freed: the port is free again at once. */
    server = tcp_server_new(loop, &addr, "third", 0);
    ck_assert_ptr_nonnull(server);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch03 tcp server");
    TCase *tc = tcase_create("tcp");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, echo_sizes_from_one_byte_to_ten_mib);
    tcase_add_test(tc, callbacks_in_order_and_a_kept_reference);
    tcase_add_test(tc, peer_half_close_gets_all_output_then_close);
    tcase_add_test(tc, shutdown_delivers_all_queued_output_before_fin);
    tcase_add_test(tc, peer_reset_with_output_pending);
    tcase_add_test(tc, force_close_from_a_message_callback);
    tcase_add_test(tc, stop_read_holds_input_until_start_read);
    tcase_add_test(tc, stopped_reader_hears_a_peer_reset);
    tcase_add_test(tc, sending_nothing_is_a_no_op);
    tcase_add_test(tc, stopped_reader_keeps_input_after_both_sides_closed);
    tcase_add_test(tc, thousand_connections_opened_and_closed);
    tcase_add_test(tc, ipv6_loopback_echo);
    tcase_add_test(tc, server_freed_with_live_connections);
    tcase_add_test(tc, server_freed_from_its_own_callback);
    tcase_add_test(tc, start_is_idempotent_and_ports_conflict);
    tcase_add_test(tc, shutdown_with_output_pending_then_peer_reset);
    tcase_add_test(tc, server_freed_from_the_up_callback);
    tcase_add_test(tc, server_freed_from_the_down_callback);
    tcase_add_test(tc, force_close_from_the_write_complete_callback);
    tcase_add_test(tc, write_complete_waits_for_output_queued_after_it);
    tcase_add_test(tc, force_closed_connection_gets_nothing_more_in_the_batch);
    suite_add_tcase(s, tc);
    return s;
}
