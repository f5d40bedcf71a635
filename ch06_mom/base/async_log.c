#include "base/async_log.h"

#include "base/array.h"
#include "base/assertion.h"
#include "base/log_file.h"
#include "base/timestamp.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct log_buffer {
    size_t len;
    char data[];
};

/* Buffers in the order they filled: a growable array (base/array.h). */
struct batch {
    struct log_buffer **items;
    size_t len, capacity;
};

struct async_log {
    /* Immutable after new. */
    struct async_log_options opt;
    struct log_sink sink;
    pthread_t thread;
    pid_t owner; /* the process whose thread is the back end */

    /* Guarded by mutex. Lock order: mutex is a leaf. */
    pthread_mutex_t mutex;
    pthread_cond_t wake;    /* to the back end: a buffer filled, flush, stop */
    pthread_cond_t flushed; /* to flushers: flush_done moved */
    struct log_buffer *current;
    struct log_buffer *next; /* the spare the front end switches to */
    struct batch full;
    bool running;
    bool busy; /* the back end is not waiting (see its own fields) */
    uint64_t flush_requested;
    uint64_t flush_done;
    uint64_t dropped_bytes;
    uint64_t file_count;

    /* The back end's own: changed by its thread only while busy is set,
     * and by async_log_free() after the thread is gone. */
    struct log_buffer *spare1, *spare2; /* to give the front end */
    struct batch writing; /* what it took; empty, with capacity, between */
    struct log_file *file;
};

static struct log_buffer *log_buffer_new(size_t size)
{
    struct log_buffer *b = malloc(sizeof *b + size);
    if (b != NULL)
        b->len = 0;
    return b;
}

static int batch_push(struct batch *batch, struct log_buffer *b)
{
    struct log_buffer **items = array_reserve(batch->items, &batch->capacity,
                                              batch->len + 1,
                                              sizeof(struct log_buffer *));
    if (items == NULL)
        return -ENOMEM;
    batch->items = items;
    batch->items[batch->len++] = b;
    return 0;
}

/* --- fork() ---------------------------------------------------------------
 * A child made by fork() has only the thread that called fork(): a
 * logger's back end stays in the parent. The child's copy of the logger
 * must then neither wait for the back end nor touch the mutex (another
 * thread may have held it at the fork), so each logger records the process
 * it was made in, and this_process follows fork() (pthread_atfork), which
 * costs a load per line where getpid() would cost a system call. */

static pid_t this_process;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void note_child_process(void)
{
    this_process = getpid();
}

static void install_fork_handler(void)
{
    this_process = getpid();
    (void)pthread_atfork(NULL, NULL, note_child_process);
}

/* False in a child made by fork() after the logger was. */
static bool back_end_here(const struct async_log *al)
{
    return al->owner == this_process;
}

/* A child's lines: one write(2) each to stderr, nothing buffered, so a
 * child that exits, normally or not, loses none. */
static void write_to_stderr(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report it */
        line += n;
        len -= (size_t)n;
    }
}

/* --- the front end ------------------------------------------------------- */

void async_log_append(struct async_log *al, const char *line, size_t len)
{
    if (!back_end_here(al)) {
        write_to_stderr(line, len);
        return;
    }
    size_t size = al->opt.buffer_size;
    pthread_mutex_lock(&al->mutex);
    struct log_buffer *cur = al->current;
    if (len <= size && (cur == NULL || cur->len + len > size)) {
        /* Full, or none since memory ran out: hand it to the back end and
         * switch to the spare. */
        if (cur == NULL || batch_push(&al->full, cur) == 0) {
            al->current = al->next != NULL ? al->next : log_buffer_new(size);
            al->next = NULL;
            if (cur != NULL)
                pthread_cond_signal(&al->wake);
        }
        cur = al->current;
    }
    if (cur != NULL && cur->len + len <= size) {
        memcpy(cur->data + cur->len, line, len);
        cur->len += len;
    } else {
        al->dropped_bytes += len; /* no memory, or longer than a buffer */
    }
    pthread_mutex_unlock(&al->mutex);
}

static void sink_output(const char *line, size_t len, void *ctx)
{
    async_log_append(ctx, line, len);
}

/* Waits until everything appended so far is written to the file. In a
 * child there is nothing to wait for: its lines went to stderr at once. */
static void sink_flush(void *ctx)
{
    struct async_log *al = ctx;
    if (!back_end_here(al))
        return;
    pthread_mutex_lock(&al->mutex);
    uint64_t ticket = ++al->flush_requested;
    pthread_cond_signal(&al->wake);
    while (al->running && al->flush_done < ticket)
        pthread_cond_wait(&al->flushed, &al->mutex);
    pthread_mutex_unlock(&al->mutex);
}

/* --- the back end ---------------------------------------------------------- */

