/* A reference answer to exercise 04.4 (exercises/ch04/README.md).
 *
 * Each I/O loop keeps a room: the list of its own connections, touched
 * in its thread only. A line becomes one message, shared by every room
 * and counted by reference; a functor queued to each loop sends it to
 * that loop's room, and the last room to be done frees it. No thread
 * ever reads another thread's list; what is locked on the way is the
 * loops' queues, and the gate that keeps a line from a loop that is
 * being freed. A sender's lines keep their order because one thread
 * queues them all, and a loop runs one thread's functors in the order
 * they were queued. */
#include "broadcast_server.h"

#include "base/list.h"
#include "net/buffer.h"
#include "net/event_loop.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char welcome[] = "welcome\n";

/* The connections of one loop. */
struct room {
    /* Set in the loop's thread by the thread init callback, before
     * tcp_server_start() returns; immutable after (the start waits for
     * each thread, and every later reader is reached through a queue). */
    struct event_loop *loop;
    struct list_node members; /* of struct member; loop thread only */
};

/* A connection in its loop's room, from its up callback to its down
 * callback, both in that loop's thread. It holds no reference: the
 * connection cannot go before its down callback has unlinked it. */
struct member {
    struct list_node node;
    struct tcp_conn *conn;
};

/* One broadcast line, shared by the rooms it was queued to: each drops
 * its reference when done, in its own thread, and the last one frees. */
struct message {
    struct broadcast_server *server;
    atomic_int refs;
    size_t len;
    char bytes[]; /* the line and its '\n' */
};

struct broadcast_server {
    struct tcp_server *tcp;
    int nrooms;
    struct room *rooms;
    atomic_int registered; /* rooms whose loop is known */

    /* Messages are queued to the loops under the gate, and
     * broadcast_server_free() closes it before it stops the loops: a
     * loop that is being freed (or already is) gets nothing more. The
     * gate's lock is taken before a loop's mutex, never after. */
    pthread_mutex_t gate;
    bool closing;
};

static struct room *room_of(struct broadcast_server *s,
                            const struct event_loop *loop)
{
    for (int i = 0; i < s->nrooms; i++)
        if (s->rooms[i].loop == loop)
            return &s->rooms[i];
    return NULL;
}

