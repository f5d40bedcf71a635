/* Exercise 03.4, a reference answer: a chat room that drops the members
 * who do not read.
 *
 * The room keeps its own list of members, because it must reach all of
 * them from any one member's message callback: pointers kept beyond a
 * callback, so each member holds a reference to its connection, from its
 * up callback to its down callback. The down callback is the one place
 * where a member leaves the list, whatever ended its connection: its
 * client, a drop for being slow, a line too long, or the room's free.
 *
 * A send may run the down callback of the member it sends to before it
 * returns, in one case: tcp_conn_force_close() closes at once when it
 * cannot queue the close (no memory), and a send that cannot queue its
 * bytes force-closes. So the broadcast walks the list with a cursor that
 * survives the removal of the current member, and does not touch a
 * member after calling what may close it. */
#include "chat_room.h"

#include "base/list.h"
#include "base/log.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdlib.h>

struct chat_room {
    struct event_loop *loop;
    struct tcp_server *server;
    size_t max_queued;
    struct list_node members; /* of struct member, in arrival order */
    size_t member_count;
    uint64_t dropped;
};

/* The context of a member's connection, from its up to its down. */
struct member {
    struct tcp_conn *conn; /* a reference */
    struct list_node node; /* in room->members */
};

static void member_up(struct chat_room *room, struct tcp_conn *conn)
{
    struct member *m = calloc(1, sizeof *m);
    if (m == NULL) {
        log_error("%s: no memory for a member; closing", tcp_conn_name(conn));
        tcp_conn_force_close(conn);
        return;
    }
    tcp_conn_ref(conn);
    m->conn = conn;
    list_push_back(&room->members, &m->node);
    room->member_count++;
    tcp_conn_set_context(conn, m);
}

static void member_down(struct chat_room *room, struct tcp_conn *conn)
{
    struct member *m = tcp_conn_context(conn);
    if (m == NULL)
        return; /* never became a member (no memory) */
    tcp_conn_set_context(conn, NULL);
    list_remove(&m->node);
    room->member_count--;
    free(m);
    tcp_conn_unref(conn); /* may be the last: conn is gone after */
}

static void on_connection(struct tcp_conn *conn, void *ctx)
{
    if (tcp_conn_connected(conn))
        member_up(ctx, conn);
    else
        member_down(ctx, conn);
}

/* Sends one line to every member but its sender, dropping those who let
 * too much pile up. */
static void broadcast(struct chat_room *room, const struct member *sender,
                      const char *line, size_t len)
{
    struct list_node *pos, *next;
    list_for_each_safe(pos, next, &room->members) {
        struct member *m = container_of(pos, struct member, node);
        struct tcp_conn *conn = m->conn;
        /* A member being closed (dropped in an earlier round, or by a
         * line too long) stays listed until its down callback. */
        if (m == sender || !tcp_conn_connected(conn))
            continue;
        /* From here m may be freed (see the top); conn stays valid until
         * the server's table lets it go, after this batch. */
        if (tcp_conn_send(conn, line, len) == 0 &&
            tcp_conn_output_bytes(conn) > room->max_queued) {
            room->dropped++;
            log_warn("%s: %zu bytes unread; dropped", tcp_conn_name(conn),
                     tcp_conn_output_bytes(conn));
            tcp_conn_force_close(conn);
        }
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    struct chat_room *room = ctx;
    struct member *m = tcp_conn_context(conn);
    (void)receive_time_us;
    if (m == NULL || !tcp_conn_connected(conn)) {
        buffer_retrieve_all(input);
        return;
    }
    for (;;) {
        const char *line = buffer_peek(input);
        const char *eol = buffer_find_eol(input);
        /* Without its "\n" yet, the line has at least one byte more. */
        size_t least = eol != NULL ? (size_t)(eol - line) + 1
                                   : buffer_readable(input) + 1;
        if (least > CHAT_ROOM_MAX_LINE) {
            buffer_retrieve_all(input);
            tcp_conn_force_close(conn); /* last: may free m */
            return;
        }
        if (eol == NULL)
            return; /* the rest of the line comes later */
        broadcast(room, m, line, least);
        buffer_retrieve(input, least);
    }
}

struct chat_room *chat_room_new(struct event_loop *loop,
                                const struct inet_address *listen_addr,
                                size_t max_queued)
{
    if (max_queued == 0)
        max_queued = CHAT_ROOM_MAX_QUEUED;
    if (max_queued < CHAT_ROOM_MAX_LINE) {
        errno = EINVAL;
        return NULL;
    }
    struct chat_room *room = calloc(1, sizeof *room);
    if (room == NULL)
        return NULL;
    room->loop = loop;
    room->max_queued = max_queued;
    list_init(&room->members);
    room->server = tcp_server_new(loop, listen_addr, "chat", 0);
    if (room->server == NULL) {
        int err = errno;
        free(room);
        errno = err;
        return NULL;
    }
    struct tcp_callbacks cb = {
        .on_connection = on_connection, .on_message = on_message,
        .ctx = room};
    tcp_server_set_callbacks(room->server, &cb);
    return room;
}

int chat_room_start(struct chat_room *room)
{
    return tcp_server_start(room->server);
}

int chat_room_listen_address(const struct chat_room *room,
                             struct inet_address *addr)
{
    return tcp_server_listen_address(room->server, addr);
}

size_t chat_room_members(const struct chat_room *room)
{
    return room->member_count;
}

uint64_t chat_room_dropped(const struct chat_room *room)
{
    return room->dropped;
}

static void free_later(struct event_loop *loop, void *ctx)
{
    struct chat_room *room = ctx;
    (void)loop;
    /* Every member's down callback has run: the destructions were queued
     * before this, and each runs its connection's down callback. */
    if (!list_empty(&room->members))
        log_error("chat room: freed with %zu members still listed",
                  room->member_count);
    free(room);
}

void chat_room_free(struct chat_room *room)
{
    if (room == NULL)
        return;
    /* The members leave the list in their down callbacks, which run from
     * the destruction that tcp_server_free() queues; until then a member
     * may still send a line. So the room is freed behind them. */
    tcp_server_free(room->server);
    room->server = NULL;
    if (event_loop_queue(room->loop, free_later, room) != 0)
        log_error("chat room: cannot defer its free; leaking %zu bytes",
                  sizeof *room);
}
