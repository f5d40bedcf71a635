#include "net/buffer.h"

#include "base/assertion.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* Invariants: data == NULL exactly when capacity == 0, and then both
 * indices are BUFFER_PREPEND; always read_index <= write_index, and with
 * storage, write_index <= capacity. read_index may drop below
 * BUFFER_PREPEND only through buffer_prepend(). */

void buffer_init(struct buffer *b)
{
    *b = (struct buffer){NULL, 0, BUFFER_PREPEND, BUFFER_PREPEND};
}

void buffer_destroy(struct buffer *b)
{
    free(b->data);
    buffer_init(b);
}

size_t buffer_readable(const struct buffer *b)
{
    return b->write_index - b->read_index;
}

size_t buffer_writable(const struct buffer *b)
{
    return b->capacity - (b->capacity == 0 ? 0 : b->write_index);
}

size_t buffer_prependable(const struct buffer *b)
{
    return b->capacity == 0 ? 0 : b->read_index;
}

const char *buffer_peek(const struct buffer *b)
{
    return b->data == NULL ? "" : b->data + b->read_index;
}

void buffer_retrieve_all(struct buffer *b)
{
    /* Back to the front: the next read lands at the start again. */
    b->read_index = BUFFER_PREPEND;
    b->write_index = BUFFER_PREPEND;
}

void buffer_retrieve(struct buffer *b, size_t len)
{
    if (len < buffer_readable(b))
        b->read_index += len;
    else
        buffer_retrieve_all(b);
}

void buffer_retrieve_until(struct buffer *b, const char *end)
{
    const char *start = buffer_peek(b);
    ASSERT(start <= end && end <= start + buffer_readable(b));
    buffer_retrieve(b, (size_t)(end - start));
}

/* Makes writable room for len bytes: slide the readable bytes back to the
 * front if the free space on both sides is enough, else reallocate. */
