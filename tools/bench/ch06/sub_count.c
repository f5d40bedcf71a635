/*
 * sub_count: the subscribing side of the broker benchmark, shared by every
 * server measured (so the subscribers cost the same for all). Bare epoll,
 * one thread, RESP2 as redis-server 7 and momd speak it.
 *
 *   sub_count -p PORT -n CONNECTIONS [-c CHANNELS] [-m PUBLISHES]
 *             [-x PREFIX] [-t SECONDS] [-q QUIET_MS]
 *
 * Opens CONNECTIONS connections to 127.0.0.1:PORT, CONNECT_BATCH at a time,
 * and subscribes connection i to channel i % CHANNELS, named PREFIX followed
 * by the channel's number in 12 digits: the names redis-benchmark
 * -r CHANNELS makes of PREFIX__rand_int__. When every subscription is
 * confirmed it prints "ready CONNECTIONS" and counts the `message` pushes
 * that arrive.
 *
 * PUBLISHES is what the publisher sends in all, so every connection of a
 * single channel expects that many, and with several channels (spread
 * evenly, CONNECTIONS a multiple of CHANNELS) the total expected is
 * PUBLISHES x CONNECTIONS / CHANNELS. It stops when all expected pushes
 * are in; or, once SIGUSR1 said that the publisher is done, when nothing
 * arrived for QUIET_MS (what is missing then is lost: a server that drops
 * a slow subscriber's connection or its pushes); or SECONDS after "ready"
 * at the latest. Then it prints one line:
 *
 *   DELIVERIES LOST ELAPSED_S DELIVERIES_PER_S DROPPED_CONNECTIONS
 *
 * ELAPSED_S runs from the first push to the last, so the publisher's own
 * start-up is not counted. LOST below zero means that more pushes came than
 * were published.
 */
#include "../bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNECTIONS 10000
#define MAX_CHANNELS 10000
#define MAX_PREFIX 64
#define MAX_SECONDS 600
#define DEFAULT_SECONDS 20
/* A broker that spills may pause while the kernel writes its dirty
 * pages back: a silence this long after the publisher is done means the
 * rest is not coming. */
#define DEFAULT_QUIET_MS 3000
/* Connections opened before waiting for their subscriptions: keeps the
 * server's accept queue short, so no handshake waits for a SYN retry. */
#define CONNECT_BATCH 100
#define SUBSCRIBE_TIMEOUT_S 10
#define READ_SIZE 65536
/* A header line: "*3", "$1024", ":1" and the like. */
#define LINE_MAX_LEN 32
/* Enough of a push's first element to tell "message" from "subscribe". */
#define KIND_LEN 16

enum parse_state { ST_HEADER, ST_BULK };

struct sub {
    int fd;
    long channel;
    bool open;
    bool connecting; /* the SUBSCRIBE goes out once connected */
    bool subscribed;
    enum parse_state state;
    char line[LINE_MAX_LEN + 1];
    size_t line_len;
    long long bulk_len; /* the current bulk string's length */
    long long bulk_off; /* bytes of it (and its CRLF) consumed */
    long long elems_left; /* elements of the current array still to come */
    long long elem;       /* the current element's index in its array */
    char kind[KIND_LEN];
    long long kind_len; /* length of the array's first bulk string */
};

static struct {
    struct sub *subs;
    int ep;
    const char *prefix;
    long subscribed;
    long dropped;
    uint64_t messages;
} g;

static volatile sig_atomic_t publisher_done;

