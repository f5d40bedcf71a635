#include "redis_pair.h"

#include "test_support.h"

#include "base/count_down_latch.h"
#include "base/log.h"
#include "base/timestamp.h"
#include "mom/broker.h"
#include "net/event_loop.h"
#include "net/event_loop_thread.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* How often the start looks again whether Redis accepts. */
#define START_POLL_US 2000
/* Bytes asked of the kernel per read. */
#define READ_CHUNK 65536
/* Bytes of a reply shown in a failure message. */
#define SHOW_MAX 1500

/* --- redis-server -------------------------------------------------------- */

/* Where the pairs of a suite make their directories ("": TMPDIR). */
static char suite_dir[128];

/* snprintf of a path that must fit whole. */
__attribute__((format(printf, 3, 4))) static void
path_printf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && (size_t)n < cap, "path too long: %s...", out);
}

static void unix_address(const char *path, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    path_printf(addr->sun_path, sizeof addr->sun_path, "%s", path);
}

/* The program's path in $PATH, as execvp would find it; the child then
 * calls execv, which (unlike execvp) is safe after fork in a process
 * with threads. */
static bool find_program(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        int w = snprintf(out, cap, "%.*s/%s", (int)n, n > 0 ? path : ".", name);
        if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* Removes @p dir with what it holds: files, and directories of files
 * (@p depth levels down). */
static void remove_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        const struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[512];
            path_printf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (e->d_type == DT_DIR && depth > 0)
                remove_tree(path, depth - 1);
            else
                (void)unlink(path);
        }
        closedir(d);
    }
    ck_assert_msg(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

static void remove_dir(const char *dir)
{
    remove_tree(dir, 0);
}

static const char *temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp != NULL && *tmp != '\0' ? tmp : "/tmp";
}

void redis_pair_suite_setup(void)
{
    path_printf(suite_dir, sizeof suite_dir, "%s/redis-pairs-XXXXXX",
                temp_dir());
    ck_assert_msg(mkdtemp(suite_dir) != NULL, "mkdtemp %s: %s", suite_dir,
                  strerror(errno));
}

void redis_pair_suite_teardown(void)
{
    if (suite_dir[0] != '\0')
        remove_tree(suite_dir, 1);
    suite_dir[0] = '\0';
}

/* The end of Redis's log, for a failure message. */
static void read_log(const struct redis_pair *p, char *out, size_t cap)
{
    char path[256];
    path_printf(path, sizeof path, "%s/redis.log", p->dir);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)cap - 1 ? size - (off_t)cap + 1 : 0;
    ssize_t n = pread(fd, out, cap - 1, from);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
}

static bool redis_accepts(const char *socket_path)
{
    struct sockaddr_un addr;
    unix_address(socket_path, &addr);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    test_close(fd);
    return ok;
}

static void start_redis(struct redis_pair *p, const struct redis_pair_options *o)
{
    char program[256];
    ck_assert_msg(find_program("redis-server", program, sizeof program),
                  "redis-server not found: install it with tools/deps redis");
    path_printf(p->dir, sizeof p->dir, "%s/redis-XXXXXX",
                suite_dir[0] != '\0' ? suite_dir : temp_dir());
    ck_assert_msg(mkdtemp(p->dir) != NULL, "mkdtemp %s: %s", p->dir,
                  strerror(errno));
    path_printf(p->socket_path, sizeof p->socket_path, "%s/redis.sock",
                p->dir);
    char log[256];
    path_printf(log, sizeof log, "%s/redis.log", p->dir);
    char clients[16];
    snprintf(clients, sizeof clients, "%u", o->max_clients);
    const char *argv[24];
    int argc = 0;
    const char *fixed[] = {program, "--port", "0", "--unixsocket",
                           p->socket_path, "--save", "", "--appendonly", "no",
                           "--daemonize", "no", "--dir", p->dir, "--logfile",
                           log};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[argc++] = fixed[i];
    if (o->requirepass != NULL) {
        argv[argc++] = "--requirepass";
        argv[argc++] = o->requirepass;
    }
    if (o->max_clients > 0) {
        argv[argc++] = "--maxclients";
        argv[argc++] = clients;
    }
    argv[argc] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* A test that dies (Check's fork mode ends a failed test with
         * exit) takes its server with it. */
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            (void)dup2(null, STDIN_FILENO);
            (void)dup2(null, STDOUT_FILENO);
        }
        close_range(3, ~0U, 0);
        execv(program, (char *const *)argv);
        _exit(127);
    }
    p->redis_pid = pid;
    int64_t deadline = timestamp_mono_us() + (int64_t)REDIS_PAIR_START_MS * 1000;
    while (!redis_accepts(p->socket_path)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->redis_pid = 0;
            char text[2048];
            read_log(p, text, sizeof text);
            remove_dir(p->dir);
            ck_abort_msg("redis-server exited at start (status %d): %s",
                         status, text);
        }
        ck_assert_msg(timestamp_mono_us() < deadline,
                      "redis-server does not accept on %s", p->socket_path);
        usleep(START_POLL_US);
    }
}

