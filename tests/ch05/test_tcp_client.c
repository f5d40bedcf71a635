/* The TCP client: an exchange with a graceful disconnect, reconnection
 * after the server closes (and none after disconnect or stop), errors
 * and self-connects, free in every state (also from its callbacks and
 * from another thread while its connection lives in another loop), and a
 * thousand clients spread over a loop pool. */
#include "client_test.h"
#include "connect_faults.h"
#include "net_test.h"

#include "base/timestamp.h"
#include "net/event_loop_pool.h"
#include "net/event_loop_thread.h"
#include "net/sockets.h"
#include "net/tcp_client.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INITIAL_US ((int64_t)10 * 1000)
#define MAX_US ((int64_t)40 * 1000)
#define TIMEOUT_MS 20000
/* Sent before a graceful disconnect: more than a socket buffer holds, so
 * some of it is still queued when disconnect is asked. */
#define FLUSH_BYTES ((size_t)2 << 20)
/* Times the server closes a connection before it lets one stay. */
#define SERVER_CLOSES 2
/* The crowd: clients in all, at most so many at once, each sending one
 * block and reading its echo. */
#define CROWD 1000
#define CROWD_IN_FLIGHT 100
#define CROWD_BLOCK 64
#define CROWD_THREADS 2

static struct event_loop *new_loop(void)
{
    struct event_loop *loop = event_loop_new();
    ck_assert_msg(loop != NULL, "event_loop_new: %s", strerror(errno));
    return loop;
}

/* --- the server side ------------------------------------------------------- */

struct server_side {
    int ups, downs;
    int close_first; /* shut down the first so many connections */
    size_t bytes;
};

static void server_connection(struct tcp_conn *conn, void *ctx)
{
    struct server_side *s = ctx;
    if (!tcp_conn_connected(conn)) {
        s->downs++;
        return;
    }
    if (++s->ups <= s->close_first)
        tcp_conn_shutdown(conn);
}

static void server_echo(struct tcp_conn *conn, struct buffer *input,
                        int64_t receive_time_us, void *ctx)
{
    struct server_side *s = ctx;
    (void)receive_time_us;
    s->bytes += buffer_readable(input);
    (void)tcp_conn_send_buffer(conn, input);
}

static struct tcp_server *echo_server(struct event_loop *loop,
                                      struct server_side *s,
                                      struct inet_address *addr)
{
    struct tcp_callbacks cb = {.on_connection = server_connection,
                               .on_message = server_echo,
                               .ctx = s};
    return start_test_server(loop, &cb, false, addr);
}

/* --- the client side ------------------------------------------------------- */

struct client_side {
    struct tcp_client *client;
    int ups, downs, errors, last_error;
    char names[4][TCP_CONN_NAME_MAX];
    size_t received;
    size_t send_on_up;      /* bytes to send when up (a pattern) */
    bool disconnect_on_up;  /* ... then disconnect at once */
    bool free_on_up, free_on_message;
    bool connect_on_down;   /* a reconnect-on-down callback */
    bool pattern_ok;
};

static char *pattern;

static void client_connection(struct tcp_conn *conn, void *ctx)
{
    struct client_side *c = ctx;
    if (!tcp_conn_connected(conn)) {
        c->downs++;
        if (c->connect_on_down) /* also after free: then a no-op */
            ck_assert_int_eq(tcp_client_connect(c->client), 0);
        return;
    }
    if (c->ups < 4)
        snprintf(c->names[c->ups], sizeof c->names[0], "%s",
                 tcp_conn_name(conn));
    c->ups++;
    if (c->send_on_up > 0)
        ck_assert_int_eq(tcp_conn_send(conn, pattern, c->send_on_up), 0);
    if (c->disconnect_on_up)
        ck_assert_int_eq(tcp_client_disconnect(c->client), 0);
    if (c->free_on_up)
        tcp_client_free(c->client);
}

