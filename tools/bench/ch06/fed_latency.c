/*
 * fed_latency: how long one message takes from PUBLISH to the subscriber,
 * through one broker or from one broker of a federation to another. The
 * latency side of tools/bench/ch06/federation. Blocking sockets, one
 * thread, RESP2 as momd and redis-server 7 speak it.
 *
 *   fed_latency -p PUB_PORT -s SUB_PORT [-n COUNT] [-w WARMUP]
 *               [-b PAYLOAD] [-c CHANNEL]
 *
 * Subscribes one connection to CHANNEL on 127.0.0.1:SUB_PORT, then
 * publishes on 127.0.0.1:PUB_PORT one message at a time: the next PUBLISH
 * goes out once the subscriber has the last one, so nothing queues and
 * each figure is a single message's trip. The payload starts with the
 * CLOCK_MONOTONIC time of the send in nanoseconds (20 digits), padded to
 * PAYLOAD bytes; the latency is the time when the push has been read
 * whole minus that.
 *
 * A subscription on another broker takes a moment to reach the
 * publisher's broker, and what is published before that goes nowhere; so
 * probes go out every PROBE_MS until one arrives (their number and the
 * time it took are printed). A probe that comes late is skipped by its
 * payload, as any push other than the one awaited. WARMUP messages are
 * then sent and not counted, then COUNT are. Prints one line:
 *
 *   COUNT P50_US P99_US MEAN_US MAX_US PROBES PROPAGATION_MS
 *
 * Percentiles are nearest-rank. Exits 1 when a message does not arrive
 * within MESSAGE_TIMEOUT_S, or the subscription takes effect not within
 * PROPAGATE_TIMEOUT_S.
 */
#include "../bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_COUNT 1000000
#define DEFAULT_COUNT 2000
#define DEFAULT_WARMUP 100
#define DEFAULT_PAYLOAD 64
#define MAX_PAYLOAD 4096
#define STAMP_LEN 20 /* digits of the send time in the payload */
#define MAX_CHANNEL 128
#define PROBE_MS 5
#define PROPAGATE_TIMEOUT_S 10
#define MESSAGE_TIMEOUT_S 5
#define BUF_SIZE 65536
/* Elements kept of one reply: a push has three. */
#define MAX_ELEMS 4

struct conn {
    int fd;
    const char *name; /* "publisher" or "subscriber", for messages */
    char buf[BUF_SIZE];
    size_t start, end; /* unparsed input is buf[start, end) */
};

/* One reply: its kind ('*', ':', '+', '-', '$') and, for an array, its
 * elements; the strings point into the connection's buffer and hold until
 * its next read. */
struct reply {
    char kind;
    long long n; /* the integer, or the array's length */
    int elems;
    const char *str[MAX_ELEMS];
    size_t len[MAX_ELEMS];
};

static void die(const char *what)
{
    fprintf(stderr, "fed_latency: %s: %s\n", what, strerror(errno));
    exit(1);
}

__attribute__((format(printf, 1, 2), noreturn)) static void
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fed_latency: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void conn_open(struct conn *c, long port, const char *name)
{
    c->name = name;
    c->start = c->end = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c->fd, (const struct sockaddr *)&addr, sizeof addr) != 0)
        die(name);
    /* As every Redis client: a PUBLISH is small and must not wait for
     * the ACK of the one before. */
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        die("TCP_NODELAY");
}

