/* Reference solution of exercise 01.3: two channels and one buffer
 * between them, each channel's interest following the buffer. */
#include "relay.h"

#include "net/channel.h"
#include "net/event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct relay {
    struct channel in;  /* reads in_fd */
    struct channel out; /* writes out_fd */
    int in_fd;          /* -1 once closed */
    int out_fd;         /* -1 once closed */
    relay_done_fn *done;
    void *ctx;
    bool input_ended; /* read() returned 0: nothing more will come */
    bool ended;       /* done was called */
    uint64_t bytes;
    size_t head; /* the bytes waiting: buf[head, head + len) */
    size_t len;
    char buf[RELAY_BUFFER_SIZE];
};

/* Remove, then close: once closed, the fd number may be reused by
 * anyone, and the poller would be told about an fd that is no longer the
 * one it watches (epoll_ctl fails; poll reports POLLNVAL). */
static void close_input(struct relay *r)
{
    if (r->in_fd < 0)
        return;
    channel_remove(&r->in);
    close(r->in_fd);
    r->in_fd = -1;
}

static void close_output(struct relay *r)
{
    if (r->out_fd < 0)
        return;
    channel_remove(&r->out);
    close(r->out_fd);
    r->out_fd = -1;
}

static void finish(struct relay *r, int status)
{
    if (r->ended)
        return;
    r->ended = true;
    close_input(r);
    close_output(r);
    r->done(r, status, r->ctx);
    /* r may be queued for freeing now: touch nothing after done. */
}

/* Makes each channel's interest match the buffer: read while there is
 * room (and input to come), write while bytes wait. Level-triggered, so
 * an interest with nothing to do would wake the loop in every round. */
static int update_interest(struct relay *r)
{
    int err = 0;
    if (r->in_fd >= 0) {
        bool room = r->len < RELAY_BUFFER_SIZE;
        err = room ? channel_enable_reading(&r->in)
                   : channel_disable_reading(&r->in);
    }
    if (err == 0 && r->out_fd >= 0)
        err = r->len > 0 ? channel_enable_writing(&r->out)
                         : channel_disable_writing(&r->out);
    return err;
}

/* Writes what waits (one write: level-triggered, the rest comes next
 * round), then either finishes or sets the interest for what is left. */
static void flush(struct relay *r)
{
    if (r->len > 0) {
        ssize_t n = write(r->out_fd, r->buf + r->head, r->len);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            finish(r, -errno);
            return;
        }
        if (n > 0) {
            r->head += (size_t)n;
            r->len -= (size_t)n;
            r->bytes += (uint64_t)n;
        }
        if (r->len == 0)
            r->head = 0;
    }
    if (r->input_ended && r->len == 0) {
        finish(r, 0);
        return;
    }
    int err = update_interest(r);
    if (err != 0)
        finish(r, err);
}

static void on_readable(struct channel *ch, int64_t receive_time_us, void *ctx)
{
    struct relay *r = ctx;
    (void)ch;
    (void)receive_time_us;
    /* Reading is off while the buffer is full; a read of 0 bytes here
     * would look like the end of the input. */
    if (r->len == RELAY_BUFFER_SIZE)
        return;
    if (r->head > 0) { /* the room at the front, for a whole read */
        memmove(r->buf, r->buf + r->head, r->len);
        r->head = 0;
    }
    ssize_t n = read(r->in_fd, r->buf + r->len, RELAY_BUFFER_SIZE - r->len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            finish(r, -errno);
        return;
    }
    if (n == 0) {
        /* The end of the input (for a pipe, also its hang-up: with no
         * close callback, the loop hands it to this read callback). What
         * was read is still to be written. */
        r->input_ended = true;
        close_input(r);
    }
    r->len += (size_t)n;
    flush(r); /* at once: the output may well have room */
}

static void on_writable(struct channel *ch, void *ctx)
{
    (void)ch;
    flush(ctx);
}

/* POLLERR on the input: a read says which error. */
static void on_input_error(struct channel *ch, void *ctx)
{
    on_readable(ch, 0, ctx);
}

struct relay *relay_new(struct event_loop *loop, int in_fd, int out_fd,
                        relay_done_fn *done, void *ctx)
{
    struct relay *r = malloc(sizeof *r);
    if (r == NULL)
        return NULL;
    *r = (struct relay){
        .in_fd = in_fd, .out_fd = out_fd, .done = done, .ctx = ctx};
    channel_init(&r->in, loop, in_fd, r);
    channel_set_read_fn(&r->in, on_readable);
    channel_set_error_fn(&r->in, on_input_error);
    channel_init(&r->out, loop, out_fd, r);
    channel_set_write_fn(&r->out, on_writable);
    /* A reader of the output that went away shows as POLLERR (a pipe) or
     * POLLHUP (a socket) while bytes wait: the write says which error. */
    channel_set_error_fn(&r->out, on_writable);
    channel_set_close_fn(&r->out, on_writable);
    int err = channel_enable_reading(&r->in);
    if (err != 0) {
        channel_destroy(&r->in);
        channel_destroy(&r->out);
        free(r);
        errno = -err;
        return NULL;
    }
    return r;
}

uint64_t relay_bytes(const struct relay *r)
{
    return r->bytes;
}

void relay_free(struct relay *r)
{
    if (r == NULL)
        return;
    close_input(r);
    close_output(r);
    channel_destroy(&r->in);
    channel_destroy(&r->out);
    free(r);
}
