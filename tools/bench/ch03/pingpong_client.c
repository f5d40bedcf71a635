/*
 * pingpong_client: muduo's pingpong benchmark client, on bare epoll, shared
 * by every server measured (so the client costs the same for all).
 *
 * S sessions connect to 127.0.0.1:PORT; each sends one block of B bytes,
 * then sends back whatever it reads. After T seconds it prints the
 * throughput: bytes read by all sessions / T, in MiB/s.
 *
 *   pingpong_client -p PORT -s SESSIONS -b BLOCK -t SECONDS
 */
#include "../bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536

struct session {
    int fd;
    char *pending; /* bytes read but not yet written back */
    size_t pending_len;
    size_t pending_off;
};

static char block_buf[1 << 20];

static void die(const char *what)
{
    fprintf(stderr, "pingpong_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Writes the session's pending bytes; true when all are out. */
static int flush_pending(struct session *s)
{
    while (s->pending_off < s->pending_len) {
        ssize_t n = write(s->fd, s->pending + s->pending_off,
                          s->pending_len - s->pending_off);
        if (n < 0) {
            if (errno == EAGAIN)
                return 0;
            die("write");
        }
        s->pending_off += (size_t)n;
    }
    s->pending_len = s->pending_off = 0;
    return 1;
}

int main(int argc, char **argv)
{
    long port = 0, sessions = 1, block = 4096, seconds = 3;
    int opt;
    while ((opt = getopt(argc, argv, "p:s:b:t:")) != -1) {
        switch (opt) {
        case 'p': port = bench_arg(optarg, "-p", 1); break;
        case 's': sessions = bench_arg(optarg, "-s", 1); break;
        case 'b': block = bench_arg(optarg, "-b", 1); break;
        case 't': seconds = bench_arg(optarg, "-t", 1); break;
        default:
            fprintf(stderr, "usage: pingpong_client -p PORT -s SESSIONS "
                            "-b BLOCK -t SECONDS\n");
            return 2;
        }
    }
    if (port == 0 || block > (long)sizeof block_buf) {
        fprintf(stderr, "pingpong_client: need -p, and -b <= 1 MiB\n");
        return 2;
    }
    bench_raise_fd_limit();
    bench_ignore_sigpipe();
    for (long i = 0; i < block; i++)
        block_buf[i] = (char)(i % 128);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct session *ss = calloc((size_t)sessions, sizeof *ss);
    if (ep < 0 || ss == NULL)
        die("setup");
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (long i = 0; i < sessions; i++) {
        struct session *s = &ss[i];
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&addr,
                                 sizeof addr) != 0)
            die("connect");
        int one = 1;
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK) != 0)
            die("fcntl");
        s->pending = malloc(READ_SIZE > block ? READ_SIZE : (size_t)block);
        if (s->pending == NULL)
            die("malloc");
        memcpy(s->pending, block_buf, (size_t)block);
        s->pending_len = (size_t)block;
        /* Watch for writability only while output is pending, and for
         * input only while none is: no spinning on either. */
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
            die("epoll_ctl");
    }
    struct epoll_event events[1024];
    uint64_t bytes_read = 0;
    double start = bench_now_us(), end = start + (double)seconds * 1e6;
    while (bench_now_us() < end) {
        int n = epoll_wait(ep, events, 1024, 100);
        for (int i = 0; i < n; i++) {
            struct session *s = events[i].data.ptr;
            if ((events[i].events & EPOLLOUT) && s->pending_len > 0 &&
                flush_pending(s)) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            }
            if (!(events[i].events & EPOLLIN) || s->pending_len > 0)
                continue;
            ssize_t r = read(s->fd, s->pending, READ_SIZE);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fprintf(stderr, "pingpong_client: server closed\n");
                return 1;
            }
            bytes_read += (uint64_t)r;
            s->pending_len = (size_t)r;
            if (!flush_pending(s)) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            }
        }
    }
    double elapsed = (bench_now_us() - start) / 1e6;
    printf("%.1f\n", (double)bytes_read / elapsed / (1024.0 * 1024.0));
    for (long i = 0; i < sessions; i++) {
        close(ss[i].fd);
        free(ss[i].pending);
    }
    free(ss);
    close(ep);
    return 0;
}