static void on_usr1(int sig)
{
    (void)sig;
    publisher_done = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "sub_count: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drop(struct sub *s, const char *why)
{
    if (!s->open)
        return;
    if (why != NULL && g.dropped == 0)
        fprintf(stderr, "sub_count: dropping a connection: %s\n", why);
    epoll_ctl(g.ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->open = false;
    g.dropped++;
}

static void end_push(struct sub *s)
{
    if (s->kind_len == 7 && memcmp(s->kind, "message", 7) == 0) {
        g.messages++;
    } else if (s->kind_len == 9 && memcmp(s->kind, "subscribe", 9) == 0 &&
               !s->subscribed) {
        s->subscribed = true;
        g.subscribed++;
    }
}

static void end_element(struct sub *s)
{
    s->elem++;
    if (--s->elems_left == 0)
        end_push(s);
}

/* One complete header line; returns false on what this parser does not
 * expect from a subscribed connection. */
static bool on_line(struct sub *s)
{
    if (s->line_len < 3 || s->line[s->line_len - 2] != '\r')
        return false;
    s->line[s->line_len - 2] = '\0';
    char kind = s->line[0], *end;
    long long v = strtoll(s->line + 1, &end, 10);
    bool number = end != s->line + 1 && *end == '\0';
    if (s->elems_left == 0) {
        if (kind == '-')
            fprintf(stderr, "sub_count: server error: %s\n", s->line + 1);
        if (kind != '*' || !number)
            return false;
        s->elems_left = v > 0 ? v : 0;
        s->elem = 0;
        s->kind_len = -1;
        return true;
    }
    if (kind == ':' || kind == '+') {
        end_element(s);
        return true;
    }
    if (kind != '$' || !number)
        return false;
    if (v < 0) { /* a null bulk string */
        end_element(s);
        return true;
    }
    s->bulk_len = v;
    s->bulk_off = 0;
    s->state = ST_BULK;
    if (s->elem == 0)
        s->kind_len = v;
    return true;
}

/* Streams @p n bytes of the connection's input through the parser: a push
 * may end anywhere, in the middle of a header or of a payload. */
static bool feed(struct sub *s, const char *p, size_t n)
{
    while (n > 0) {
        if (s->state == ST_BULK) {
            long long left = s->bulk_len + 2 - s->bulk_off;
            size_t take = (size_t)left < n ? (size_t)left : n;
            if (s->elem == 0 && s->bulk_off < KIND_LEN) {
                long long room = KIND_LEN - s->bulk_off;
                size_t copy = (size_t)room < take ? (size_t)room : take;
                memcpy(s->kind + s->bulk_off, p, copy);
            }
            s->bulk_off += (long long)take;
            p += take;
            n -= take;
            if (s->bulk_off == s->bulk_len + 2) {
                s->state = ST_HEADER;
                end_element(s);
            }
            continue;
        }
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) + 1 : n;
        if (s->line_len + take > LINE_MAX_LEN)
            return false;
        memcpy(s->line + s->line_len, p, take);
        s->line_len += take;
        p += take;
        n -= take;
        if (nl == NULL)
            continue;
        bool ok = on_line(s);
        s->line_len = 0;
        if (!ok)
            return false;
    }
    return true;
}

/* The connection is up: sends its SUBSCRIBE, then only reads. */
static void on_connected(struct sub *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        drop(s, strerror(err));
        return;
    }
    char name[MAX_PREFIX + 16], cmd[sizeof name + 64];
    int name_len = snprintf(name, sizeof name, "%s%012ld", g.prefix,
                            s->channel);
    int cmd_len = snprintf(cmd, sizeof cmd,
                           "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n",
                           name_len, name);
    /* A fresh socket's send buffer takes a few dozen bytes at once. */
    if (write(s->fd, cmd, (size_t)cmd_len) != cmd_len) {
        drop(s, "cannot send SUBSCRIBE");
        return;
    }
    s->connecting = false;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, s->fd, &ev) != 0)
        die("epoll_ctl");
}

/* Waits up to @p timeout_ms for input and parses what came; true when some
 * `message` push arrived. */
static bool pump(int timeout_ms)
{
    static char buf[READ_SIZE];
    struct epoll_event events[1024];
    uint64_t before = g.messages;
    int n = epoll_wait(g.ep, events, 1024, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        struct sub *s = events[i].data.ptr;
        if (!s->open)
            continue;
        if (s->connecting) {
            on_connected(s);
            continue;
        }
        ssize_t r = read(s->fd, buf, sizeof buf);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            drop(s, r == 0 ? "closed by the server" : strerror(errno));
        else if (!feed(s, buf, (size_t)r))
            drop(s, "unexpected reply");
    }
    return g.messages != before;
}

/* Starts connecting; the rest is on_connected(). Non-blocking, so that a
 * server that does not accept costs SUBSCRIBE_TIMEOUT_S, not a hang. */