static void stop_redis(struct redis_pair *p)
{
    if (p->redis_pid == 0)
        return;
    pid_t pid = p->redis_pid;
    p->redis_pid = 0;
    ck_assert_msg(kill(pid, SIGTERM) == 0, "kill: %s", strerror(errno));
    int status = test_wait_child(pid);
    remove_dir(p->dir);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "redis-server ended with status %d", status);
}

/* --- the broker, in a loop thread of its own ----------------------------- */

struct broker_call {
    struct redis_pair *pair;
    struct event_loop *loop;
    struct count_down_latch done;
};

static void start_in_loop(struct event_loop *loop, void *ctx)
{
    struct broker_call *call = ctx;
    struct redis_pair *p = call->pair;
    p->broker = broker_new(loop, &p->config);
    if (p->broker == NULL) {
        p->start_error = errno;
    } else {
        int err = broker_start(p->broker);
        if (err == 0) {
            p->port = broker_port(p->broker);
        } else {
            p->start_error = -err;
            broker_free(p->broker);
            p->broker = NULL;
        }
    }
    count_down_latch_count_down(&call->done);
}

static void free_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct broker_call *call = ctx;
    broker_free(call->pair->broker);
    call->pair->broker = NULL;
    count_down_latch_count_down(&call->done);
}

/* The stop is told from the broker's drain timer: the free comes after
 * it, as a call of its own. */
static void on_stopped(struct broker *b, void *ctx)
{
    (void)b;
    struct broker_call *call = ctx;
    if (event_loop_queue(call->loop, free_in_loop, call) != 0)
        free_in_loop(call->loop, call);
}

static void stop_in_loop(struct event_loop *loop, void *ctx)
{
    (void)loop;
    struct broker_call *call = ctx;
    broker_stop(call->pair->broker, on_stopped, call);
}

/* Runs @p fn in the broker's base loop and waits for it to count down. */
static void call_in_loop(struct redis_pair *p, event_loop_fn *fn)
{
    struct broker_call call = {.pair = p,
                               .loop = event_loop_thread_loop(p->thread)};
    count_down_latch_init(&call.done, 1);
    ck_assert_int_eq(event_loop_queue(call.loop, fn, &call), 0);
    count_down_latch_wait(&call.done);
    count_down_latch_destroy(&call.done);
}

static void start_broker(struct redis_pair *p, const struct redis_pair_options *o)
{
    broker_config_init(&p->config);
    p->config_ready = true;
    p->config.port = 0;
    p->config.threads = 2;
    if (o->requirepass != NULL) {
        p->config.requirepass = strdup(o->requirepass);
        ck_assert_ptr_nonnull(p->config.requirepass);
    }
    if (o->max_clients > 0)
        p->config.max_clients = o->max_clients;
    p->thread = event_loop_thread_new(NULL, NULL);
    ck_assert_msg(p->thread != NULL, "loop thread: %s", strerror(errno));
    call_in_loop(p, start_in_loop);
    ck_assert_msg(p->broker != NULL, "broker: %s", strerror(p->start_error));
}