/* On the monotonic clock, like the condition variable (see start): a
 * change of the wall clock neither stretches nor shortens the wait. */
static void deadline_after_ms(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Too many buffers waiting: the writer cannot keep up. Keep the first two
 * (the oldest lines, which explain how it started) and drop the rest. The
 * line that says so goes into @p note, to be written after the two. */
static int drop_backlog(struct async_log *al, struct batch *batch, char *note,
                        size_t cap)
{
    uint64_t bytes = 0;
    size_t dropped = batch->len - 2;
    for (size_t i = 2; i < batch->len; i++) {
        bytes += batch->items[i]->len;
        free(batch->items[i]);
    }
    batch->len = 2;
    char when[TIMESTAMP_FORMAT_LEN];
    int n = snprintf(note, cap,
                     "%s async_log: dropped %zu buffers (%llu bytes) of log "
                     "lines: the writer could not keep up\n",
                     timestamp_format(timestamp_wall_us(), when), dropped,
                     (unsigned long long)bytes);
    pthread_mutex_lock(&al->mutex);
    al->dropped_bytes += bytes;
    pthread_mutex_unlock(&al->mutex);
    return n;
}

/* Writes one buffer; returns the bytes that could not be written. */
static uint64_t write_buffer(struct async_log *al, const struct log_buffer *b)
{
    return b->len - log_file_append(al->file, b->data, b->len);
}

/* Keeps a written buffer as one of the two spares, or frees it. */
static void recycle(struct async_log *al, struct log_buffer *b)
{
    b->len = 0;
    if (al->spare1 == NULL)
        al->spare1 = b;
    else if (al->spare2 == NULL)
        al->spare2 = b;
    else
        free(b);
}

static void *back_end(void *arg)
{
    struct async_log *al = arg;
    size_t size = al->opt.buffer_size;
    struct batch *batch = &al->writing;
    /* The spares are made here, in this thread. Made in async_log_new()
     * beside the front end's two, all four went back to the system
     * together when a logger was freed (glibc trims its heap), and the
     * next logger's front end waited for page faults: a p99 of 1.8 us
     * instead of 0.2 in log_bench. Missing ones are made when needed. */
    al->spare1 = log_buffer_new(size);
    al->spare2 = log_buffer_new(size);
    for (;;) {
        pthread_mutex_lock(&al->mutex);
        if (al->running && al->full.len == 0 &&
            al->flush_requested == al->flush_done) {
            struct timespec deadline;
            deadline_after_ms(&deadline, al->opt.flush_interval_ms);
            al->busy = false;
            pthread_cond_timedwait(&al->wake, &al->mutex, &deadline);
            al->busy = true;
        }
        bool stopping = !al->running;
        uint64_t ticket = al->flush_requested;
        /* Take the partly filled current buffer too, and give the front
         * end a fresh one: the lock is held for a few pointer moves. When
         * memory has run out, the front end is left with none, and makes
         * one itself (or counts its lines as dropped). If the list cannot
         * grow to take the current buffer, it is taken all the same, as
         * unlisted, and written after the list: a flush, and the last pass
         * on stop, leave no line behind. */
        struct log_buffer *unlisted = NULL;
        if (al->current != NULL && al->current->len > 0) {
            if (batch_push(&al->full, al->current) != 0)
                unlisted = al->current;
            al->current = NULL;
        }
        if (al->current == NULL) {
            al->current =
                al->spare1 != NULL ? al->spare1 : log_buffer_new(size);
            al->spare1 = NULL;
        }
        struct batch taken = al->full;
        al->full = *batch; /* an empty list with capacity */
        *batch = taken;
        if (al->next == NULL) {
            al->next = al->spare2;
            al->spare2 = NULL;
        }
        pthread_mutex_unlock(&al->mutex);

        char note[256];
        int note_len = 0;
        if (batch->len > (size_t)al->opt.max_backlog)
            note_len = drop_backlog(al, batch, note, sizeof note);
        uint64_t lost = 0;
        for (size_t i = 0; i < batch->len; i++)
            lost += write_buffer(al, batch->items[i]);
        if (note_len > 0)
            (void)log_file_append(al->file, note, (size_t)note_len);
        if (unlisted != NULL)
            lost += write_buffer(al, unlisted); /* the newest lines */
        /* Keep two buffers as the next spares, free the others. */
        for (size_t i = 0; i < batch->len; i++)
            recycle(al, batch->items[i]);
        batch->len = 0;
        if (unlisted != NULL)
            recycle(al, unlisted);

        pthread_mutex_lock(&al->mutex);
        al->dropped_bytes += lost;
        al->flush_done = ticket;
        al->file_count = log_file_count(al->file);
        pthread_cond_broadcast(&al->flushed);
        pthread_mutex_unlock(&al->mutex);
        if (stopping)
            break;
    }
    return NULL;
}

/* --- life ---------------------------------------------------------------- */

/* Frees every buffer and the file: after the back end is gone, or in a
 * child whose copy is whole. */
static void free_contents(struct async_log *al)
{
    log_file_close(al->file);
    free(al->current);
    free(al->next);
    free(al->spare1);
    free(al->spare2);
    for (size_t i = 0; i < al->full.len; i++)
        free(al->full.items[i]);
    free(al->full.items);
    for (size_t i = 0; i < al->writing.len; i++)
        free(al->writing.items[i]);
    free(al->writing.items);
}

struct async_log *async_log_new(const struct async_log_options *options)
{
    struct async_log_options opt = *options;
    if (opt.roll_size == 0)
        opt.roll_size = ASYNC_LOG_DEFAULT_ROLL_SIZE;
    if (opt.flush_interval_ms <= 0)
        opt.flush_interval_ms = ASYNC_LOG_DEFAULT_FLUSH_MS;
    if (opt.buffer_size == 0)
        opt.buffer_size = ASYNC_LOG_DEFAULT_BUFFER_SIZE;
    if (opt.max_backlog <= 0)
        opt.max_backlog = ASYNC_LOG_DEFAULT_MAX_BACKLOG;
    if (opt.basename == NULL || opt.buffer_size < LOG_LINE_MAX ||
        opt.buffer_size > ASYNC_LOG_MAX_BUFFER_SIZE || opt.max_backlog < 2) {
        errno = EINVAL;
        return NULL;
    }
    struct async_log *al = calloc(1, sizeof *al);
    if (al == NULL)
        return NULL;
    (void)pthread_once(&fork_handler_once, install_fork_handler);
    al->owner = this_process;
    al->opt = opt;
    al->sink = (struct log_sink){sink_output, sink_flush, al};
    al->current = log_buffer_new(opt.buffer_size);
    al->next = log_buffer_new(opt.buffer_size);
    al->file = log_file_open(opt.basename, opt.roll_size);
    int err = al->current == NULL || al->next == NULL ? ENOMEM : 0;
    if (err == 0 && al->file == NULL)
        err = errno;
    if (err == 0) {
        pthread_mutex_init(&al->mutex, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&al->wake, &attr);
        pthread_condattr_destroy(&attr);
        pthread_cond_init(&al->flushed, NULL);
        al->running = true;
        al->busy = true; /* until the back end first waits */
        al->file_count = 1;
        err = pthread_create(&al->thread, NULL, back_end, al);
        if (err != 0) {
            pthread_cond_destroy(&al->flushed);
            pthread_cond_destroy(&al->wake);
            pthread_mutex_destroy(&al->mutex);
        }
    }
    if (err != 0) {
        free_contents(al);
        free(al);
        errno = err;
        return NULL;
    }
    return al;
}

const struct log_sink *async_log_sink(struct async_log *al)
{
    return &al->sink;
}

uint64_t async_log_dropped_bytes(struct async_log *al)
{
    if (!back_end_here(al))
        return al->dropped_bytes; /* as at the fork: a child adds none */
    pthread_mutex_lock(&al->mutex);
    uint64_t bytes = al->dropped_bytes;
    pthread_mutex_unlock(&al->mutex);
    return bytes;
}

uint64_t async_log_file_count(struct async_log *al)
{
    if (!back_end_here(al))
        return al->file_count; /* as at the fork: a child starts none */
    pthread_mutex_lock(&al->mutex);
    uint64_t count = al->file_count;
    pthread_mutex_unlock(&al->mutex);
    return count;
}

void async_log_free(struct async_log *al)
{
    if (al == NULL)
        return;
    if (log_get_sink() == &al->sink)
        log_set_sink(NULL);
    if (!back_end_here(al)) {
        /* A child's copy. The back end stayed in the parent, which writes
         * what was buffered before the fork. The copy is whole unless
         * another thread was changing it at the fork (held the lock, or
         * the back end was not waiting): then it is left as it is, since
         * freeing half-changed lists could free a buffer twice. The copied
         * lock and condition variables are not destroyed: their waiters
         * stayed in the parent. */
        if (pthread_mutex_trylock(&al->mutex) != 0 || al->busy)
            return;
        free_contents(al);
        free(al);
        return;
    }
    pthread_mutex_lock(&al->mutex);
    al->running = false;
    pthread_cond_signal(&al->wake);
    pthread_mutex_unlock(&al->mutex);
    pthread_join(al->thread, NULL); /* its last pass writes everything */
    free_contents(al);
    pthread_cond_destroy(&al->flushed);
    pthread_cond_destroy(&al->wake);
    pthread_mutex_destroy(&al->mutex);
    free(al);
}
