/*
 * proto_chat: a chat room written as a protocol (net/protocol.h). Each
 * message is a frame of the length-header codec (net/codec.h); every
 * complete frame a client sends is relayed to every connected client,
 * the sender included. Same wire format as chat_server.c, so that
 * chat_client works against either.
 *
 *   build/examples/proto_chat [port] [io_threads]
 *                                   (defaults 9000 and 0; port 0: any port)
 *
 * What the protocol style changes: data_received consumes every chunk it
 * gets, so a frame cut in two by TCP has to wait in the protocol's own
 * state (a buffer per member) until the rest arrives; with tcp_callbacks
 * it would simply stay in the connection's input buffer.
 *
 * With io_threads > 0 the members live in several loops: the room is
 * shared under a lock, and a member relays to the others from its own
 * thread (protocol_write and codec_send are thread-safe). That is safe
 * because a member leaves the room in connection_lost, under the same
 * lock: while the lock is held, every member in the list is alive. One
 * corner is not covered: with no memory even to queue the close of a
 * member whose send failed, that member's connection_lost would run at
 * once, inside the relay, and wait for the lock the relay holds.
 * chat_server.c relays from a copy of the room to avoid it; this file
 * keeps the simpler lock to show the protocol style, not that corner.
 */
#include "base/list.h"
#include "base/log.h"
#include "examples/args.h"
#include "examples/chat.h"
#include "examples/example_server.h"
#include "net/buffer.h"
#include "net/codec.h"
#include "net/event_loop_pool.h"
#include "net/protocol.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct chat_room {
    pthread_mutex_t mutex; /* guards members and count */
    struct list_node members;
    size_t count;
};

/* The per-connection state: the protocol's own, allocated and freed by
 * the adapter. */
struct chat_member {
    struct list_node link; /* in chat_room.members */
    struct protocol *p;
    struct buffer partial; /* input not yet a whole frame */
};

static void chat_made(struct protocol *p)
{
    struct chat_room *room = protocol_factory_ctx(p);
    struct chat_member *m = protocol_state(p);
    m->p = p;
    buffer_init(&m->partial);
    pthread_mutex_lock(&room->mutex);
    list_push_back(&room->members, &m->link);
    size_t count = ++room->count;
    pthread_mutex_unlock(&room->mutex);
    log_info("%s joined (%zu in the room)",
             tcp_conn_name(protocol_connection(p)), count);
}

static void relay(struct chat_room *room, const char *payload, size_t len)
{
    pthread_mutex_lock(&room->mutex);
    struct list_node *node;
    list_for_each(node, &room->members) {
        struct chat_member *m = container_of(node, struct chat_member, link);
        (void)codec_send(protocol_connection(m->p), payload, len);
    }
    pthread_mutex_unlock(&room->mutex);
}

static void chat_received(struct protocol *p, const void *data, size_t len)
{
    struct chat_room *room = protocol_factory_ctx(p);
    struct chat_member *m = protocol_state(p);
    if (buffer_append(&m->partial, data, len) != 0) {
        log_error("%s: no memory for input; closing",
                  tcp_conn_name(protocol_connection(p)));
        protocol_abort(p);
        return;
    }
    const char *payload;
    size_t n;
    int rc;
    while ((rc = codec_peek(&m->partial, 0, &payload, &n)) == 1) {
        relay(room, payload, n);
        codec_consume(&m->partial, n);
    }
    if (rc < 0) {
        /* A stream that is not our framing cannot be resynchronised. */
        log_warn("%s: %s; closing", tcp_conn_name(protocol_connection(p)),
                 codec_strerror(rc));
        protocol_abort(p);
    }
}

static void chat_lost(struct protocol *p)
{
    struct chat_room *room = protocol_factory_ctx(p);
    struct chat_member *m = protocol_state(p);
    pthread_mutex_lock(&room->mutex);
    list_remove(&m->link);
    size_t count = --room->count;
    pthread_mutex_unlock(&room->mutex);
    buffer_destroy(&m->partial);
    log_info("%s left (%zu in the room)",
             tcp_conn_name(protocol_connection(p)), count);
}

static const struct protocol_ops chat_ops = {
    .connection_made = chat_made,
    .data_received = chat_received,
    .connection_lost = chat_lost,
};

static void usage(FILE *out)
{
    fprintf(out, "usage: proto_chat [port] [io_threads]\n"
                 "  port        0-65535, default %d (0: any free port)\n"
                 "  io_threads  0-%d, default 0\n",
            CHAT_DEFAULT_PORT, EVENT_LOOP_POOL_MAX_THREADS);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    long port = CHAT_DEFAULT_PORT, threads = 0;
    if (argc > 3 || !arg_long(argc, argv, 1, 0, 65535, &port) ||
        !arg_long(argc, argv, 2, 0, EVENT_LOOP_POOL_MAX_THREADS, &threads)) {
        usage(stderr);
        return 2;
    }
    struct chat_room room = {.count = 0};
    pthread_mutex_init(&room.mutex, NULL);
    list_init(&room.members);
    const struct protocol_factory factory = {
        .ops = &chat_ops,
        .state_size = sizeof(struct chat_member),
        .ctx = &room,
    };
    struct example_server es;
    if (!example_server_open(&es, "proto_chat", port)) {
        pthread_mutex_destroy(&room.mutex);
        return 1;
    }
    protocol_server_attach(es.server, &factory);
    tcp_server_set_thread_count(es.server, (int)threads);
    int rc = example_server_run(&es);
    /* Every member's connection_lost has run once this returns: the
     * room and the factory may go. */
    example_server_close(&es);
    pthread_mutex_destroy(&room.mutex);
    return rc;
}