static void stop_broker(struct redis_pair *p)
{
    if (p->broker != NULL)
        call_in_loop(p, stop_in_loop);
    if (p->thread != NULL)
        event_loop_thread_free(p->thread);
    p->thread = NULL;
    if (p->config_ready)
        broker_config_destroy(&p->config);
    p->config_ready = false;
}

/* --- the pair ------------------------------------------------------------ */

void redis_pair_start(struct redis_pair *p,
                      const struct redis_pair_options *options)
{
    static const struct redis_pair_options defaults = {0};
    const struct redis_pair_options *o = options != NULL ? options : &defaults;
    memset(p, 0, sizeof *p);
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < REDIS_PAIR_CONNS; i++) {
            p->clients[side][i].fd = -1;
            buffer_init(&p->clients[side][i].in);
        }
    }
    /* The broker's lines (its start, the connections it closes on
     * purpose) would bury a failure's message; MUDUO_LOG_LEVEL brings
     * them back. */
    p->saved_log_level = (int)log_get_level();
    if (getenv("MUDUO_LOG_LEVEL") == NULL)
        log_set_level(LOG_LEVEL_ERROR);
    p->running = true;
    start_redis(p, o);
    start_broker(p, o);
}

void redis_pair_stop(struct redis_pair *p)
{
    if (!p->running)
        return;
    p->running = false;
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < REDIS_PAIR_CONNS; i++) {
            struct redis_pair_client *c = &p->clients[side][i];
            if (c->fd >= 0)
                test_close(c->fd);
            c->fd = -1;
            buffer_destroy(&c->in);
        }
    }
    stop_broker(p);
    log_set_level((enum log_level)p->saved_log_level);
    stop_redis(p);
}

/* --- clients ------------------------------------------------------------- */

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = REDIS_PAIR_TIMEOUT_MS / 1000,
                         .tv_usec = (REDIS_PAIR_TIMEOUT_MS % 1000) * 1000};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
}

int redis_pair_connect(const struct redis_pair *p, enum redis_pair_side side)
{
    int fd;
    if (side == REDIS_PAIR_REDIS) {
        struct sockaddr_un addr;
        unix_address(p->socket_path, &addr);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
                      "connect %s: %s", p->socket_path, strerror(errno));
    } else {
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)p->port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        ck_assert_msg(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
                      "connect 127.0.0.1:%d: %s", p->port, strerror(errno));
        /* Each write of a test goes out as it is, as a client's would. */
        int one = 1;
        ck_assert_int_eq(
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    }
    set_timeouts(fd);
    return fd;
}

int redis_pair_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return -errno;
        ck_assert_msg(n > 0, "send on fd %d: %s", fd, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t redis_pair_value_length(const char *data, size_t len)
{
    /* Values still to be read: an array header adds its elements. */
    size_t pending = 1;
    size_t pos = 0;
    while (pending > 0) {
        if (pos == len)
            return 0;
        char type = data[pos];
        const char *cr = memchr(data + pos, '\r', len - pos);
        if (cr == NULL || (size_t)(cr - data) + 1 >= len)
            return 0;
        if (cr[1] != '\n')
            return -1;
        size_t line_end = (size_t)(cr - data) + 2;
        pending--;
        if (type == '+' || type == '-' || type == ':') {
            pos = line_end;
            continue;
        }
        if (type != '$' && type != '*')
            return -1;
        char *end = NULL;
        long long n = strtoll(data + pos + 1, &end, 10);
        if (end != cr || n < -1)
            return -1;
        pos = line_end;
        if (n == -1)
            continue;
        if (type == '*') {
            pending += (size_t)n;
            continue;
        }
        if (len - pos < (size_t)n + 2)
            return 0;
        if (data[pos + (size_t)n] != '\r' || data[pos + (size_t)n + 1] != '\n')
            return -1;
        pos += (size_t)n + 2;
    }
    return (ssize_t)pos;
}

/* How many complete values @p data holds (-1: not RESP2). */
static ssize_t count_values(const char *data, size_t len)
{
    ssize_t count = 0;
    size_t pos = 0;
    while (pos < len) {
        ssize_t n = redis_pair_value_length(data + pos, len - pos);
        if (n <= 0)
            return n < 0 ? -1 : count;
        pos += (size_t)n;
        count++;
    }
    return count;
}

void redis_pair_escape(const char *data, size_t len, size_t max,
                       struct buffer *out)
{
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)data[i];
        char esc[8];
        if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\\')
            snprintf(esc, sizeof esc, "\\\\");
        else if (c == '"')
            snprintf(esc, sizeof esc, "\\\"");
        else if (c < 0x20 || c >= 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else
            snprintf(esc, sizeof esc, "%c", c);
        ck_assert_int_eq(buffer_append(out, esc, strlen(esc)), 0);
    }
    if (len > max)
        ck_assert_int_eq(buffer_append(out, "...", 3), 0);
}