static void client_message(struct tcp_conn *conn, struct buffer *input,
                           int64_t receive_time_us, void *ctx)
{
    struct client_side *c = ctx;
    (void)conn;
    (void)receive_time_us;
    size_t n = buffer_readable(input);
    if (c->received + n > FLUSH_BYTES ||
        memcmp(buffer_peek(input), pattern + c->received, n) != 0)
        c->pattern_ok = false;
    c->received += n;
    buffer_retrieve_all(input);
    if (c->free_on_message)
        tcp_client_free(c->client);
}

static void client_error(struct tcp_client *client, int err, void *ctx)
{
    struct client_side *c = ctx;
    (void)client;
    c->errors++;
    c->last_error = err;
}

static struct tcp_client *new_client(struct client_side *c,
                                     struct event_loop *loop,
                                     const struct inet_address *server,
                                     bool retry)
{
    c->pattern_ok = true;
    struct tcp_client *client = tcp_client_new(loop, server, "client");
    ck_assert_ptr_nonnull(client);
    struct tcp_callbacks cb = {.on_connection = client_connection,
                               .on_message = client_message,
                               .ctx = c};
    tcp_client_set_callbacks(client, &cb);
    tcp_client_set_error_callback(client, client_error, c);
    tcp_client_set_retry(client, retry);
    ck_assert_int_eq(tcp_client_set_retry_delays(client, INITIAL_US, MAX_US),
                     0);
    ck_assert(tcp_client_retry(client) == retry);
    c->client = client;
    return client;
}

static void setup(void)
{
    if (pattern == NULL) {
        pattern = malloc(FLUSH_BYTES);
        ck_assert_ptr_nonnull(pattern);
        fill_pattern(pattern, FLUSH_BYTES, 5);
    }
}

static void teardown(void)
{
    free(pattern);
    pattern = NULL;
    connect_faults_disarm();
}

START_TEST(disconnect_flushes_output_and_ends_the_retries)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, true);
    c.send_on_up = FLUSH_BYTES;
    c.disconnect_on_up = true; /* with most of it still queued */
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.downs, 1, TIMEOUT_MS);
    /* Every byte went out before the FIN, and came back before the
     * server's own FIN. */
    ck_assert_uint_eq(s.bytes, FLUSH_BYTES);
    ck_assert_uint_eq(c.received, FLUSH_BYTES);
    ck_assert(c.pattern_ok);
    run_loop_for(loop, 5 * MAX_US);
    ck_assert_int_eq(c.ups, 1); /* no reconnection after a disconnect */
    ck_assert_int_eq(s.downs, 1);
    ck_assert_ptr_null(tcp_client_connection(client));
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(reconnects_after_the_server_closes)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {.close_first = SERVER_CLOSES};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, true);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.ups, SERVER_CLOSES + 1, TIMEOUT_MS);
    ck_assert_int_eq(c.downs, SERVER_CLOSES);
    /* Each connection is a new one, with a name of its own. */
    ck_assert_str_ne(c.names[0], c.names[1]);
    ck_assert_str_ne(c.names[1], c.names[2]);
    ck_assert_ptr_nonnull(strstr(c.names[0], "client-"));
    struct tcp_conn *conn = tcp_client_connection(client);
    ck_assert_ptr_nonnull(conn);
    ck_assert(tcp_conn_connected(conn));
    tcp_conn_unref(conn);
    ck_assert_int_eq(tcp_client_disconnect(client), 0);
    run_loop_until(loop, &c.downs, SERVER_CLOSES + 1, TIMEOUT_MS);
    run_loop_for(loop, 5 * MAX_US);
    ck_assert_int_eq(c.ups, SERVER_CLOSES + 1);
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(no_reconnection_unless_asked)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {.close_first = 1};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, false);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.downs, 1, TIMEOUT_MS);
    run_loop_for(loop, 5 * MAX_US);
    ck_assert_int_eq(c.ups, 1);
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(connect_during_a_disconnect_connects_again_after_it)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, false);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.ups, 1, TIMEOUT_MS);
    ck_assert_int_eq(tcp_client_connect(client), 0); /* connected: no-op */
    ck_assert_int_eq(tcp_client_disconnect(client), 0);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.ups, 2, TIMEOUT_MS);
    ck_assert_int_eq(c.downs, 1); /* one at a time */
    run_loop_for(loop, 3 * INITIAL_US);
    ck_assert_int_eq(c.ups, 2);
    ck_assert_int_eq(s.ups, 2);
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(stop_ends_connecting_until_the_next_connect)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    int fd = bound_socket(&addr, false);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, true);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_for(loop, 3 * INITIAL_US); /* refused, retrying */
    ck_assert_int_eq(tcp_client_stop(client), 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    ck_assert_int_eq(sockets_listen(fd), 0); /* the server appears */
    run_loop_for(loop, 3 * MAX_US);
    ck_assert_int_eq(c.ups, 0);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.ups, 1, TIMEOUT_MS);
    tcp_client_free(client);
    run_loop_for(loop, INITIAL_US); /* the connection's end */
    ck_assert_int_eq(c.downs, 1);
    int accepted = sockets_accept(fd, NULL);
    ck_assert_int_ge(accepted, 0);
    test_close(accepted);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