static void start_connect(struct sub *s, long channel,
                          const struct sockaddr_in *addr)
{
    s->channel = channel;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        die("socket");
    if (connect(s->fd, (const struct sockaddr *)addr, sizeof *addr) != 0 &&
        errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
        die("epoll_ctl");
    s->open = true;
    s->connecting = true;
}

static void usage(void)
{
    fprintf(stderr, "usage: sub_count -p PORT -n CONNECTIONS [-c CHANNELS] "
                    "[-m PUBLISHES] [-x PREFIX] [-t SECONDS] [-q QUIET_MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long port = 0, conns = 0, channels = 1, publishes = 0;
    long seconds = DEFAULT_SECONDS, quiet_ms = DEFAULT_QUIET_MS;
    const char *prefix = "bench:";
    int opt;
    while ((opt = getopt(argc, argv, "p:n:c:m:x:t:q:")) != -1) {
        switch (opt) {
        case 'p': port = bench_arg(optarg, "-p", 1); break;
        case 'n': conns = bench_arg(optarg, "-n", 1); break;
        case 'c': channels = bench_arg(optarg, "-c", 1); break;
        case 'm': publishes = bench_arg(optarg, "-m", 0); break;
        case 'x': prefix = optarg; break;
        case 't': seconds = bench_arg(optarg, "-t", 1); break;
        case 'q': quiet_ms = bench_arg(optarg, "-q", 1); break;
        default: usage();
        }
    }
    if (port == 0 || port > 65535 || conns == 0 || optind != argc)
        usage();
    if (conns > MAX_CONNECTIONS || channels > MAX_CHANNELS ||
        conns % channels != 0 || strlen(prefix) > MAX_PREFIX ||
        seconds > MAX_SECONDS) {
        fprintf(stderr, "sub_count: want CONNECTIONS <= %d a multiple of "
                        "CHANNELS <= %d, PREFIX <= %d bytes, SECONDS <= %d\n",
                MAX_CONNECTIONS, MAX_CHANNELS, MAX_PREFIX, MAX_SECONDS);
        return 2;
    }
    if (bench_raise_fd_limit() < conns + 16) {
        fprintf(stderr, "sub_count: the fd limit is below %ld\n", conns + 16);
        return 1;
    }
    bench_ignore_sigpipe();
    signal(SIGUSR1, on_usr1);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.subs = calloc((size_t)conns, sizeof *g.subs);
    if (g.ep < 0 || g.subs == NULL)
        die("setup");
    g.prefix = prefix;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    double give_up = bench_now_us() + SUBSCRIBE_TIMEOUT_S * 1e6;
    for (long i = 0; i < conns; i++) {
        start_connect(&g.subs[i], i % channels, &addr);
        if ((i + 1) % CONNECT_BATCH != 0 && i + 1 != conns)
            continue;
        while (g.subscribed + g.dropped < i + 1 && bench_now_us() < give_up)
            pump(100);
    }
    if (g.subscribed != conns || g.messages != 0) {
        fprintf(stderr, "sub_count: %ld of %ld subscriptions confirmed within "
                        "%d s (%ld connections lost), %llu early messages\n",
                g.subscribed, conns, SUBSCRIBE_TIMEOUT_S, g.dropped,
                (unsigned long long)g.messages);
        return 1;
    }
    printf("ready %ld\n", conns);
    fflush(stdout);

    uint64_t expected = (uint64_t)publishes * (uint64_t)(conns / channels);
    double now = bench_now_us(), first = 0, last = 0;
    double deadline = now + (double)seconds * 1e6, done_at = 0;
    for (;;) {
        if (pump(50)) {
            now = bench_now_us();
            if (first == 0)
                first = now;
            last = now;
        } else {
            now = bench_now_us();
        }
        if ((expected > 0 && g.messages >= expected) || now >= deadline ||
            g.dropped == conns)
            break;
        if (publisher_done && done_at == 0)
            done_at = now;
        if (done_at > 0 && now - (last > done_at ? last : done_at) >=
                               (double)quiet_ms * 1e3)
            break;
    }
    double elapsed = (last - first) / 1e6;
    printf("%llu %lld %.3f %.0f %ld\n", (unsigned long long)g.messages,
           (long long)expected - (long long)g.messages, elapsed,
           elapsed > 0 ? (double)g.messages / elapsed : 0.0, g.dropped);
    for (long i = 0; i < conns; i++)
        if (g.subs[i].open)
            close(g.subs[i].fd);
    free(g.subs);
    close(g.ep);
    return 0;
}
