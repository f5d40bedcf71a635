/* A reference answer to exercise 04.3 (exercises/ch04/README.md).
 *
 * Each I/O loop owns a shard: the counts its connections added, touched
 * in its thread only, so an add takes no lock. A get is a baton passed
 * from loop to loop: it reads its own loop's shard at once, then visits
 * the other shards one after another, each in its own thread, and the
 * last one sends the reply. Only one thread holds the baton at a time,
 * so the sum needs no atomics (each hand-over goes through a loop's
 * queue, whose mutex orders the writes). And since the functors one
 * thread queues to a loop run in the order it queued them, every get of
 * one connection follows the one before it along the same path: the
 * replies come out in order without anyone sorting them. */
#include "counter_server.h"

#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char key[COUNTER_KEY_MAX + 1];
    uint64_t count; /* unsigned: totals wrap instead of overflowing */
};

/* One loop's counts: written and read in that loop's thread only. */
struct shard {
    /* Set in the loop's thread by the thread init callback, before
     * tcp_server_start() returns; immutable after. The start waits for
     * each thread (a latch), and every later user is reached through a
     * queue, so these writes are ordered before every read. */
    struct event_loop *loop;
    int nkeys;
    struct entry entries[COUNTER_MAX_KEYS];
};

struct counter_server {
    struct tcp_server *tcp;
    int nshards;
    struct shard *shards;
    atomic_int registered; /* shards whose loop is known */
    atomic_uint_fast64_t dropped_adds;

    /* A visit is queued to another loop under the gate, and
     * counter_server_free() closes the gate before it stops the loops: a
     * loop that is being freed (or already is) gets nothing more. The
     * gate's lock is taken before a loop's mutex, never after. */
    pthread_mutex_t gate;
    bool closing;
};

/* A get on its way through the shards: owned by whichever thread runs
 * it now, and it holds a reference to the connection that asked. */
struct gather {
    struct counter_server *server;
    struct tcp_conn *conn;
    int own;  /* the shard of the asking connection, read first */
    int next; /* the next shard to visit; nshards: done */
    uint64_t sum;
    char key[COUNTER_KEY_MAX + 1];
};

static struct entry *find(struct shard *shard, const char *key)
{
    for (int i = 0; i < shard->nkeys; i++)
        if (strcmp(shard->entries[i].key, key) == 0)
            return &shard->entries[i];
    return NULL;
}

static uint64_t count_of(struct shard *shard, const char *key)
{
    struct entry *e = find(shard, key);
    return e != NULL ? e->count : 0;
}

static void skip_own(struct gather *g)
{
    if (g->next == g->own)
        g->next++;
}

static void gather_free(struct gather *g)
{
    tcp_conn_unref(g->conn);
    free(g);
}

static void visit(struct event_loop *loop, void *ctx);

/* Hands the baton on: to the next shard's loop, or, when every shard
 * has been read, to the connection as the reply. Nothing crosses into
 * another loop once the server is closing. */
static void pass_on(struct gather *g)
{
    struct counter_server *s = g->server;
    int err = 0;
    bool done = false;
    pthread_mutex_lock(&s->gate);
    if (s->closing) {
        err = -ESHUTDOWN;
    } else if (g->next < s->nshards) {
        err = event_loop_queue(s->shards[g->next].loop, visit, g);
    } else {
        /* From the last shard's thread, as every get of this
         * connection: one thread's sends keep their order. */
        char reply[32];
        int n = snprintf(reply, sizeof reply, "%" PRId64 "\n", (int64_t)g->sum);
        (void)tcp_conn_send(g->conn, reply, (size_t)n);
        done = true;
    }
    pthread_mutex_unlock(&s->gate);
    if (err != 0 || done)
        gather_free(g); /* a get that cannot go on is dropped */
}

static void visit(struct event_loop *loop, void *ctx)
{
    struct gather *g = ctx;
    (void)loop;
    g->sum += count_of(&g->server->shards[g->next], g->key);
    g->next++;
    skip_own(g);
    pass_on(g);
}

/* In the connection's loop. Its own shard is read now, not in a visit
 * queued for later: an add that follows in the same input must not be
 * counted. @return 0, or -ENOMEM (the connection must close: a get that
 * is not answered would shift every later reply). */
static int start_get(struct counter_server *s, struct tcp_conn *conn,
                     const char *key)
{
    struct shard *own = tcp_conn_context(conn);
    struct gather *g = malloc(sizeof *g);
    if (g == NULL)
        return -ENOMEM;
    tcp_conn_ref(conn); /* the connection may close while g travels */
    *g = (struct gather){.server = s,
                         .conn = conn,
                         .own = (int)(own - s->shards),
                         .next = 0,
                         .sum = count_of(own, key)};
    snprintf(g->key, sizeof g->key, "%s", key);
    skip_own(g);
    pass_on(g);
    return 0;
}

