#include "net/codec.h"

#include "base/assertion.h"
#include "net/buffer.h"
#include "net/tcp_conn.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames up to this many payload bytes are built on the stack by
 * codec_send(); larger ones in a heap block. Chat lines and most
 * request/reply messages fit, so the common case costs no malloc, while a
 * thread's stack never holds more than about a kilobyte for a frame. */
#define CODEC_SEND_STACK_PAYLOAD 1024

/* The limit a caller's max_frame stands for: 0 is the default, and
 * nothing above what the field can express makes sense. */
static size_t effective_max(size_t max_frame)
{
    if (max_frame == 0)
        return CODEC_DEFAULT_MAX_FRAME;
    return max_frame < CODEC_MAX_FRAME_LIMIT ? max_frame
                                             : CODEC_MAX_FRAME_LIMIT;
}

static void put_header(char *at, size_t len)
{
    uint32_t be = htobe32((uint32_t)len);
    memcpy(at, &be, sizeof be);
}

int codec_peek(const struct buffer *in, size_t max_frame, const char **payload,
               size_t *len)
{
    size_t readable = buffer_readable(in);
    if (readable < CODEC_HEADER_LEN)
        return 0;
    /* The cast reads the field as the peer wrote it: two's complement, so
     * a first byte of 0x80 or more is a negative length. */
    int32_t field = (int32_t)buffer_peek_u32(in);
    if (field < 0)
        return -EBADMSG;
    size_t n = (size_t)field;
    /* Checked before waiting for the payload: a peer that announces a
     * huge frame is refused now, not after we buffered gigabytes. */
    if (n > effective_max(max_frame))
        return -EMSGSIZE;
    if (readable - CODEC_HEADER_LEN < n)
        return 0;
    *payload = buffer_peek(in) + CODEC_HEADER_LEN;
    *len = n;
    return 1;
}

void codec_consume(struct buffer *in, size_t len)
{
    ASSERT(len <= CODEC_MAX_FRAME_LIMIT &&
           buffer_readable(in) >= CODEC_HEADER_LEN + len);
    buffer_retrieve(in, CODEC_HEADER_LEN + len);
}

int codec_encode(struct buffer *out, const void *payload, size_t len)
{
    /* Before any memory is touched: a length the field cannot say must
     * not cost an allocation of that size first. */
    if (len > CODEC_MAX_FRAME_LIMIT)
        return -EMSGSIZE;
    /* The payload must not be the buffer's own bytes: making room below
     * may move them. Offsets, not pointers into two objects, compare. */
    if (len > 0 && buffer_readable(out) > 0) {
        uintptr_t p = (uintptr_t)payload;
        uintptr_t start = (uintptr_t)buffer_peek(out);
        ASSERT(p + len <= start || p >= start + buffer_readable(out));
    }
    /* Room for the whole frame first, so that a failure leaves @p out as
     * it was: never a header without its payload. */
    int err = buffer_ensure_writable(out, CODEC_HEADER_LEN + len);
    if (err != 0)
        return err;
    char *at = buffer_begin_write(out);
    put_header(at, len);
    if (len > 0)
        memcpy(at + CODEC_HEADER_LEN, payload, len);
    buffer_has_written(out, CODEC_HEADER_LEN + len);
    return 0;
}

int codec_send(struct tcp_conn *conn, const void *payload, size_t len)
{
    if (len > CODEC_MAX_FRAME_LIMIT)
        return -EMSGSIZE;
    /* One contiguous frame, one send: two sends (header, then payload)
     * from two threads could interleave on the connection and corrupt
     * the stream; from the loop thread they would also cost two writes.
     * The copy is cheap next to a system call, and a send from another
     * thread copies the bytes anyway. */
    char stack[CODEC_HEADER_LEN + CODEC_SEND_STACK_PAYLOAD];
    char *frame = stack;
    if (len > CODEC_SEND_STACK_PAYLOAD) {
        frame = malloc(CODEC_HEADER_LEN + len);
        if (frame == NULL)
            return -ENOMEM;
    }
    put_header(frame, len);
    if (len > 0)
        memcpy(frame + CODEC_HEADER_LEN, payload, len);
    int err = tcp_conn_send(conn, frame, CODEC_HEADER_LEN + len);
    if (frame != stack)
        free(frame);
    return err;
}

const char *codec_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case -EBADMSG:
        return "negative frame length";
    case -EMSGSIZE:
        return "frame length above the maximum";
    case -ENOMEM:
        return "out of memory";
    /* What codec_send() passes on from tcp_conn_send(). */
    case -ENOTCONN:
        return "not connected";
    case -EPIPE:
        return "the peer is gone";
    case -ESHUTDOWN:
        return "the connection's loop is shutting down";
    default:
        return "unknown codec error";
    }
}