/* Fails the test with @p why and the bytes @p data shows. */
static void fail_with(const char *who, const char *why, const char *data,
                      size_t len)
{
    struct buffer shown;
    buffer_init(&shown);
    redis_pair_escape(data, len, SHOW_MAX, &shown);
    ck_assert_int_eq(buffer_append(&shown, "", 1), 0);
    ck_abort_msg("%s: %s; it had sent \"%s\"", who, why, buffer_peek(&shown));
    buffer_destroy(&shown); /* not reached */
}

void redis_pair_read_replies(struct redis_pair_client *c, size_t count,
                             struct buffer *out, const char *who)
{
    for (;;) {
        const char *data = buffer_peek(&c->in);
        size_t len = buffer_readable(&c->in);
        size_t pos = 0;
        size_t have = 0;
        ssize_t n = 0;
        while (have < count &&
               (n = redis_pair_value_length(data + pos, len - pos)) > 0) {
            pos += (size_t)n;
            have++;
        }
        if (n < 0)
            fail_with(who, "not RESP2", data, len);
        if (have == count) {
            ck_assert_int_eq(buffer_append(out, data, pos), 0);
            buffer_retrieve(&c->in, pos);
            return;
        }
        ck_assert_int_eq(buffer_ensure_writable(&c->in, READ_CHUNK), 0);
        ssize_t got = recv(c->fd, buffer_begin_write(&c->in), READ_CHUNK, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got > 0) {
            buffer_has_written(&c->in, (size_t)got);
            continue;
        }
        char why[128];
        if (got == 0)
            snprintf(why, sizeof why, "closed after %zu of %zu replies", have,
                     count);
        else
            snprintf(why, sizeof why, "%s after %zu of %zu replies",
                     errno == EAGAIN ? "timed out" : strerror(errno), have,
                     count);
        fail_with(who, why, buffer_peek(&c->in), buffer_readable(&c->in));
    }
}

void redis_pair_expect_close(struct redis_pair_client *c, const char *who)
{
    if (buffer_readable(&c->in) > 0)
        fail_with(who, "more bytes where a close was due", buffer_peek(&c->in),
                  buffer_readable(&c->in));
    char byte[256];
    ssize_t n;
    do {
        n = recv(c->fd, byte, sizeof byte, 0);
    } while (n < 0 && errno == EINTR);
    /* A server that closes with our bytes still unread makes the kernel
     * reset the connection: that is a close too. */
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return;
    if (n > 0)
        fail_with(who, "more bytes where a close was due", byte, (size_t)n);
    ck_abort_msg("%s: no close: %s", who,
                 errno == EAGAIN ? "timed out" : strerror(errno));
}

