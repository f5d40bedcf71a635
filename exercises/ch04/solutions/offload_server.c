/* A reference answer to exercise 04.5 (exercises/ch04/README.md).
 *
 * A connection has at most one request away at a time. Its loop takes
 * the next line from the input, queues it to a worker (a loop thread of
 * its own, whose pending queue is the job queue) and stops reading; the
 * worker runs the work and queues the reply back to the connection's
 * loop, which sends it and takes the next line, or reads again when
 * there is none. So the replies keep the order of the requests with no
 * sorting, a client that pipelines is slowed down by TCP flow control
 * instead of filling the server's memory, and every step that touches
 * the connection runs in its own loop. What crosses threads is one job:
 * the request, the reply and a reference to the connection, which may
 * close while the job is away.
 *
 * The workers are picked round-robin: a job may wait behind a slow one
 * while another worker is idle. A pool with one shared queue (a mutex, a
 * condition variable, N threads taking jobs from it) would not; a loop
 * thread was chosen here because it is what the chapter gives. */
#include "offload_server.h"

#include "net/event_loop.h"
#include "net/event_loop_thread.h"
#include "net/tcp_conn.h"
#include "net/tcp_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct offload_server {
    struct tcp_server *tcp;
    struct offload_options options;
    /* Written by offload_server_start() before the I/O threads exist;
     * read by them after (a connection reaches its loop through the
     * loop's queue, which orders the two). */
    struct event_loop_thread **workers;
    int nworkers; /* started so far */
    atomic_uint next_worker;
    atomic_uint_fast64_t dropped_replies;

    /* Jobs are queued to the workers under the gate, and
     * offload_server_free() closes it before it stops them: a worker
     * that is being freed gets nothing more. closing is written under
     * the gate, and read without it by the workers, which only use it to
     * skip work nobody will read. */
    pthread_mutex_t gate;
    atomic_bool closing;
};

/* One request on its way to a worker and back. */
struct job {
    struct offload_server *server;
    struct tcp_conn *conn; /* a reference, dropped with the job */
    struct buffer reply;
    size_t len;
    char request[]; /* without its '\n' */
};

static void job_free(struct job *job)
{
    buffer_destroy(&job->reply);
    tcp_conn_unref(job->conn); /* may be the last: any thread may drop it */
    free(job);
}

static void next_request(struct offload_server *s, struct tcp_conn *conn,
                         struct buffer *input);

/* In the connection's loop: the reply is back. */
static void deliver(struct event_loop *loop, void *ctx)
{
    struct job *job = ctx;
    (void)loop;
    if (tcp_conn_connected(job->conn)) {
        (void)tcp_conn_send_buffer(job->conn, &job->reply);
        next_request(job->server, job->conn, tcp_conn_input(job->conn));
    } else {
        atomic_fetch_add(&job->server->dropped_replies, 1);
    }
    job_free(job);
}

/* In a worker. The I/O loops outlive the workers (offload_server_free()
 * stops the workers first), so the way back is always open. */
static void work(struct event_loop *loop, void *ctx)
{
    struct job *job = ctx;
    struct offload_server *s = job->server;
    (void)loop;
    if (atomic_load(&s->closing)) { /* not started before the free */
        job_free(job);
        return;
    }
    s->options.work(job->request, job->len, &job->reply, s->options.ctx);
    if (event_loop_queue(tcp_conn_loop(job->conn), deliver, job) != 0) {
        /* No memory for the way back: the connection would wait for
         * ever for this reply, and every later one. */
        atomic_fetch_add(&s->dropped_replies, 1);
        tcp_conn_force_close(job->conn);
        job_free(job);
    }
}

/* In the connection's loop: hands the next whole line of @p input to a
 * worker and stops reading until its reply is back; with no whole line,
 * reads on. */
