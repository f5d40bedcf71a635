/*
 * echo_libevent: an echo server on libevent 2.1 bufferevents, the way its
 * documentation shows: the read callback moves the input evbuffer into the
 * output evbuffer.
 *
 *   echo_libevent PORT
 */
#include "../bench_util.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

static void on_read(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *ctx)
{
    (void)ctx;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                      struct sockaddr *sa, int len, void *ctx)
{
    (void)listener;
    (void)sa;
    (void)len;
    struct event_base *base = ctx;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent *bev =
        bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: echo_libevent PORT\n");
        return 2;
    }
    long port = bench_arg(argv[1], "PORT", 1);
    bench_raise_fd_limit();
    bench_ignore_sigpipe();
    struct event_base *base = event_base_new();
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct evconnlistener *listener = evconnlistener_new_bind(
        base, on_accept, base, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, -1,
        (struct sockaddr *)&addr, sizeof addr);
    if (listener == NULL) {
        fprintf(stderr, "echo_libevent: cannot listen on %ld\n", port);
        return 1;
    }
    return event_base_dispatch(base);
}
