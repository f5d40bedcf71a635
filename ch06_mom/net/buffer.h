/**
 * @file buffer.h
 * @brief A byte buffer for network input and output, as muduo's Buffer.
 *
 * Layout of the storage, with three indices:
 *
 *     | prependable |  readable   |  writable   |
 *     0        read_index   write_index      capacity
 *
 * - readable: bytes received or queued, not yet consumed;
 * - writable: free room at the end, where new bytes go;
 * - prependable: room in front of the readable bytes (at least
 *   BUFFER_PREPEND), so that a length header can be put before a message
 *   that is already in the buffer, without moving it.
 *
 * Contract
 * - A buffer is embedded (buffer_init/buffer_destroy) and owns its storage.
 * - Not thread-safe: one owner at a time.
 * - Pointers returned by buffer_peek() and buffer_begin_write() stay
 *   valid until the next call that may grow or move the storage (append,
 *   prepend, ensure_writable, read_fd, shrink).
 * - Growing first moves the readable bytes back to the front when that
 *   makes enough room, and only reallocates otherwise.
 * - Functions that allocate return 0 or -ENOMEM and leave the buffer
 *   unchanged on failure.
 */
#ifndef MUDUO_NET_BUFFER_H
#define MUDUO_NET_BUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** @brief Room kept in front of the readable bytes for a header. */
#define BUFFER_PREPEND 8
/** @brief Writable room of a new buffer (allocated on first use). */
#define BUFFER_INITIAL_SIZE 1024
/** @brief Size of the stack buffer that buffer_read_fd() reads into when
 * the buffer's own room is full: one call reads up to this much more. */
#define BUFFER_READ_EXTRA 65536

/** @brief The buffer; fields are private, use the functions. */
struct buffer {
    char *data;         /**< capacity bytes, or NULL before first use. */
    size_t capacity;    /**< Size of data. */
    size_t read_index;  /**< Start of the readable bytes. */
    size_t write_index; /**< End of the readable bytes. */
};

/** @brief Makes an empty buffer; storage is allocated on first write. */
void buffer_init(struct buffer *b);
/** @brief Frees the storage. The buffer may be initialised again. */
void buffer_destroy(struct buffer *b);

/** @brief Bytes that can be read. */
size_t buffer_readable(const struct buffer *b);
/** @brief Bytes that can be written without growing. */
size_t buffer_writable(const struct buffer *b);
/** @brief Bytes of room in front of the readable bytes. */
size_t buffer_prependable(const struct buffer *b);

/** @brief The first readable byte (valid for buffer_readable() bytes). */
const char *buffer_peek(const struct buffer *b);

/** @brief Consumes @p len readable bytes (at most what is readable). */
void buffer_retrieve(struct buffer *b, size_t len);
/** @brief Consumes the readable bytes up to @p end (inside them). */
void buffer_retrieve_until(struct buffer *b, const char *end);
/** @brief Consumes everything. */
void buffer_retrieve_all(struct buffer *b);

/** @brief Appends @p len bytes. They may be the buffer's own readable
 * bytes (from buffer_peek()): they are copied as they were before the
 * buffer grew or moved; any other place inside the buffer is refused
 * (asserted). @return 0 or -ENOMEM. */
int buffer_append(struct buffer *b, const void *data, size_t len);

/** @brief Makes room for @p len more bytes. @return 0 or -ENOMEM. */
int buffer_ensure_writable(struct buffer *b, size_t len);
/** @brief Where the next written byte goes (after ensure_writable). */
char *buffer_begin_write(struct buffer *b);
/** @brief Marks @p len bytes at buffer_begin_write() as readable. */
void buffer_has_written(struct buffer *b, size_t len);

/**
 * @brief Puts @p len bytes in front of the readable bytes.
 * @return 0, or -ENOSPC when fewer than @p len bytes are prependable.
 */
int buffer_prepend(struct buffer *b, const void *data, size_t len);

/** @brief The first "\r\n" in the readable bytes, or NULL. */
const char *buffer_find_crlf(const struct buffer *b);
/** @brief The first "\r\n" at or after @p start (inside the readable
 * bytes), or NULL. */
const char *buffer_find_crlf_from(const struct buffer *b, const char *start);
/** @brief The first '\n' in the readable bytes, or NULL. */
const char *buffer_find_eol(const struct buffer *b);

/** @name Network-order integers
 * peek_* read without consuming (the buffer must hold enough bytes: it is
 * asserted); read_* also consume; append_* and prepend_* write. Append
 * returns 0 or -ENOMEM; prepend 0 or -ENOSPC.
 * @{ */
/** @brief Peeks a 64-bit big-endian integer. */
uint64_t buffer_peek_u64(const struct buffer *b);
/** @brief Peeks a 32-bit big-endian integer. */
uint32_t buffer_peek_u32(const struct buffer *b);
/** @brief Peeks a 16-bit big-endian integer. */
uint16_t buffer_peek_u16(const struct buffer *b);
/** @brief Peeks one byte. */
uint8_t buffer_peek_u8(const struct buffer *b);
/** @brief Reads (peeks and consumes) a 64-bit big-endian integer. */
uint64_t buffer_read_u64(struct buffer *b);
/** @brief Reads a 32-bit big-endian integer. */
uint32_t buffer_read_u32(struct buffer *b);
/** @brief Reads a 16-bit big-endian integer. */
uint16_t buffer_read_u16(struct buffer *b);
/** @brief Reads one byte. */
uint8_t buffer_read_u8(struct buffer *b);
/** @brief Appends a 64-bit integer in big-endian order. */
int buffer_append_u64(struct buffer *b, uint64_t v);
/** @brief Appends a 32-bit integer in big-endian order. */
int buffer_append_u32(struct buffer *b, uint32_t v);
/** @brief Appends a 16-bit integer in big-endian order. */
int buffer_append_u16(struct buffer *b, uint16_t v);
/** @brief Appends one byte. */
int buffer_append_u8(struct buffer *b, uint8_t v);
/** @brief Prepends a 32-bit integer in big-endian order. */
int buffer_prepend_u32(struct buffer *b, uint32_t v);
/** @brief Prepends a 16-bit integer in big-endian order. */
int buffer_prepend_u16(struct buffer *b, uint16_t v);
/** @brief Prepends one byte. */
int buffer_prepend_u8(struct buffer *b, uint8_t v);
/** @} */

/**
 * @brief Gives memory back: keeps the readable bytes and @p reserve bytes
 * of writable room. @return 0 or -ENOMEM (the buffer is then unchanged).
 */
int buffer_shrink(struct buffer *b, size_t reserve);

/** @brief Exchanges the contents of @p a and @p b, bytes and storage. */
void buffer_swap(struct buffer *a, struct buffer *b);

/**
 * @brief Reads from @p fd once, with readv() into the writable room plus a
 * BUFFER_READ_EXTRA stack buffer, appending what landed on the stack; with
 * BUFFER_READ_EXTRA bytes of room or more, with read() into the room alone.
 *
 * One call can thus read a lot without every connection owning a large
 * buffer. @return bytes read (0 at end of file), or a negative errno;
 * -ENOMEM when the extra bytes could not be kept (they are lost, and the
 * caller should close the connection).
 */
ssize_t buffer_read_fd(struct buffer *b, int fd);

#endif /* MUDUO_NET_BUFFER_H */