static void message_unref(struct message *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

/* In a room's loop. A send that fails closes only that connection (its
 * down callback unlinks it: hence the _safe walk). */
static void deliver(struct event_loop *loop, void *ctx)
{
    struct message *m = ctx;
    struct room *room = room_of(m->server, loop);
    if (room != NULL) {
        struct list_node *node, *next;
        list_for_each_safe(node, next, &room->members)
        {
            struct member *mb = container_of(node, struct member, node);
            (void)tcp_conn_send(mb->conn, m->bytes, m->len);
        }
    }
    message_unref(m);
}

/* Queues @p len bytes (a line and its '\n') to every room.
 * @return 0, -ENOMEM or -ESHUTDOWN (the rooms that could not take it
 * miss the line). */
static int broadcast(struct broadcast_server *s, const char *bytes, size_t len)
{
    struct message *m = malloc(sizeof *m + len);
    if (m == NULL)
        return -ENOMEM;
    m->server = s;
    m->len = len;
    memcpy(m->bytes, bytes, len);
    /* One reference per room, all taken before the first queue (a room
     * may be done with it before the next one is even asked), and one
     * for this thread while it hands the message out. */
    atomic_init(&m->refs, s->nrooms + 1);
    int result = 0, missed = 0;
    pthread_mutex_lock(&s->gate);
    for (int i = 0; i < s->nrooms; i++) {
        int err = s->closing ? -ESHUTDOWN
                             : event_loop_queue(s->rooms[i].loop, deliver, m);
        if (err != 0) {
            if (result == 0)
                result = err;
            missed++;
        }
    }
    pthread_mutex_unlock(&s->gate);
    /* Ours, and those of the rooms that did not take it, at once. */
    if (atomic_fetch_sub(&m->refs, missed + 1) == missed + 1)
        free(m);
    return result;
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct broadcast_server *s = ctx;
    (void)receive_time_us;
    const char *eol;
    while ((eol = buffer_find_eol(input)) != NULL) {
        size_t len = (size_t)(eol - buffer_peek(input)) + 1;
        if (len - 1 > BROADCAST_LINE_MAX)
            break;
        /* A line that cannot be handed over is lost; the server goes on
         * (out of memory, or it is closing). */
        (void)broadcast(s, buffer_peek(input), len);
        buffer_retrieve(input, len);
    }
    if (buffer_readable(input) > BROADCAST_LINE_MAX) {
        buffer_retrieve_all(input);
        tcp_conn_force_close(conn);
    }
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    struct broadcast_server *s = ctx;
    if (!tcp_conn_connected(conn)) {
        struct member *mb = tcp_conn_context(conn);
        if (mb != NULL) {
            list_remove(&mb->node);
            free(mb);
            tcp_conn_set_context(conn, NULL);
        }
        return;
    }
    struct room *room = room_of(s, tcp_conn_loop(conn));
    struct member *mb = malloc(sizeof *mb);
    if (room == NULL || mb == NULL) { /* no room: cannot happen */
        free(mb);
        tcp_conn_force_close(conn);
        return;
    }
    mb->conn = conn;
    list_push_back(&room->members, &mb->node);
    tcp_conn_set_context(conn, mb);
    /* After joining: every line queued to this loop from now on, which
     * is every line sent after this welcome, finds it in the room. */
    (void)tcp_conn_send(conn, welcome, sizeof welcome - 1);
}

/* In each I/O thread as it starts. */
static void register_room(struct event_loop *loop, void *ctx)
{
    struct broadcast_server *s = ctx;
    int i = atomic_fetch_add(&s->registered, 1);
    if (i < s->nrooms)
        s->rooms[i].loop = loop;
}

struct broadcast_server *
broadcast_server_new(struct event_loop *loop,
                     const struct inet_address *listen_addr, int io_threads)
{
    if (io_threads < 1 || io_threads > BROADCAST_MAX_IO_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    struct broadcast_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->nrooms = io_threads;
    s->rooms = calloc((size_t)s->nrooms, sizeof *s->rooms);
    if (s->rooms == NULL) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    for (int i = 0; i < s->nrooms; i++)
        list_init(&s->rooms[i].members);
    s->tcp = tcp_server_new(loop, listen_addr, "broadcast", 0);
    if (s->tcp == NULL) {
        int err = errno;
        free(s->rooms);
        free(s);
        errno = err;
        return NULL;
    }
    pthread_mutex_init(&s->gate, NULL);
    struct tcp_callbacks cb = {
        .on_connection = on_connection, .on_message = on_message, .ctx = s};
    tcp_server_set_callbacks(s->tcp, &cb);
    tcp_server_set_thread_count(s->tcp, io_threads);
    tcp_server_set_thread_init(s->tcp, register_room, s);
    return s;
}

int broadcast_server_start(struct broadcast_server *server)
{
    return tcp_server_start(server->tcp);
}

int broadcast_server_listen_address(const struct broadcast_server *server,
                                    struct inet_address *addr)
{
    return tcp_server_listen_address(server->tcp, addr);
}

int broadcast_server_send(struct broadcast_server *server, const char *line,
                          size_t len)
{
    char bytes[BROADCAST_LINE_MAX + 1];
    if (len > BROADCAST_LINE_MAX || memchr(line, '\n', len) != NULL)
        return -EINVAL;
    memcpy(bytes, line, len);
    bytes[len] = '\n';
    return broadcast(server, bytes, len + 1);
}

size_t broadcast_server_connection_count(const struct broadcast_server *server)
{
    return tcp_server_connection_count(server->tcp);
}

void broadcast_server_free(struct broadcast_server *server)
{
    if (server == NULL)
        return;
    pthread_mutex_lock(&server->gate);
    server->closing = true;
    pthread_mutex_unlock(&server->gate);
    /* Joins the I/O threads. What their loops still hold runs as they
     * stop: messages (sent to the members still there) and the
     * connections' destructions, whose down callbacks empty the rooms. */
    tcp_server_free(server->tcp);
    pthread_mutex_destroy(&server->gate);
    free(server->rooms);
    free(server);
}
