#include "mom_test.h"

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MOM_MAX_ARGS 32
#define MOM_START_TIMEOUT_S 10
/* The first port tried by mom_free_low_port(); below Linux's ephemeral
 * range (32768 and up), where no client's own port can collide. */
#define LOW_PORT_FIRST 21000
#define LOW_PORT_LAST 32000

pid_t mom_spawn(const char *const *argv, int *out)
{
    int fds[2], status[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    /* Carries exec's errno back; closed by a successful exec. */
    ck_assert_int_eq(pipe2(status, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Only async-signal-safe calls from here to exec. */
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        /* A test runner may ignore SIGPIPE; the program gets the defaults. */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* A test that fails in a forked process ends with _exit, and its
         * programs must not outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execvp(argv[0], (char *const *)argv);
        int err = errno;
        (void)!write(status[1], &err, sizeof err);
        _exit(127);
    }
    close(fds[1]);
    close(status[1]);
    int err = 0;
    ssize_t n;
    while ((n = read(status[0], &err, sizeof err)) < 0 && errno == EINTR)
        ;
    close(status[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        close(fds[0]);
    }
    ck_assert_msg(n == 0, "%s: %s (tools/deps redis installs the Redis "
                  "programs)", argv[0], strerror(err));
    *out = fds[0];
    return pid;
}

/* build/tests/ch06/test_x -> build/examples/momd */
static void momd_path(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(n > 0, "readlink: %s", strerror(errno));
    self[n] = '\0';
    snprintf(out, cap, "%s/examples/momd", dirname(dirname(dirname(self))));
    ck_assert_msg(access(out, X_OK) == 0, "%s: %s (built with the tests)", out,
                  strerror(errno));
}

void mom_start(struct mom_proc *p, int port, const char *const *args)
{
    char path[PATH_MAX];
    char port_text[16];
    momd_path(path, sizeof path);
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *argv[MOM_MAX_ARGS] = {path, "--bind", "127.0.0.1", "--port",
                                      port_text};
    int argc = 5;
    for (; args != NULL && *args != NULL; args++) {
        ck_assert_int_lt(argc, MOM_MAX_ARGS - 1);
        argv[argc++] = *args;
    }
    argv[argc] = NULL;
    p->pid = mom_spawn(argv, &p->out);
    /* "momd listening on 127.0.0.1:PORT", perhaps after log lines. */
    char line[512];
    char said[512] = ""; /* the last whole line, for a failure's message */
    size_t len = 0;
    struct timeval tv = {.tv_sec = MOM_START_TIMEOUT_S};
    fd_set fds;
    for (;;) {
        FD_ZERO(&fds);
        FD_SET(p->out, &fds);
        ck_assert_msg(select(p->out + 1, &fds, NULL, NULL, &tv) == 1,
                      "momd did not start: %s%.*s", said, (int)len, line);
        ssize_t n = read(p->out, line + len, 1);
        if (n != 1)
            waitpid(p->pid, NULL, 0); /* its message is what matters */
        ck_assert_msg(n == 1, "momd exited: %s%.*s", said, (int)len, line);
        if (line[len] == '\n') {
            line[len] = '\0';
            if (strncmp(line, "momd listening on", 17) == 0)
                break;
            snprintf(said, sizeof said, "%s", line);
            len = 0;
            continue;
        }
        if (++len == sizeof line - 1)
            len = 0;
    }
    const char *colon = strrchr(line, ':');
    ck_assert_msg(strstr(line, "listening on") != NULL && colon != NULL,
                  "momd said: %s", line);
    p->port = atoi(colon + 1);
    ck_assert_int_gt(p->port, 0);
}

int mom_stop(struct mom_proc *p, int sig)
{
    int status = 0;
    ck_assert_int_eq(kill(p->pid, sig), 0);
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    close(p->out);
    p->out = -1;
    return status;
}

int mom_stop_with_tail(struct mom_proc *p, int sig, char *tail, size_t cap)
{
    ck_assert_int_eq(kill(p->pid, sig), 0);
    size_t len = 0;
    char text[4096];
    ssize_t n;
    while ((n = read(p->out, text, sizeof text)) > 0 ||
           (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n; i++) {
            if (len == cap - 1) { /* keep the newest bytes */
                memmove(tail, tail + cap / 2, len - cap / 2);
                len -= cap / 2;
            }
            tail[len++] = text[i];
        }
    }
    tail[len] = '\0';
    int status = 0;
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    close(p->out);
    p->out = -1;
    return status;
}

static int try_bind(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    return ok;
}

/* Where a process starts looking: somewhere that depends on it, so that
 * suites run side by side do not all try the same ports first. Processes
 * started one after the other have neighbouring ids, and a test takes up
 * to a few ports in a row: a multiplier puts neighbours far apart. */
static int low_port_start(int span)
{
    return (int)(((unsigned long)getpid() * 7919UL) % (unsigned long)span);
}

int mom_free_low_port(void)
{
    int span = LOW_PORT_LAST - LOW_PORT_FIRST;
    int start = low_port_start(span);
    for (int i = 0; i < span; i++) {
        int port = LOW_PORT_FIRST + (start + i) % span;
        if (try_bind(port) == 0)
            return port;
    }
    ck_abort_msg("no free port in %d-%d", LOW_PORT_FIRST, LOW_PORT_LAST);
    return -1;
}

void mom_free_low_ports(int *ports, int n)
{
    int span = LOW_PORT_LAST - LOW_PORT_FIRST;
    int start = low_port_start(span);
    int found = 0;
    for (int i = 0; i < span && found < n; i++) {
        int port = LOW_PORT_FIRST + (start + i) % span;
        if (try_bind(port) == 0)
            ports[found++] = port;
    }
    ck_assert_msg(found == n, "no %d free ports in %d-%d", n, LOW_PORT_FIRST,
                  LOW_PORT_LAST);
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && ports[j - 1] > ports[j]; j--) {
            int t = ports[j];
            ports[j] = ports[j - 1];
            ports[j - 1] = t;
        }
}

void mom_drain(struct mom_proc *p)
{
    static int show = -1;
    if (show < 0)
        show = getenv("MOM_TEST_LOGS") != NULL;
    struct pollfd pfd = {.fd = p->out, .events = POLLIN};
    char text[4096];
    while (p->out >= 0 && poll(&pfd, 1, 0) == 1) {
        ssize_t n = read(p->out, text, sizeof text);
        if (n <= 0)
            return; /* it exited: mom_stop() collects it */
        if (show)
            (void)!write(2, text, (size_t)n);
    }
}

void mom_connect(struct mom_client *c, int port)
{
    mom_connect_with_window(c, port, 0);
}

void mom_connect_with_window(struct mom_client *c, int port, int rcvbuf)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    /* Set before connect, so that the window it announces stays small. */
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_msg(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0,
                  "connect to %d: %s", port, strerror(errno));
    struct timeval tv = {.tv_sec = MOM_REPLY_TIMEOUT_S};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->buf = NULL;
    c->off = 0;
    c->len = 0;
    c->cap = 0;
}

void mom_connect_auth(struct mom_client *c, int port, const char *password)
{
    mom_connect(c, port);
    if (password == NULL)
        return;
    const char *argv[] = {"AUTH", password};
    mom_command(c, 2, argv);
    mom_expect(c, "+OK\r\n");
}

void mom_close(struct mom_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->off = c->len = c->cap = 0;
}

void mom_send(struct mom_client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        MOM_CHECK(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void mom_command(struct mom_client *c, int argc, const char *const *argv)
{
    /* One send per command: thousands of small sends would cost more
     * than the broker's work, above all under valgrind. */
    size_t cap = 32;
    for (int i = 0; i < argc; i++)
        cap += strlen(argv[i]) + 32;
    char *bytes = malloc(cap);
    MOM_CHECK(bytes != NULL, "out of memory");
    size_t len = (size_t)snprintf(bytes, cap, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t arg_len = strlen(argv[i]);
        len += (size_t)snprintf(bytes + len, cap - len, "$%zu\r\n", arg_len);
        memcpy(bytes + len, argv[i], arg_len);
        len += arg_len;
        memcpy(bytes + len, "\r\n", 2);
        len += 2;
    }
    mom_send(c, bytes, len);
    free(bytes);
}

/* Reads more bytes; false at EOF. */
static bool fill(struct mom_client *c)
{
    if (c->cap - c->len < 65536 && c->off > 0) {
        /* Move the unread bytes to the front once, not after every value
         * (thousands of values per read make that quadratic). */
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->cap - c->len < 65536) {
        c->cap = c->cap * 2 + 65536;
        c->buf = realloc(c->buf, c->cap);
        MOM_CHECK(c->buf != NULL, "out of memory");
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    size_t unread = c->len - c->off;
    MOM_CHECK(n >= 0, "recv: %s, with %zu bytes of a value: %.*s",
                  strerror(errno), unread, (int)(unread < 80 ? unread : 80),
                  c->buf + c->off);
    c->len += (size_t)n;
    return n > 0;
}

/* Length of the complete value at buf[at..len), or 0 if incomplete. */
static size_t value_length(const char *buf, size_t len, size_t at)
{
    const char *end = memchr(buf + at, '\n', len - at);
    if (end == NULL)
        return 0;
    size_t line = (size_t)(end - (buf + at)) + 1;
    long long n = atoll(buf + at + 1);
    switch (buf[at]) {
    case '+':
    case '-':
    case ':':
        return line;
    case '$':
        if (n < 0)
            return line;
        return len - at >= line + (size_t)n + 2 ? line + (size_t)n + 2 : 0;
    case '*': {
        size_t total = line;
        for (long long i = 0; i < n; i++) {
            size_t part = value_length(buf, len, at + total);
            if (part == 0)
                return 0;
            total += part;
        }
        return total;
    }
    default:
        ck_abort_msg("not RESP: '%c'", buf[at]);
        return 0;
    }
}

int mom_count_until_closed(struct mom_client *c)
{
    int values = 0;
    for (;;) {
        size_t n;
        while (c->len > c->off &&
               (n = value_length(c->buf, c->len, c->off)) > 0) {
            c->off += n;
            values++;
        }
        if (!fill(c))
            return values;
    }
}

size_t mom_read_value(struct mom_client *c, char **out)
{
    size_t n;
    while (c->len == c->off || (n = value_length(c->buf, c->len, c->off)) == 0)
        MOM_CHECK(fill(c), "the server closed the connection");
    *out = malloc(n + 1);
    MOM_CHECK(*out != NULL, "out of memory");
    memcpy(*out, c->buf + c->off, n);
    (*out)[n] = '\0';
    c->off += n;
    return n;
}

bool mom_readable(struct mom_client *c, int timeout_ms)
{
    if (c->len > c->off)
        return true;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms);
    MOM_CHECK(n >= 0, "poll: %s", strerror(errno));
    return n == 1;
}

void mom_expect(struct mom_client *c, const char *want)
{
    char *got = NULL;
    mom_read_value(c, &got);
    MOM_CHECK(strcmp(got, want) == 0, "got '%s', want '%s'", got, want);
    free(got);
}

/* The bulk string at *p (advanced past it), malloc'ed. */
static char *take_bulk(const char **p)
{
    MOM_CHECK(**p == '$', "not a bulk string: %.20s", *p);
    long long n = atoll(*p + 1);
    const char *start = strchr(*p, '\n') + 1;
    char *s = strndup(start, (size_t)n);
    MOM_CHECK(s != NULL, "out of memory");
    *p = start + n + 2;
    return s;
}

char *mom_read_message(struct mom_client *c, char **channel)
{
    char *v = NULL;
    mom_read_value(c, &v);
    const char *p = v;
    MOM_CHECK(strncmp(p, "*3\r\n", 4) == 0, "not a message: %.60s", v);
    p += 4;
    char *kind = take_bulk(&p);
    MOM_CHECK(strcmp(kind, "message") == 0, "a %s, not a message", kind);
    free(kind);
    char *ch = take_bulk(&p);
    char *payload = take_bulk(&p);
    if (channel != NULL)
        *channel = ch;
    else
        free(ch);
    free(v);
    return payload;
}

int mom_read_items(struct mom_client *c, char **items, int max)
{
    char *v = NULL;
    mom_read_value(c, &v);
    MOM_CHECK(v[0] == '*', "not an array: %.80s", v);
    long long n = atoll(v + 1);
    MOM_CHECK(n >= 0 && n <= max, "an array of %lld items: %.80s", n, v);
    const char *p = strchr(v, '\n') + 1;
    for (int i = 0; i < n; i++) {
        if (*p != ':') {
            items[i] = take_bulk(&p);
            continue;
        }
        const char *end = strchr(p, '\r');
        items[i] = strndup(p + 1, (size_t)(end - p - 1));
        MOM_CHECK(items[i] != NULL, "out of memory");
        p = end + 2;
    }
    free(v);
    return (int)n;
}

void mom_free_items(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
}

bool mom_closed(struct mom_client *c)
{
    ck_assert_msg(c->len == c->off, "%zu unread bytes before the close",
                  c->len - c->off);
    char byte;
    ssize_t n = recv(c->fd, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

char *mom_info_text(int port, const char *password)
{
    struct mom_client c;
    mom_connect_auth(&c, port, password);
    const char *argv[] = {"INFO"};
    mom_command(&c, 1, argv);
    char *text = NULL;
    mom_read_value(&c, &text);
    mom_close(&c);
    ck_assert_msg(text[0] == '$', "INFO answered %.80s", text);
    return text;
}

long long mom_info(int port, const char *field)
{
    char *text = mom_info_text(port, NULL);
    char key[128];
    snprintf(key, sizeof key, "\n%s:", field);
    const char *at = strstr(text, key);
    ck_assert_msg(at != NULL, "INFO has no %s", field);
    long long v = atoll(at + strlen(key));
    free(text);
    return v;
}

bool mom_info_peer(const char *info, int peer_port, const char *key,
                   char *out, size_t cap)
{
    char addr[64];
    int addr_len = snprintf(addr, sizeof addr, "addr=127.0.0.1:%d,", peer_port);
    size_t key_len = strlen(key);
    for (const char *at = info; (at = strstr(at, "\npeer")) != NULL;) {
        const char *p = at + 5;
        at = p;
        if (!isdigit((unsigned char)*p))
            continue; /* peers_up:, peers_known: */
        while (isdigit((unsigned char)*p))
            p++;
        if (*p++ != ':' || strncmp(p, addr, (size_t)addr_len) != 0)
            continue;
        const char *end = p + strcspn(p, "\r\n");
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *field_end = comma != NULL ? comma : end;
            if ((size_t)(field_end - p) > key_len &&
                strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
                snprintf(out, cap, "%.*s", (int)(field_end - p - (long)key_len - 1),
                         p + key_len + 1);
                return true;
            }
            p = field_end + 1;
        }
        return false;
    }
    return false;
}

int mom_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}
