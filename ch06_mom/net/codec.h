/**
 * @file codec.h
 * @brief Length-header framing: each message on the stream is a 4-byte
 * big-endian length, then that many bytes of payload.
 *
 * Contract
 * - TCP delivers a stream of bytes, not messages: one read may hold half
 *   a message or three of them. The codec turns the stream back into
 *   messages ("frames"): a frame is complete only when its whole payload
 *   is in the buffer, and the bytes after it belong to the next frame.
 * - The length field is a signed 32-bit integer, as in muduo's codec, so
 *   that a peer speaking another framing (or garbage) shows up at once:
 *   a negative length, or one above the maximum frame size, is an error
 *   (the connection cannot be resynchronised: close it). A zero length is
 *   a valid, empty frame.
 * - Stateless: it works on a struct buffer (a connection's input or
 *   output) that the caller owns, in the caller's thread.
 */
#ifndef MUDUO_NET_CODEC_H
#define MUDUO_NET_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct buffer;
struct tcp_conn;

/** @brief Bytes of the length field. */
#define CODEC_HEADER_LEN 4
/** @brief Largest payload accepted by default: a peer cannot make us
 * buffer more than this for one frame. */
#define CODEC_DEFAULT_MAX_FRAME ((size_t)16 * 1024 * 1024)
/** @brief Upper bound of any maximum: what the length field can say. */
#define CODEC_MAX_FRAME_LIMIT ((size_t)INT32_MAX)

/**
 * @brief Looks for the next complete frame at the front of @p in.
 * @param in        the bytes received so far (a connection's input).
 * @param max_frame largest payload accepted (0: CODEC_DEFAULT_MAX_FRAME;
 *                  above CODEC_MAX_FRAME_LIMIT it means that limit).
 * @param payload   set to the payload's first byte (inside @p in) when a
 *                  frame is complete; valid until @p in changes.
 * @param len       set to the payload's length.
 * @return 1: a complete frame (take it with codec_consume()); 0: not yet
 * (nothing consumed: wait for more bytes); -EBADMSG: a negative length;
 * -EMSGSIZE: a length above @p max_frame. On an error nothing is consumed.
 * @p payload and @p len are set only when it returns 1. The length is
 * checked as soon as the header is in, before the payload has arrived, so
 * a peer cannot make us wait for (and buffer) a frame we would refuse.
 */
int codec_peek(const struct buffer *in, size_t max_frame, const char **payload,
               size_t *len);

/** @brief Drops the frame that codec_peek() just returned (its header and
 * @p len bytes of payload) from @p in. Asserts that they are there. */
void codec_consume(struct buffer *in, size_t len);

/**
 * @brief Appends one frame (header, then @p len bytes of @p payload) to
 * @p out: all of it or, on an error, nothing.
 * @p payload may be NULL when @p len is 0; it must not point into @p out's
 * readable bytes (asserted), since making room may move them.
 * @return 0, -EMSGSIZE when @p len > CODEC_MAX_FRAME_LIMIT (refused before
 * any memory is touched), -ENOMEM.
 */
int codec_encode(struct buffer *out, const void *payload, size_t len);

/**
 * @brief Sends one frame on @p conn with a single tcp_conn_send() call,
 * so that the header and payload are never split by another sender.
 * The frame is built in a copy (on the stack for small payloads, else on
 * the heap); @p payload may be NULL when @p len is 0. Thread-safe as
 * tcp_conn_send(): the caller holds a reference to @p conn.
 * @return 0, -EMSGSIZE (@p len > CODEC_MAX_FRAME_LIMIT), -ENOMEM, or an
 * error of tcp_conn_send().
 */
int codec_send(struct tcp_conn *conn, const void *payload, size_t len);

/** @brief A human-readable reason for an error of this module, those
 * that codec_send() passes on from tcp_conn_send() included (a static
 * string; "unknown codec error" for any other value). */
const char *codec_strerror(int err);

#endif /* MUDUO_NET_CODEC_H */