START_TEST(errors_that_retrying_cannot_cure_reach_the_user)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, true);
    connect_faults_arm(EACCES, 1, false);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    connect_faults_disarm();
    ck_assert_int_eq(c.errors, 1);
    ck_assert_int_eq(c.last_error, -EACCES);
    run_loop_for(loop, 3 * INITIAL_US);
    ck_assert_int_eq(c.ups, 0);
    ck_assert_int_eq(s.ups, 0);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    /* Asking again tries again. */
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &c.ups, 1, TIMEOUT_MS);
    tcp_client_free(client);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

START_TEST(a_self_connect_is_never_a_connection)
{
    struct event_loop *loop = new_loop();
    struct inet_address addr;
    test_close(bound_socket(&addr, false)); /* a free ephemeral port */
    struct client_side c = {0};
    struct tcp_client *client = new_client(&c, loop, &addr, true);
    tcp_client_set_local_address(client, &addr);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_for(loop, 6 * INITIAL_US);
    ck_assert_int_eq(c.ups, 0);
    ck_assert_int_eq(c.errors, 0);
    tcp_client_free(client);
    event_loop_free(loop);
}
END_TEST

START_TEST(free_in_every_state_leaves_nothing_behind)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct inet_address addr, refused;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    int fd = bound_socket(&refused, false);
    struct client_side idle = {0}, connecting = {0}, waiting = {0},
                       connected = {0}, on_up = {0}, on_message = {0};
    tcp_client_free(new_client(&idle, loop, &addr, true));
    struct tcp_client *client = new_client(&connecting, loop, &addr, true);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    tcp_client_free(client);
    client = new_client(&waiting, loop, &refused, true);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_for(loop, 2 * INITIAL_US);
    tcp_client_free(client);
    client = new_client(&connected, loop, &addr, true);
    connected.connect_on_down = true;
    ck_assert_int_eq(tcp_client_connect(client), 0);
    run_loop_until(loop, &connected.ups, 1, TIMEOUT_MS);
    tcp_client_free(client);
    on_up.free_on_up = true;
    ck_assert_int_eq(tcp_client_connect(new_client(&on_up, loop, &addr,
                                                   true)),
                     0);
    on_message.free_on_message = true;
    on_message.send_on_up = 1;
    ck_assert_int_eq(tcp_client_connect(new_client(&on_message, loop, &addr,
                                                   true)),
                     0);
    run_loop_until(loop, &on_message.downs, 1, TIMEOUT_MS);
    run_loop_until(loop, &on_up.downs, 1, TIMEOUT_MS);
    ck_assert_int_eq(connecting.ups, 0);
    ck_assert_int_eq(waiting.ups, 0);
    /* A connection let go by free goes down in its loop, after the
     * batch: its down callback is the last one. */
    ck_assert_int_eq(connected.downs, 1);
    ck_assert_int_eq(on_up.downs, 1);
    ck_assert_int_eq(on_message.downs, 1);
    ck_assert_uint_eq(event_loop_timer_count(loop), 0);
    tcp_server_free(server);
    test_close(fd);
    event_loop_free(loop);
}
END_TEST