static void add(struct counter_server *s, struct shard *shard, const char *key,
                int64_t delta)
{
    struct entry *e = find(shard, key);
    if (e == NULL) {
        if (shard->nkeys == COUNTER_MAX_KEYS) {
            atomic_fetch_add(&s->dropped_adds, 1);
            return;
        }
        e = &shard->entries[shard->nkeys++];
        snprintf(e->key, sizeof e->key, "%s", key);
        e->count = 0;
    }
    e->count += (uint64_t)delta;
}

static bool valid_key(const char *key)
{
    size_t len = strlen(key);
    return len > 0 && len <= COUNTER_KEY_MAX;
}

/* @return false when the line is not a command. */
static bool parse_delta(const char *text, int64_t *delta)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v > COUNTER_MAX_DELTA ||
        v < -COUNTER_MAX_DELTA)
        return false;
    *delta = v;
    return true;
}

/* One line, without its '\n'. @return false: close the connection. */
static bool handle_line(struct counter_server *s, struct tcp_conn *conn,
                        const char *line, size_t len)
{
    char text[COUNTER_LINE_MAX + 1];
    if (len > COUNTER_LINE_MAX || memchr(line, '\0', len) != NULL)
        return false;
    memcpy(text, line, len);
    text[len] = '\0';
    char *save, *words[4];
    int n = 0;
    for (char *w = strtok_r(text, " ", &save); w != NULL && n < 4;
         w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    if (n == 3 && strcmp(words[0], "add") == 0 && valid_key(words[1])) {
        int64_t delta;
        if (!parse_delta(words[2], &delta))
            return false;
        add(s, tcp_conn_context(conn), words[1], delta);
        return true;
    }
    if (n == 2 && strcmp(words[0], "get") == 0 && valid_key(words[1]))
        return start_get(s, conn, words[1]) == 0;
    return false;
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct counter_server *s = ctx;
    (void)receive_time_us;
    const char *eol;
    while ((eol = buffer_find_eol(input)) != NULL) {
        size_t len = (size_t)(eol - buffer_peek(input));
        if (!handle_line(s, conn, buffer_peek(input), len)) {
            buffer_retrieve_all(input);
            tcp_conn_force_close(conn);
            return;
        }
        buffer_retrieve(input, len + 1);
    }
    if (buffer_readable(input) > COUNTER_LINE_MAX) {
        buffer_retrieve_all(input);
        tcp_conn_force_close(conn);
    }
}

/* Up: the connection's shard is its loop's, found once. */
static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct counter_server *s = ctx;
    if (!tcp_conn_connected(conn))
        return;
    struct shard *mine = NULL;
    for (int i = 0; i < s->nshards && mine == NULL; i++)
        if (s->shards[i].loop == tcp_conn_loop(conn))
            mine = &s->shards[i];
    if (mine == NULL) { /* cannot happen: every loop has a shard */
        tcp_conn_force_close(conn);
        return;
    }
    tcp_conn_set_context(conn, mine);
}

/* In each I/O thread as it starts. */
static void register_shard(struct event_loop *loop, void *ctx)
{
    struct counter_server *s = ctx;
    int i = atomic_fetch_add(&s->registered, 1);
    if (i < s->nshards)
        s->shards[i].loop = loop;
}

struct counter_server *
counter_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr, int io_threads)
{
    if (io_threads < 1 || io_threads > COUNTER_MAX_IO_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    struct counter_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->nshards = io_threads;
    s->shards = calloc((size_t)s->nshards, sizeof *s->shards);
    if (s->shards == NULL) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->tcp = tcp_server_new(loop, listen_addr, "counter", 0);
    if (s->tcp == NULL) {
        int err = errno;
        free(s->shards);
        free(s);
        errno = err;
        return NULL;
    }
    pthread_mutex_init(&s->gate, NULL);
    struct tcp_callbacks cb = {
        .on_connection = on_connection, .on_message = on_message, .ctx = s};
    tcp_server_set_callbacks(s->tcp, &cb);
    tcp_server_set_thread_count(s->tcp, io_threads);
    tcp_server_set_thread_init(s->tcp, register_shard, s);
    return s;
}

int counter_server_start(struct counter_server *server)
{
    return tcp_server_start(server->tcp);
}

int counter_server_listen_address(const struct counter_server *server,
                                  struct inet_address *addr)
{
    return tcp_server_listen_address(server->tcp, addr);
}

uint64_t counter_server_dropped_adds(const struct counter_server *server)
{
    return atomic_load(&server->dropped_adds);
}

void counter_server_free(struct counter_server *server)
{
    if (server == NULL)
        return;
    pthread_mutex_lock(&server->gate);
    server->closing = true;
    pthread_mutex_unlock(&server->gate);
    /* Joins the I/O threads. What their loops still hold runs as they
     * stop: visits, which find the gate closed and drop their gets, and
     * the connections' destructions. */
    tcp_server_free(server->tcp);
    pthread_mutex_destroy(&server->gate);
    free(server->shards);
    free(server);
}