void redis_pair_expect_silence(struct redis_pair_client *c, const char *who)
{
    if (buffer_readable(&c->in) > 0)
        fail_with(who, "bytes nobody asked for", buffer_peek(&c->in),
                  buffer_readable(&c->in));
    char byte[256];
    ssize_t n = recv(c->fd, byte, sizeof byte, MSG_DONTWAIT);
    if (n > 0)
        fail_with(who, "bytes nobody asked for", byte, (size_t)n);
}

/* --- scenarios ----------------------------------------------------------- */

static const char *const side_names[2] = {"redis-server", "momd"};

void redis_pair_encode(const char *words, struct buffer *out)
{
    size_t count = 0;
    for (const char *w = words; *w != '\0'; w += strcspn(w, " ")) {
        w += strspn(w, " ");
        count += *w != '\0';
    }
    if (count == 0)
        return;
    char line[32];
    snprintf(line, sizeof line, "*%zu\r\n", count);
    ck_assert_int_eq(buffer_append(out, line, strlen(line)), 0);
    for (const char *w = words + strspn(words, " "); *w != '\0';
         w += strspn(w, " ")) {
        size_t n = strcspn(w, " ");
        size_t len = n == 2 && memcmp(w, "''", 2) == 0 ? 0 : n;
        snprintf(line, sizeof line, "$%zu\r\n", len);
        ck_assert_int_eq(buffer_append(out, line, strlen(line)), 0);
        ck_assert_int_eq(buffer_append(out, w, len), 0);
        ck_assert_int_eq(buffer_append(out, "\r\n", 2), 0);
        w += n;
    }
}

/* A piece of a byte string, for sorting. */
struct slice {
    const char *ptr;
    size_t len;
};

