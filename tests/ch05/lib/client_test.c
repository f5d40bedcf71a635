#include "client_test.h"

#include "test_support.h"

#include "net/sockets.h"

#include <sys/socket.h>

int bound_socket(struct inet_address *addr, bool listening)
{
    int fd = sockets_create_nonblocking(AF_INET);
    ck_assert_int_ge(fd, 0);
    inet_address_loopback(addr, 0, false);
    ck_assert_int_eq(sockets_bind(fd, addr), 0);
    ck_assert_int_eq(sockets_local_address(fd, addr), 0);
    if (listening)
        ck_assert_int_eq(sockets_listen(fd), 0);
    return fd;
}

static void quit_loop(struct event_loop *loop, uint64_t id, void *ctx)
{
    (void)id;
    (void)ctx;
    event_loop_quit(loop);
}

void run_loop_for(struct event_loop *loop, int64_t us)
{
    ck_assert_uint_ne(event_loop_run_after(loop, us, quit_loop, NULL), 0);
    ck_assert_int_eq(event_loop_run(loop), 0);
}
