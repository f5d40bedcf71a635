/* Exercise 03.4: a chat room that drops the members who do not read.
 * See exercises/ch03/README.md, 03.4.
 *
 * This file compiles and does nothing yet: chat_room_new() fails with
 * ENOSYS. */
#include "chat_room.h"

#include "base/list.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <stdlib.h>

struct chat_room {
    struct event_loop *loop;
    struct tcp_server *server;
    size_t max_queued;
    /* TODO (README 03.4): the members, reachable from any member's
     * message callback, and the counts. */
};

struct chat_room *chat_room_new(struct event_loop *loop,
                                const struct inet_address *listen_addr,
                                size_t max_queued)
{
    (void)loop;
    (void)listen_addr;
    (void)max_queued;
    /* TODO (README 03.4): check max_queued (EINVAL); create the
     * tcp_server: the up callback adds a member, the down callback takes
     * it away, the message callback sends each complete line to the
     * others and drops those that do not keep up. */
    errno = ENOSYS;
    return NULL;
}

int chat_room_start(struct chat_room *room)
{
    (void)room;
    return -ENOSYS; /* TODO (README 03.4) */
}

int chat_room_listen_address(const struct chat_room *room,
                             struct inet_address *addr)
{
    (void)room;
    (void)addr;
    return -ENOSYS; /* TODO (README 03.4) */
}

size_t chat_room_members(const struct chat_room *room)
{
    (void)room;
    return 0; /* TODO (README 03.4) */
}

uint64_t chat_room_dropped(const struct chat_room *room)
{
    (void)room;
    return 0; /* TODO (README 03.4) */
}

void chat_room_free(struct chat_room *room)
{
    /* TODO (README 03.4): as 03.1's line_server_free(). */
    free(room);
}