static void next_request(struct offload_server *s, struct tcp_conn *conn,
                         struct buffer *input)
{
    const char *eol = buffer_find_eol(input);
    size_t len = eol != NULL ? (size_t)(eol - buffer_peek(input))
                             : buffer_readable(input);
    if (len > OFFLOAD_LINE_MAX) {
        buffer_retrieve_all(input);
        tcp_conn_force_close(conn);
        return;
    }
    if (eol == NULL) {
        tcp_conn_start_read(conn);
        return;
    }
    struct job *job = malloc(sizeof *job + len);
    if (job == NULL) {
        tcp_conn_force_close(conn); /* a request without a reply */
        return;
    }
    tcp_conn_ref(conn);
    *job = (struct job){.server = s, .conn = conn, .len = len};
    buffer_init(&job->reply);
    memcpy(job->request, buffer_peek(input), len);
    buffer_retrieve(input, len + 1);
    tcp_conn_stop_read(conn);
    pthread_mutex_lock(&s->gate);
    int err = -ESHUTDOWN;
    if (!atomic_load(&s->closing)) {
        unsigned pick = atomic_fetch_add(&s->next_worker, 1);
        struct event_loop_thread *w = s->workers[pick % (unsigned)s->nworkers];
        err = event_loop_queue(event_loop_thread_loop(w), work, job);
    }
    pthread_mutex_unlock(&s->gate);
    if (err != 0) {
        job_free(job);
        if (err != -ESHUTDOWN) /* closing: the connection goes anyway */
            tcp_conn_force_close(conn);
    }
}

static void on_message(struct tcp_conn *conn, struct buffer *input,
                       int64_t receive_time_us, void *ctx)
{
    (void)receive_time_us;
    /* Reading is on, so no request of this connection is away. */
    next_request(ctx, conn, input);
}

struct offload_server *
offload_server_new(struct event_loop *loop,
                   const struct inet_address *listen_addr,
                   const struct offload_options *options)
{
    if (options == NULL || options->work == NULL || options->io_threads < 1 ||
        options->io_threads > OFFLOAD_MAX_THREADS || options->workers < 1 ||
        options->workers > OFFLOAD_MAX_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    struct offload_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->options = *options;
    s->workers =
        calloc((size_t)options->workers, sizeof(struct event_loop_thread *));
    if (s->workers == NULL) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->tcp = tcp_server_new(loop, listen_addr, "offload", 0);
    if (s->tcp == NULL) {
        int err = errno;
        free(s->workers);
        free(s);
        errno = err;
        return NULL;
    }
    pthread_mutex_init(&s->gate, NULL);
    struct tcp_callbacks cb = {.on_message = on_message, .ctx = s};
    tcp_server_set_callbacks(s->tcp, &cb);
    tcp_server_set_thread_count(s->tcp, options->io_threads);
    return s;
}

int offload_server_start(struct offload_server *server)
{
    /* The workers first: once listening, requests need them. A start
     * retried after a failure starts only those still missing. */
    while (server->nworkers < server->options.workers) {
        struct event_loop_thread *w = event_loop_thread_new(NULL, NULL);
        if (w == NULL)
            return -errno;
        server->workers[server->nworkers++] = w;
    }
    return tcp_server_start(server->tcp);
}

int offload_server_listen_address(const struct offload_server *server,
                                  struct inet_address *addr)
{
    return tcp_server_listen_address(server->tcp, addr);
}

size_t offload_server_connection_count(const struct offload_server *server)
{
    return tcp_server_connection_count(server->tcp);
}

uint64_t offload_server_dropped_replies(const struct offload_server *server)
{
    return atomic_load(&server->dropped_replies);
}

void offload_server_free(struct offload_server *server)
{
    if (server == NULL)
        return;
    pthread_mutex_lock(&server->gate);
    atomic_store(&server->closing, true);
    pthread_mutex_unlock(&server->gate);
    /* The workers first, while the I/O loops still run: a worker in the
     * middle of a job finishes it and queues the reply to a loop that is
     * still there. Each join waits for that; the jobs still queued are
     * dropped as the worker's loop is freed. */
    for (int i = 0; i < server->nworkers; i++)
        event_loop_thread_free(server->workers[i]);
    /* Then the I/O threads: their loops deliver the replies queued
     * above (the connections are still up) and destroy every
     * connection. */
    tcp_server_free(server->tcp);
    pthread_mutex_destroy(&server->gate);
    free(server->workers);
    free(server);
}
