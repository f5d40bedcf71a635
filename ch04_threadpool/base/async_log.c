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

    /* Guarded by mutex. Lock order: mutex is a leaf. */
    pthread_mutex_t mutex;
    pthread_cond_t wake;    /* to the back end: a buffer filled, flush, stop */
    pthread_cond_t flushed; /* to flushers: flush_done moved */
    struct log_buffer *current;
    struct log_buffer *next; /* the spare the front end switches to */
    struct batch full;
    bool running;
    uint64_t flush_requested;
    uint64_t flush_done;
    uint64_t dropped_bytes;
    uint64_t file_count;

    /* Back-end thread only. */
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
                                              batch->len + 1, sizeof *items);
    if (items == NULL)
        return -ENOMEM;
    batch->items = items;
    batch->items[batch->len++] = b;
    return 0;
}

/* --- the front end ------------------------------------------------------- */

void async_log_append(struct async_log *al, const char *line, size_t len)
{
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

/* Waits until everything appended so far is written to the file. */
static void sink_flush(void *ctx)
{
    struct async_log *al = ctx;
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

/* Writes the batch; returns the bytes that could not be written. */
static uint64_t write_batch(struct async_log *al, const struct batch *batch)
{
    uint64_t lost = 0;
    for (size_t i = 0; i < batch->len; i++) {
        const struct log_buffer *b = batch->items[i];
        lost += b->len - log_file_append(al->file, b->data, b->len);
    }
    return lost;
}

static void *back_end(void *arg)
{
    struct async_log *al = arg;
    size_t size = al->opt.buffer_size;
    struct log_buffer *spare1 = log_buffer_new(size);
    struct log_buffer *spare2 = log_buffer_new(size);
    struct batch batch = {NULL, 0, 0};
    for (;;) {
        pthread_mutex_lock(&al->mutex);
        if (al->running && al->full.len == 0 &&
            al->flush_requested == al->flush_done) {
            struct timespec deadline;
            deadline_after_ms(&deadline, al->opt.flush_interval_ms);
            pthread_cond_timedwait(&al->wake, &al->mutex, &deadline);
        }
        bool stopping = !al->running;
        uint64_t ticket = al->flush_requested;
        /* Take the partly filled current buffer too, and give the front
         * end a fresh one: the lock is held for a few pointer moves. When
         * memory has run out, the front end is left with none, and makes
         * one itself (or counts its lines as dropped). */
        if (al->current != NULL && al->current->len > 0 &&
            batch_push(&al->full, al->current) == 0)
            al->current = NULL;
        if (al->current == NULL) {
            al->current = spare1 != NULL ? spare1 : log_buffer_new(size);
            spare1 = NULL;
        }
        struct batch taken = al->full;
        al->full = batch; /* an empty list with capacity */
        batch = taken;
        if (al->next == NULL) {
            al->next = spare2;
            spare2 = NULL;
        }
        pthread_mutex_unlock(&al->mutex);

        char note[256];
        int note_len = 0;
        if (batch.len > (size_t)al->opt.max_backlog)
            note_len = drop_backlog(al, &batch, note, sizeof note);
        uint64_t lost = write_batch(al, &batch);
        if (note_len > 0)
            (void)log_file_append(al->file, note, (size_t)note_len);
        /* Keep two buffers as the next spares, free the others. */
        for (size_t i = 0; i < batch.len; i++) {
            struct log_buffer *b = batch.items[i];
            b->len = 0;
            if (spare1 == NULL)
                spare1 = b;
            else if (spare2 == NULL)
                spare2 = b;
            else
                free(b);
        }
        batch.len = 0;

        pthread_mutex_lock(&al->mutex);
        al->dropped_bytes += lost;
        al->flush_done = ticket;
        al->file_count = log_file_count(al->file);
        pthread_cond_broadcast(&al->flushed);
        pthread_mutex_unlock(&al->mutex);
        if (stopping)
            break;
    }
    free(spare1);
    free(spare2);
    free(batch.items);
    return NULL;
}

/* --- life ---------------------------------------------------------------- */

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
        al->file_count = 1;
        err = pthread_create(&al->thread, NULL, back_end, al);
        if (err != 0) {
            pthread_cond_destroy(&al->flushed);
            pthread_cond_destroy(&al->wake);
            pthread_mutex_destroy(&al->mutex);
        }
    }
    if (err != 0) {
        log_file_close(al->file);
        free(al->current);
        free(al->next);
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
    pthread_mutex_lock(&al->mutex);
    uint64_t bytes = al->dropped_bytes;
    pthread_mutex_unlock(&al->mutex);
    return bytes;
}

uint64_t async_log_file_count(struct async_log *al)
{
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
    pthread_mutex_lock(&al->mutex);
    al->running = false;
    pthread_cond_signal(&al->wake);
    pthread_mutex_unlock(&al->mutex);
    pthread_join(al->thread, NULL); /* its last pass writes everything */
    log_file_close(al->file);
    free(al->current);
    free(al->next);
    for (size_t i = 0; i < al->full.len; i++)
        free(al->full.items[i]);
    free(al->full.items);
    pthread_cond_destroy(&al->flushed);
    pthread_cond_destroy(&al->wake);
    pthread_mutex_destroy(&al->mutex);
    free(al);
}
