/* A reference answer to exercise 04.2 (exercises/ch04/README.md).
 *
 * The lines sit back to back in one circular array of bytes: the oldest
 * at head, size bytes in all. A new line that does not fit pushes out
 * whole lines from the head (each ends in '\n', so the next one starts
 * after it) until it does. Front ends in any thread append under one
 * mutex: a copy, no allocation, no system call, as the chapter's
 * asynchronous back end does. A dump does what that back end does with
 * its buffers: it takes the bytes out under the lock (here a copy, since
 * the lines stay) and writes without it. */
#include "log_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct log_ring {
    struct log_sink sink; /* immutable after log_ring_new() */
    size_t capacity;      /* likewise */
    atomic_uint_fast64_t dropped;

    pthread_mutex_t mutex; /* guards what follows */
    size_t head;           /* where the oldest line starts */
    size_t size;           /* bytes held, from head on, wrapping */
    char *bytes;           /* capacity bytes */
};

/* Copies @p len bytes out of the ring, from @p at on, wrapping. */
static void copy_out(const struct log_ring *r, size_t at, char *out, size_t len)
{
    size_t first = r->capacity - at < len ? r->capacity - at : len;
    memcpy(out, r->bytes + at, first);
    memcpy(out + first, r->bytes, len - first);
}

static void copy_in(struct log_ring *r, size_t at, const char *in, size_t len)
{
    size_t first = r->capacity - at < len ? r->capacity - at : len;
    memcpy(r->bytes + at, in, first);
    memcpy(r->bytes, in + first, len - first);
}

/* Drops the oldest line. Under the mutex, with size > 0. */
static void drop_oldest(struct log_ring *r)
{
    size_t first =
        r->capacity - r->head < r->size ? r->capacity - r->head : r->size;
    const char *eol = memchr(r->bytes + r->head, '\n', first);
    size_t len;
    if (eol != NULL) {
        len = (size_t)(eol - (r->bytes + r->head)) + 1;
    } else { /* the line wraps: its end is in the front part */
        eol = memchr(r->bytes, '\n', r->size - first);
        len = first + (size_t)(eol - r->bytes) + 1;
    }
    r->head = (r->head + len) % r->capacity;
    r->size -= len;
}

void log_ring_append(struct log_ring *ring, const char *line, size_t len)
{
    if (len == 0 || len > ring->capacity || line[len - 1] != '\n') {
        atomic_fetch_add(&ring->dropped, 1);
        return;
    }
    pthread_mutex_lock(&ring->mutex);
    while (ring->capacity - ring->size < len)
        drop_oldest(ring);
    copy_in(ring, (ring->head + ring->size) % ring->capacity, line, len);
    ring->size += len;
    pthread_mutex_unlock(&ring->mutex);
}

static void ring_output(const char *line, size_t len, void *ctx)
{
    log_ring_append(ctx, line, len);
}

struct log_ring *log_ring_new(size_t capacity)
{
    if (capacity < LOG_RING_MIN || capacity > LOG_RING_MAX) {
        errno = EINVAL;
        return NULL;
    }
    struct log_ring *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->bytes = malloc(capacity);
    if (r->bytes == NULL) {
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    r->capacity = capacity;
    /* No flush: nothing is on its way anywhere; a dump is explicit. */
    r->sink = (struct log_sink){.output = ring_output, .ctx = r};
    pthread_mutex_init(&r->mutex, NULL);
    return r;
}

const struct log_sink *log_ring_sink(struct log_ring *ring)
{
    return &ring->sink;
}

int log_ring_dump(struct log_ring *ring, int fd)
{
    /* Allocated before taking the lock, at the largest size it may need:
     * no allocation under the mutex either. */
    char *copy = malloc(ring->capacity);
    if (copy == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&ring->mutex);
    size_t len = ring->size;
    copy_out(ring, ring->head, copy, len);
    pthread_mutex_unlock(&ring->mutex);
    int err = 0;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, copy + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = -errno;
            break;
        }
        done += (size_t)n;
    }
    free(copy);
    return err;
}

size_t log_ring_size(struct log_ring *ring)
{
    pthread_mutex_lock(&ring->mutex);
    size_t size = ring->size;
    pthread_mutex_unlock(&ring->mutex);
    return size;
}

uint64_t log_ring_dropped(struct log_ring *ring)
{
    return atomic_load(&ring->dropped);
}

void log_ring_free(struct log_ring *ring)
{
    if (ring == NULL)
        return;
    if (log_get_sink() == &ring->sink)
        log_set_sink(NULL);
    pthread_mutex_destroy(&ring->mutex);
    free(ring->bytes);
    free(ring);
}