static int slice_cmp(const void *a, const void *b)
{
    const struct slice *x = a;
    const struct slice *y = b;
    int c = memcmp(x->ptr, y->ptr, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Splits @p len bytes of complete values into @p out (room for @p max),
 * @p group values a slice. @return the number of slices. */
static size_t split_values(const char *data, size_t len, size_t group,
                           struct slice *out, size_t max)
{
    size_t n = 0;
    size_t pos = 0;
    while (pos < len) {
        ck_assert_uint_lt(n, max);
        out[n].ptr = data + pos;
        for (size_t g = 0; g < group && pos < len; g++) {
            ssize_t one = redis_pair_value_length(data + pos, len - pos);
            ck_assert_int_gt(one, 0);
            pos += (size_t)one;
        }
        out[n].len = (size_t)(data + pos - out[n].ptr);
        n++;
    }
    return n;
}

/* Copies one complete value, the values at places @p mask and @p taken
 * (1-based, in reading order; 0: none) written as their type and '#'
 * only; the value at place @p taken goes whole to @p took. */
static void copy_masked(const char *data, size_t len, int mask, int taken,
                        struct buffer *out, struct buffer *took)
{
    size_t pending = 1;
    size_t pos = 0;
    for (int place = 1; pending > 0; place++) {
        const char *cr = memchr(data + pos, '\r', len - pos);
        ck_assert_ptr_nonnull(cr);
        size_t end = (size_t)(cr - data) + 2;
        long long n = 0;
        if (data[pos] == '$' || data[pos] == '*')
            n = strtoll(data + pos + 1, NULL, 10);
        if (data[pos] == '$' && n >= 0)
            end += (size_t)n + 2;
        pending--;
        if (data[pos] == '*' && n > 0)
            pending += (size_t)n;
        if (place == taken && data[pos] != '*')
            ck_assert_int_eq(buffer_append(took, data + pos, end - pos), 0);
        if ((place == mask || place == taken) && data[pos] != '*') {
            ck_assert_int_eq(buffer_append(out, data + pos, 1), 0);
            ck_assert_int_eq(buffer_append(out, "#\r\n", 3), 0);
        } else {
            ck_assert_int_eq(buffer_append(out, data + pos, end - pos), 0);
        }
        pos = end;
    }
}

/* What a step's replies are compared as: each reply masked and its
 * elements sorted as the step says, the replies sorted for ANY_ORDER. */
static void canonical(const struct redis_pair_step *st, const char *data,
                      size_t len, struct buffer *out)
{
    /* Whole values only: anything else is shown as it came. */
    ssize_t whole = count_values(data, len);
    size_t sum = 0;
    for (ssize_t i = 0; i < whole; i++)
        sum += (size_t)redis_pair_value_length(data + sum, len - sum);
    if (whole <= 0 || sum != len) {
        ck_assert_int_eq(buffer_append(out, data, len), 0);
        return;
    }
    size_t max = (size_t)whole;
    struct slice *replies = calloc(max, sizeof *replies);
    ck_assert_ptr_nonnull(replies);
    size_t n = split_values(data, len, 1, replies, max);
    struct buffer *each = calloc(n + 1, sizeof *each);
    ck_assert_ptr_nonnull(each);
    struct buffer sequence;
    buffer_init(&sequence);
    int taken = st->how == REDIS_PAIR_ANY_ORDER ? st->in_order : 0;
    for (size_t i = 0; i < n; i++) {
        struct buffer masked;
        buffer_init(&masked);
        copy_masked(replies[i].ptr, replies[i].len, st->mask, taken, &masked,
                    &sequence);
        buffer_init(&each[i]);
        const char *m = buffer_peek(&masked);
        size_t mlen = buffer_readable(&masked);
        if (st->how == REDIS_PAIR_ELEMENTS && m[0] == '*') {
            size_t head = (size_t)((const char *)memchr(m, '\n', mlen) - m) + 1;
            size_t room = mlen / 4 + 1; /* an element takes 4 bytes or more */
            struct slice *elems = calloc(room, sizeof *elems);
            ck_assert_ptr_nonnull(elems);
            size_t k = split_values(m + head, mlen - head,
                                    st->group > 0 ? (size_t)st->group : 1,
                                    elems, room);
            qsort(elems, k, sizeof *elems, slice_cmp);
            ck_assert_int_eq(buffer_append(&each[i], m, head), 0);
            for (size_t j = 0; j < k; j++)
                ck_assert_int_eq(
                    buffer_append(&each[i], elems[j].ptr, elems[j].len), 0);
            free(elems);
        } else {
            ck_assert_int_eq(buffer_append(&each[i], m, mlen), 0);
        }
        buffer_destroy(&masked);
        replies[i].ptr = buffer_peek(&each[i]);
        replies[i].len = buffer_readable(&each[i]);
    }
    if (st->how == REDIS_PAIR_ANY_ORDER)
        qsort(replies, n, sizeof *replies, slice_cmp);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(buffer_append(out, replies[i].ptr, replies[i].len), 0);
    ck_assert_int_eq(buffer_append(out, "|", 1), 0);
    ck_assert_int_eq(
        buffer_append(out, buffer_peek(&sequence), buffer_readable(&sequence)),
        0);
    buffer_destroy(&sequence);
    for (size_t i = 0; i < n; i++)
        buffer_destroy(&each[i]);
    free(each);
    free(replies);
}

static const char *escaped(const char *data, size_t len, struct buffer *out)
{
    buffer_retrieve_all(out);
    redis_pair_escape(data, len, SHOW_MAX, out);
    ck_assert_int_eq(buffer_append(out, "", 1), 0);
    return buffer_peek(out);
}

static void compare(const struct redis_pair_step *st, size_t index,
                    const struct buffer *req, struct buffer got[2])
{
    struct buffer canon[2];
    for (int side = 0; side < 2; side++) {
        buffer_init(&canon[side]);
        canonical(st, buffer_peek(&got[side]), buffer_readable(&got[side]),
                  &canon[side]);
    }
    bool same = buffer_readable(&canon[0]) == buffer_readable(&canon[1]) &&
                memcmp(buffer_peek(&canon[0]), buffer_peek(&canon[1]),
                       buffer_readable(&canon[0])) == 0;
    buffer_destroy(&canon[0]);
    buffer_destroy(&canon[1]);
    if (same)
        return;
    struct buffer shown[3];
    for (int i = 0; i < 3; i++)
        buffer_init(&shown[i]);
    static const char *const how[] = {"byte for byte", "in any order",
                                      "with elements in any order"};
    ck_abort_msg("step %zu, connection %d, request \"%s\": compared %s%s, "
                 "redis-server sent \"%s\" but momd sent \"%s\"",
                 index, st->conn,
                 escaped(buffer_peek(req), buffer_readable(req), &shown[0]),
                 how[st->how], st->mask > 0 ? " (one value masked)" : "",
                 escaped(buffer_peek(&got[0]), buffer_readable(&got[0]),
                         &shown[1]),
                 escaped(buffer_peek(&got[1]), buffer_readable(&got[1]),
                         &shown[2]));
}

/* Sends the step's request on one side and reads what it must send back
 * into @p got (emptied first). */
static void exchange(struct redis_pair *p, int side,
                     const struct redis_pair_step *st, const struct buffer *req,
                     struct buffer *got)
{
    struct redis_pair_client *c = &p->clients[side][st->conn];
    if (c->fd < 0)
        c->fd = redis_pair_connect(p, side == 0 ? REDIS_PAIR_REDIS
                                                : REDIS_PAIR_BROKER);
    int rc = redis_pair_send(c->fd, buffer_peek(req), buffer_readable(req));
    /* A server that closes when it has seen enough may do so before the
     * whole request is written. */
    ck_assert_msg(rc == 0 || st->closes, "%s closed connection %d: %s",
                  side_names[side], st->conn, strerror(-rc));
    buffer_retrieve_all(got);
    if (st->replies > 0)
        redis_pair_read_replies(c, (size_t)st->replies, got, side_names[side]);
    if (st->closes) {
        redis_pair_expect_close(c, side_names[side]);
        test_close(c->fd);
        c->fd = -1;
    }
}

void redis_pair_run(struct redis_pair *p, const struct redis_pair_step *steps,
                    size_t count)
{
    struct buffer req;
    struct buffer got[2];
    buffer_init(&req);
    buffer_init(&got[0]);
    buffer_init(&got[1]);
    for (size_t i = 0; i < count; i++) {
        const struct redis_pair_step *st = &steps[i];
        ck_assert_msg(st->conn >= 0 && st->conn < REDIS_PAIR_CONNS,
                      "step %zu: no connection %d", i, st->conn);
        buffer_retrieve_all(&req);
        if (st->cmd != NULL)
            redis_pair_encode(st->cmd, &req);
        else if (st->raw_len > 0)
            ck_assert_int_eq(buffer_append(&req, st->raw, st->raw_len), 0);
        if (st->ours != NULL) {
            exchange(p, 1, st, &req, &got[1]);
            struct buffer shown[2];
            buffer_init(&shown[0]);
            buffer_init(&shown[1]);
            size_t want = strlen(st->ours);
            ck_assert_msg(buffer_readable(&got[1]) == want &&
                              memcmp(buffer_peek(&got[1]), st->ours, want) == 0,
                          "step %zu: momd sent \"%s\" where \"%s\" was due", i,
                          escaped(buffer_peek(&got[1]),
                                  buffer_readable(&got[1]), &shown[0]),
                          escaped(st->ours, want, &shown[1]));
            buffer_destroy(&shown[0]);
            buffer_destroy(&shown[1]);
            continue;
        }
        exchange(p, 0, st, &req, &got[0]);
        exchange(p, 1, st, &req, &got[1]);
        compare(st, i, &req, got);
    }
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < REDIS_PAIR_CONNS; i++) {
            struct redis_pair_client *c = &p->clients[side][i];
            if (c->fd < 0)
                continue;
            redis_pair_expect_silence(c, side_names[side]);
            test_close(c->fd);
            c->fd = -1;
        }
    }
    buffer_destroy(&req);
    buffer_destroy(&got[0]);
    buffer_destroy(&got[1]);
}