/* Sends a command of @p argc bulk strings in one write. */
static void conn_command(struct conn *c, int argc, const char *const *argv,
                         const size_t *lens)
{
    char out[MAX_PAYLOAD + MAX_CHANNEL + 128];
    size_t n = (size_t)snprintf(out, sizeof out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        n += (size_t)snprintf(out + n, sizeof out - n, "$%zu\r\n", lens[i]);
        memcpy(out + n, argv[i], lens[i]);
        n += lens[i];
        memcpy(out + n, "\r\n", 2);
        n += 2;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(c->fd, out + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die(c->name);
        off += (size_t)w;
    }
}

/* One line from @p *p (before @p end), without its CRLF: its start, its
 * length in @p len and @p *p past it; NULL when it is not all here. */
static const char *take_line(const char **p, const char *end, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        return NULL;
    if (nl == *p || nl[-1] != '\r')
        fail("a line without CRLF");
    const char *line = *p;
    *len = (size_t)(nl - 1 - line);
    *p = nl + 1;
    return line;
}

static long long line_number(const char *line, size_t len)
{
    char tmp[32];
    if (len < 2 || len >= sizeof tmp)
        fail("a bad header line");
    memcpy(tmp, line + 1, len - 1);
    tmp[len - 1] = '\0';
    char *end;
    long long v = strtoll(tmp, &end, 10);
    if (*end != '\0')
        fail("bad number '%s'", tmp);
    return v;
}

/* Parses one element (a bulk string, an integer or a status) at @p *p;
 * false when it is not all here. */
static bool take_elem(const char **p, const char *end, struct reply *r)
{
    size_t len;
    const char *line = take_line(p, end, &len);
    if (line == NULL)
        return false;
    const char *str = line + 1;
    size_t str_len = len - 1;
    if (line[0] == '$') {
        long long n = line_number(line, len);
        if (n >= 0) {
            if (end - *p < n + 2)
                return false;
            str = *p;
            str_len = (size_t)n;
            *p += n + 2;
        }
    } else if (line[0] != ':' && line[0] != '+') {
        fail("unexpected element '%c'", line[0]);
    }
    if (r->elems < MAX_ELEMS) {
        r->str[r->elems] = str;
        r->len[r->elems] = str_len;
    }
    r->elems++;
    return true;
}

/* One whole reply from what was read; false when more must be read. */
static bool parse_reply(struct conn *c, struct reply *r)
{
    const char *p = c->buf + c->start, *end = c->buf + c->end;
    memset(r, 0, sizeof *r);
    if (p == end)
        return false;
    r->kind = *p;
    if (r->kind == '*') {
        size_t len;
        const char *line = take_line(&p, end, &len);
        if (line == NULL)
            return false;
        r->n = line_number(line, len);
        for (long long i = 0; i < r->n; i++)
            if (!take_elem(&p, end, r))
                return false;
    } else if (!take_elem(&p, end, r)) {
        return false;
    }
    c->start = (size_t)(p - c->buf);
    return true;
}

/* The next reply, waiting until @p deadline (ns); false at the deadline. */
static bool next_reply(struct conn *c, struct reply *r, uint64_t deadline)
{
    for (;;) {
        if (c->start < c->end && c->buf[c->start] == '-') {
            /* An error ends the run: show it as the server wrote it. */
            const char *nl = memchr(c->buf + c->start, '\r', c->end - c->start);
            if (nl != NULL) {
                fprintf(stderr, "fed_latency: %s: server error: %.*s\n",
                        c->name, (int)(nl - c->buf - c->start - 1),
                        c->buf + c->start + 1);
                exit(1);
            }
        } else if (parse_reply(c, r)) {
            return true;
        }
        if (c->start == c->end) {
            c->start = c->end = 0;
        } else if (c->start > 0) {
            memmove(c->buf, c->buf + c->start, c->end - c->start);
            c->end -= c->start;
            c->start = 0;
        }
        if (c->end == sizeof c->buf)
            fail("%s: a reply larger than the buffer", c->name);
        uint64_t now = now_ns();
        if (now >= deadline)
            return false;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int ms = (int)((deadline - now + 999999) / 1000000);
        int n = poll(&pfd, 1, ms);
        if (n < 0 && errno != EINTR)
            die("poll");
        if (n <= 0)
            continue;
        ssize_t got = read(c->fd, c->buf + c->end, sizeof c->buf - c->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            fail("%s: the server closed the connection", c->name);
        c->end += (size_t)got;
    }
}

static bool is(const struct reply *r, int i, const char *s)
{
    return i < r->elems && i < MAX_ELEMS && r->len[i] == strlen(s) &&
           memcmp(r->str[i], s, r->len[i]) == 0;
}

static struct {
    struct conn pub, sub;
    const char *channel;
    size_t payload;
    char body[MAX_PAYLOAD];
    long probes;
} g;

/* Publishes a message stamped with the time of the send; returns it. */
static uint64_t publish(void)
{
    uint64_t t = now_ns();
    char stamp[STAMP_LEN + 1];
    snprintf(stamp, sizeof stamp, "%0*" PRIu64, STAMP_LEN, t);
    memcpy(g.body, stamp, STAMP_LEN);
    const char *argv[] = {"PUBLISH", g.channel, g.body};
    size_t lens[] = {7, strlen(g.channel), g.payload};
    conn_command(&g.pub, 3, argv, lens);
    return t;
}

/* Waits for the push of the message sent at @p sent, until @p deadline;
 * returns when it was read whole (ns), or 0 at the deadline. Other pushes
 * (a probe that came late) are skipped. */
static uint64_t await(uint64_t sent, uint64_t deadline)
{
    char stamp[STAMP_LEN + 1];
    snprintf(stamp, sizeof stamp, "%0*" PRIu64, STAMP_LEN, sent);
    struct reply r;
    while (next_reply(&g.sub, &r, deadline)) {
        if (r.kind == '*' && r.n == 3 && is(&r, 0, "message") &&
            r.len[2] == g.payload && memcmp(r.str[2], stamp, STAMP_LEN) == 0)
            return now_ns();
    }
    return 0;
}

/* The publisher's reply to one PUBLISH: the count of local receivers. */
static void publish_reply(void)
{
    struct reply r;
    if (!next_reply(&g.pub, &r, now_ns() + MESSAGE_TIMEOUT_S * 1000000000ull))
        fail("no reply to PUBLISH");
    if (r.kind != ':')
        fail("PUBLISH answered with something else than an integer");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rank(const double *sorted, long n, double pct)
{
    long i = (long)((pct / 100.0) * (double)n + 0.999999999) - 1;
    return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void usage(void)
{
    fprintf(stderr, "usage: fed_latency -p PUB_PORT -s SUB_PORT [-n COUNT] "
                    "[-w WARMUP] [-b PAYLOAD] [-c CHANNEL]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long pub_port = 0, sub_port = 0, count = DEFAULT_COUNT;
    long warmup = DEFAULT_WARMUP, payload = DEFAULT_PAYLOAD;
    g.channel = "fed:latency";
    int opt;
    while ((opt = getopt(argc, argv, "p:s:n:w:b:c:")) != -1) {
        switch (opt) {
        case 'p': pub_port = bench_arg(optarg, "-p", 1); break;
        case 's': sub_port = bench_arg(optarg, "-s", 1); break;
        case 'n': count = bench_arg(optarg, "-n", 1); break;
        case 'w': warmup = bench_arg(optarg, "-w", 0); break;
        case 'b': payload = bench_arg(optarg, "-b", STAMP_LEN); break;
        case 'c': g.channel = optarg; break;
        default: usage();
        }
    }
    if (pub_port == 0 || sub_port == 0 || pub_port > 65535 ||
        sub_port > 65535 || optind != argc)
        usage();
    if (count > MAX_COUNT || payload > MAX_PAYLOAD ||
        strlen(g.channel) >= MAX_CHANNEL) {
        fprintf(stderr, "fed_latency: want COUNT <= %d, PAYLOAD <= %d, "
                        "CHANNEL < %d bytes\n",
                MAX_COUNT, MAX_PAYLOAD, MAX_CHANNEL);
        return 2;
    }
    bench_ignore_sigpipe();
    g.payload = (size_t)payload;
    memset(g.body, '.', sizeof g.body);

    conn_open(&g.sub, sub_port, "subscriber");
    const char *sub_argv[] = {"SUBSCRIBE", g.channel};
    size_t sub_lens[] = {9, strlen(g.channel)};
    conn_command(&g.sub, 2, sub_argv, sub_lens);
    struct reply r;
    if (!next_reply(&g.sub, &r, now_ns() + MESSAGE_TIMEOUT_S * 1000000000ull) ||
        !(r.kind == '*' && is(&r, 0, "subscribe")))
        fail("SUBSCRIBE not confirmed");
    conn_open(&g.pub, pub_port, "publisher");

    /* Probes until the subscription reaches the publisher's broker. */
    uint64_t t0 = now_ns();
    uint64_t give_up = t0 + PROPAGATE_TIMEOUT_S * 1000000000ull;
    for (;;) {
        uint64_t sent = publish();
        g.probes++;
        publish_reply();
        if (await(sent, sent + PROBE_MS * 1000000ull) != 0)
            break;
        if (now_ns() >= give_up)
            fail("the subscription did not reach the publisher's broker "
                 "within %d s", PROPAGATE_TIMEOUT_S);
    }
    double propagation_ms = (double)(now_ns() - t0) / 1e6;

    double *lat = malloc((size_t)count * sizeof *lat);
    if (lat == NULL)
        die("malloc");
    for (long i = -warmup; i < count; i++) {
        uint64_t sent = publish();
        uint64_t got = await(sent, sent + MESSAGE_TIMEOUT_S * 1000000000ull);
        if (got == 0) {
            fprintf(stderr, "fed_latency: message %ld of %ld not delivered "
                            "within %d s\n",
                    i + warmup + 1, count + warmup, MESSAGE_TIMEOUT_S);
            return 1;
        }
        /* After the push: a reply already here costs no wait, and the
         * measured trip is not held up by reading it first. */
        publish_reply();
        if (i >= 0)
            lat[i] = (double)(got - sent) / 1e3;
    }
    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += lat[i];
    qsort(lat, (size_t)count, sizeof *lat, cmp_double);
    printf("%ld %.1f %.1f %.1f %.1f %ld %.1f\n", count, rank(lat, count, 50),
           rank(lat, count, 99), sum / (double)count, lat[count - 1],
           g.probes, propagation_ms);
    free(lat);
    close(g.pub.fd);
    close(g.sub.fd);
    return 0;
}