/* --- another loop, another thread ------------------------------------------ */

struct remote_side {
    atomic_int ups, downs;
    struct tcp_client *client;
};

static void remote_connection(struct tcp_conn *conn, void *ctx)
{
    struct remote_side *r = ctx;
    atomic_fetch_add(tcp_conn_connected(conn) ? &r->ups : &r->downs, 1);
    if (!tcp_conn_connected(conn)) /* reconnect on down: after free, a no-op */
        ck_assert_int_eq(tcp_client_connect(r->client), 0);
}

static void wait_atomic(struct event_loop *loop, atomic_int *counter,
                        int target)
{
    int64_t deadline = timestamp_mono_us() + (int64_t)TIMEOUT_MS * 1000;
    while (atomic_load(counter) < target) {
        ck_assert_msg(timestamp_mono_us() < deadline,
                      "timed out at %d of %d", atomic_load(counter), target);
        run_loop_for(loop, 1000); /* serve meanwhile */
    }
}

START_TEST(free_from_another_thread_waits_for_the_clients_loop)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct inet_address addr;
    struct tcp_server *server = echo_server(loop, &s, &addr);
    struct event_loop_thread *t = event_loop_thread_new(NULL, NULL);
    ck_assert_ptr_nonnull(t);
    struct remote_side r = {0};
    struct tcp_callbacks cb = {.on_connection = remote_connection, .ctx = &r};
    /* Connected, in the other loop. */
    struct tcp_client *client =
        tcp_client_new(event_loop_thread_loop(t), &addr, "remote");
    ck_assert_ptr_nonnull(client);
    r.client = client;
    tcp_client_set_callbacks(client, &cb);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    wait_atomic(loop, &r.ups, 1);
    tcp_client_free(client);
    /* The connection went down in its loop before free returned. */
    ck_assert_int_eq(atomic_load(&r.downs), 1);
    run_loop_until(loop, &s.downs, 1, TIMEOUT_MS);
    /* Waiting to retry, in the other loop. */
    struct inet_address refused;
    int fd = bound_socket(&refused, false);
    client = tcp_client_new(event_loop_thread_loop(t), &refused, "remote");
    ck_assert_ptr_nonnull(client);
    tcp_client_set_callbacks(client, &cb);
    ck_assert_int_eq(tcp_client_set_retry_delays(client, INITIAL_US, MAX_US),
                     0);
    ck_assert_int_eq(tcp_client_connect(client), 0);
    usleep(3 * INITIAL_US);
    tcp_client_free(client);
    event_loop_thread_free(t);
    ck_assert_int_eq(atomic_load(&r.ups), 1);
    test_close(fd);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

/* --- a crowd over a loop pool ---------------------------------------------- */

struct crowd_member {
    struct tcp_client *client;
    unsigned seed;
    size_t received;
    bool echo_ok;
    atomic_bool done; /* went down: the base loop may free it */
};

static void member_connection(struct tcp_conn *conn, void *ctx)
{
    struct crowd_member *m = ctx;
    if (tcp_conn_connected(conn)) {
        char block[CROWD_BLOCK];
        fill_pattern(block, sizeof block, m->seed);
        if (tcp_conn_send(conn, block, sizeof block) != 0)
            m->echo_ok = false;
    } else {
        atomic_store(&m->done, true);
    }
}

static void member_message(struct tcp_conn *conn, struct buffer *input,
                           int64_t receive_time_us, void *ctx)
{
    struct crowd_member *m = ctx;
    (void)receive_time_us;
    char block[CROWD_BLOCK];
    fill_pattern(block, sizeof block, m->seed);
    size_t n = buffer_readable(input);
    if (m->received + n > sizeof block ||
        memcmp(buffer_peek(input), block + m->received, n) != 0)
        m->echo_ok = false;
    m->received += n;
    buffer_retrieve_all(input);
    if (m->received >= sizeof block)
        tcp_conn_shutdown(conn); /* the server closes after our FIN */
}

