#include "net/sockets.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int result(int rc)
{
    return rc < 0 ? -errno : rc;
}

int sockets_create_nonblocking(int family)
{
    return result(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         IPPROTO_TCP));
}

int sockets_bind(int fd, const struct inet_address *addr)
{
    socklen_t len;
    const struct sockaddr *sa = inet_address_sockaddr(addr, &len);
    return result(bind(fd, sa, len));
}

int sockets_listen(int fd)
{
    return result(listen(fd, SOMAXCONN));
}

int sockets_accept(int fd, struct inet_address *peer)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int conn = accept4(fd, (struct sockaddr *)&ss, &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0)
        return -errno;
    if (peer != NULL)
        (void)inet_address_from_sockaddr(peer, (struct sockaddr *)&ss, len);
    return conn;
}

int sockets_connect(int fd, const struct inet_address *addr)
{
    socklen_t len;
    const struct sockaddr *sa = inet_address_sockaddr(addr, &len);
    return result(connect(fd, sa, len));
}

int sockets_shutdown_write(int fd)
{
    return result(shutdown(fd, SHUT_WR));
}

static int set_flag(int fd, int level, int name, bool on)
{
    int value = on ? 1 : 0;
    return result(setsockopt(fd, level, name, &value, sizeof value));
}

int sockets_set_reuse_addr(int fd, bool on)
{
    return set_flag(fd, SOL_SOCKET, SO_REUSEADDR, on);
}

int sockets_set_reuse_port(int fd, bool on)
{
    return set_flag(fd, SOL_SOCKET, SO_REUSEPORT, on);
}

int sockets_set_tcp_nodelay(int fd, bool on)
{
    return set_flag(fd, IPPROTO_TCP, TCP_NODELAY, on);
}

int sockets_set_keepalive(int fd, bool on)
{
    return set_flag(fd, SOL_SOCKET, SO_KEEPALIVE, on);
}

int sockets_get_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

int sockets_local_address(int fd, struct inet_address *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return inet_address_from_sockaddr(addr, (struct sockaddr *)&ss, len);
}

int sockets_peer_address(int fd, struct inet_address *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return inet_address_from_sockaddr(addr, (struct sockaddr *)&ss, len);
}

bool sockets_is_self_connect(int fd)
{
    struct inet_address local, peer;
    if (sockets_local_address(fd, &local) != 0 ||
        sockets_peer_address(fd, &peer) != 0)
        return false;
    return inet_address_equal(&local, &peer);
}