int buffer_ensure_writable(struct buffer *b, size_t len)
{
    if (buffer_writable(b) >= len)
        return 0;
    if (len > SIZE_MAX - BUFFER_PREPEND - b->write_index)
        return -ENOMEM; /* no buffer can be that large */
    size_t readable = buffer_readable(b);
    if (b->data != NULL &&
        buffer_writable(b) + buffer_prependable(b) >= len + BUFFER_PREPEND) {
        memmove(b->data + BUFFER_PREPEND, b->data + b->read_index, readable);
        b->read_index = BUFFER_PREPEND;
        b->write_index = BUFFER_PREPEND + readable;
        return 0;
    }
    size_t need = b->write_index + len;
    size_t capacity = b->capacity == 0 ? BUFFER_PREPEND + BUFFER_INITIAL_SIZE
                                       : b->capacity * 2;
    if (capacity < need)
        capacity = need;
    char *data = realloc(b->data, capacity);
    if (data == NULL)
        return -ENOMEM;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

char *buffer_begin_write(struct buffer *b)
{
    return b->data == NULL ? NULL : b->data + b->write_index;
}

void buffer_has_written(struct buffer *b, size_t len)
{
    ASSERT(len <= buffer_writable(b));
    b->write_index += len;
}

int buffer_append(struct buffer *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    /* The bytes may be the buffer's own (appending a copy of what it
     * holds): making room can free them (realloc) or slide them to the
     * front, so find them again afterwards by their place among the
     * readable bytes. The place is an integer offset: comparing pointers
     * into different objects would be undefined. */
    size_t at = (uintptr_t)data - (uintptr_t)b->data; /* index in data */
    bool own = b->data != NULL && at < b->capacity;
    if (own) /* only the readable bytes are the buffer's to copy */
        ASSERT(at >= b->read_index && at <= b->write_index &&
               len <= b->write_index - at);
    size_t offset = at - b->read_index;
    int err = buffer_ensure_writable(b, len);
    if (err != 0)
        return err;
    ASSERT(b->data != NULL); /* made room for len > 0 bytes */
    if (own)
        data = b->data + b->read_index + offset;
    memcpy(b->data + b->write_index, data, len);
    b->write_index += len;
    return 0;
}

int buffer_prepend(struct buffer *b, const void *data, size_t len)
{
    /* A buffer that never held anything has no storage, so no room in
     * front yet: allocate it, which brings BUFFER_PREPEND bytes of it. */
    if (b->data == NULL && buffer_ensure_writable(b, 1) != 0)
        return -ENOMEM;
    if (b->data == NULL || len > buffer_prependable(b))
        return -ENOSPC;
    b->read_index -= len;
    memcpy(b->data + b->read_index, data, len);
    return 0;
}

const char *buffer_find_crlf_from(const struct buffer *b, const char *start)
{
    const char *begin = buffer_peek(b), *end = begin + buffer_readable(b);
    ASSERT(begin <= start && start <= end);
    return memmem(start, (size_t)(end - start), "\r\n", 2);
}

const char *buffer_find_crlf(const struct buffer *b)
{
    return buffer_find_crlf_from(b, buffer_peek(b));
}

const char *buffer_find_eol(const struct buffer *b)
{
    return memchr(buffer_peek(b), '\n', buffer_readable(b));
}

/* --- integers in network byte order ----------------------------------- */

static void peek_bytes(const struct buffer *b, void *out, size_t len)
{
    ASSERT(buffer_readable(b) >= len);
    memcpy(out, buffer_peek(b), len);
}

uint64_t buffer_peek_u64(const struct buffer *b)
{
    uint64_t v;
    peek_bytes(b, &v, sizeof v);
    return be64toh(v);
}

uint32_t buffer_peek_u32(const struct buffer *b)
{
    uint32_t v;
    peek_bytes(b, &v, sizeof v);
    return be32toh(v);
}

uint16_t buffer_peek_u16(const struct buffer *b)
{
    uint16_t v;
    peek_bytes(b, &v, sizeof v);
    return be16toh(v);
}

uint8_t buffer_peek_u8(const struct buffer *b)
{
    uint8_t v;
    peek_bytes(b, &v, sizeof v);
    return v;
}

uint64_t buffer_read_u64(struct buffer *b)
{
    uint64_t v = buffer_peek_u64(b);
    buffer_retrieve(b, sizeof v);
    return v;
}

uint32_t buffer_read_u32(struct buffer *b)
{
    uint32_t v = buffer_peek_u32(b);
    buffer_retrieve(b, sizeof v);
    return v;
}

uint16_t buffer_read_u16(struct buffer *b)
{
    uint16_t v = buffer_peek_u16(b);
    buffer_retrieve(b, sizeof v);
    return v;
}

uint8_t buffer_read_u8(struct buffer *b)
{
    uint8_t v = buffer_peek_u8(b);
    buffer_retrieve(b, sizeof v);
    return v;
}

int buffer_append_u64(struct buffer *b, uint64_t v)
{
    uint64_t be = htobe64(v);
    return buffer_append(b, &be, sizeof be);
}

int buffer_append_u32(struct buffer *b, uint32_t v)
{
    uint32_t be = htobe32(v);
    return buffer_append(b, &be, sizeof be);
}

int buffer_append_u16(struct buffer *b, uint16_t v)
{
    uint16_t be = htobe16(v);
    return buffer_append(b, &be, sizeof be);
}

int buffer_append_u8(struct buffer *b, uint8_t v)
{
    return buffer_append(b, &v, sizeof v);
}

int buffer_prepend_u32(struct buffer *b, uint32_t v)
{
    uint32_t be = htobe32(v);
    return buffer_prepend(b, &be, sizeof be);
}

int buffer_prepend_u16(struct buffer *b, uint16_t v)
{
    uint16_t be = htobe16(v);
    return buffer_prepend(b, &be, sizeof be);
}

int buffer_prepend_u8(struct buffer *b, uint8_t v)
{
    return buffer_prepend(b, &v, sizeof v);
}

/* --- memory and I/O ------------------------------------------------------ */

int buffer_shrink(struct buffer *b, size_t reserve)
{
    size_t readable = buffer_readable(b);
    if (reserve > SIZE_MAX - BUFFER_PREPEND - readable)
        return 0; /* asks for more than any buffer has: nothing to give */
    size_t capacity = BUFFER_PREPEND + readable + reserve;
    if (b->data == NULL || capacity >= b->capacity)
        return 0;
    char *data = malloc(capacity);
    if (data == NULL)
        return -ENOMEM;
    memcpy(data + BUFFER_PREPEND, buffer_peek(b), readable);
    free(b->data);
    b->data = data;
    b->capacity = capacity;
    b->read_index = BUFFER_PREPEND;
    b->write_index = BUFFER_PREPEND + readable;
    return 0;
}

void buffer_swap(struct buffer *a, struct buffer *b)
{
    struct buffer t = *a;
    *a = *b;
    *b = t;
}

ssize_t buffer_read_fd(struct buffer *b, int fd)
{
    if (b->data == NULL && buffer_ensure_writable(b, BUFFER_INITIAL_SIZE) != 0)
        return -ENOMEM;
    char extra[BUFFER_READ_EXTRA];
    size_t writable = buffer_writable(b);
    struct iovec vec[2] = {
        {.iov_base = b->data + b->write_index, .iov_len = writable},
        {.iov_base = extra, .iov_len = sizeof extra},
    };
    /* With 64 KiB of room already, the stack buffer would add little; and
     * for one vector, read(2) takes a shorter path through the kernel. */
    ssize_t n = writable < sizeof extra ? readv(fd, vec, 2)
                                        : read(fd, vec[0].iov_base, writable);
    if (n < 0)
        return -errno;
    if ((size_t)n <= writable) {
        b->write_index += (size_t)n;
    } else {
        b->write_index = b->capacity;
        if (buffer_append(b, extra, (size_t)n - writable) != 0)
            return -ENOMEM;
    }
    return n;
}