struct crowd {
    struct crowd_member members[CROWD];
    struct event_loop_pool *pool;
    struct inet_address server;
    int started, finished;
};

/* Base loop: frees the members that are done and starts new ones, at
 * most CROWD_IN_FLIGHT at a time. */
static void crowd_tick(struct event_loop *loop, uint64_t id, void *ctx)
{
    struct crowd *crowd = ctx;
    (void)loop;
    (void)id;
    for (int i = 0; i < crowd->started; i++) {
        struct crowd_member *m = &crowd->members[i];
        if (m->client != NULL && atomic_load(&m->done)) {
            tcp_client_free(m->client); /* waits for the member's loop */
            m->client = NULL;
            crowd->finished++;
        }
    }
    while (crowd->started < CROWD &&
           crowd->started - crowd->finished < CROWD_IN_FLIGHT) {
        struct crowd_member *m = &crowd->members[crowd->started];
        m->seed = (unsigned)crowd->started;
        m->echo_ok = true;
        m->client = tcp_client_new(event_loop_pool_next(crowd->pool),
                                   &crowd->server, "crowd");
        ck_assert_ptr_nonnull(m->client);
        struct tcp_callbacks cb = {.on_connection = member_connection,
                                   .on_message = member_message,
                                   .ctx = m};
        tcp_client_set_callbacks(m->client, &cb);
        ck_assert_int_eq(tcp_client_connect(m->client), 0);
        crowd->started++;
    }
}

START_TEST(a_thousand_clients_over_a_loop_pool)
{
    struct event_loop *loop = new_loop();
    struct server_side s = {0};
    struct crowd *crowd = calloc(1, sizeof *crowd);
    ck_assert_ptr_nonnull(crowd);
    struct tcp_server *server = echo_server(loop, &s, &crowd->server);
    crowd->pool = event_loop_pool_new(loop);
    ck_assert_ptr_nonnull(crowd->pool);
    ck_assert_int_eq(
        event_loop_pool_start(crowd->pool, CROWD_THREADS, NULL, NULL), 0);
    uint64_t tick = event_loop_run_every(loop, 1000, crowd_tick, crowd);
    ck_assert_uint_ne(tick, 0);
    run_loop_until(loop, &crowd->finished, CROWD, TIMEOUT_MS * 3);
    event_loop_cancel_timer(loop, tick);
    run_loop_until(loop, &s.downs, CROWD, TIMEOUT_MS);
    for (int i = 0; i < CROWD; i++) {
        ck_assert_msg(crowd->members[i].echo_ok, "client %d: bad echo", i);
        ck_assert_uint_eq(crowd->members[i].received, CROWD_BLOCK);
    }
    ck_assert_int_eq(s.ups, CROWD);
    ck_assert_uint_eq(s.bytes, (size_t)CROWD * CROWD_BLOCK);
    ck_assert_uint_eq(tcp_server_connection_count(server), 0);
    event_loop_pool_free(crowd->pool);
    free(crowd);
    tcp_server_free(server);
    event_loop_free(loop);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch05 tcp client");
    TCase *tc = tcase_create("tcp_client");
    tcase_add_fd_guard(tc);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, disconnect_flushes_output_and_ends_the_retries);
    tcase_add_test(tc, reconnects_after_the_server_closes);
    tcase_add_test(tc, no_reconnection_unless_asked);
    tcase_add_test(tc, connect_during_a_disconnect_connects_again_after_it);
    tcase_add_test(tc, stop_ends_connecting_until_the_next_connect);
    tcase_add_test(tc, errors_that_retrying_cannot_cure_reach_the_user);
    tcase_add_test(tc, a_self_connect_is_never_a_connection);
    tcase_add_test(tc, free_in_every_state_leaves_nothing_behind);
    tcase_add_test(tc, free_from_another_thread_waits_for_the_clients_loop);
    tcase_add_test(tc, a_thousand_clients_over_a_loop_pool);
    suite_add_tcase(s, tc);
    return s;
}
