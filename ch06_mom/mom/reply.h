/**
 * @file reply.h
 * @brief Writing RESP2 replies: the types a Redis client reads back.
 *
 * A reply is built with a struct reply around a buffer: each function
 * appends one element, and the first failure (memory) is kept in
 * reply.err while later calls do nothing, so that a command writes its
 * whole answer and checks once.
 *
 * The five RESP2 types: `+simple\r\n`, `-ERR error\r\n`, `:integer\r\n`,
 * `$len\r\nbytes\r\n` (and the nil bulk `$-1\r\n`), `*count\r\n` followed
 * by count elements.
 */
#ifndef MUDUO_MOM_REPLY_H
#define MUDUO_MOM_REPLY_H

#include <stddef.h>

struct buffer;

/** @brief A reply under construction. */
struct reply {
    struct buffer *buf; /**< Where the bytes go. */
    int err;            /**< 0, or the first error (-ENOMEM). */
};

/** @brief A simple string: @p s must not contain CR or LF. */
void reply_simple(struct reply *r, const char *s);
/** @brief An error line: @p text starts with its code ("ERR ...",
 * "NOAUTH ..."); a CR or LF inside becomes a space, as Redis does. */
void reply_error(struct reply *r, const char *text);
/** @brief reply_error() of a printf-formatted text. */
void reply_errorf(struct reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** @brief An integer. */
void reply_integer(struct reply *r, long long n);
/** @brief A bulk string of @p len bytes. */
void reply_bulk(struct reply *r, const void *data, size_t len);
/** @brief A bulk string of a NUL-terminated @p s. */
void reply_bulk_cstr(struct reply *r, const char *s);
/** @brief The nil bulk string. */
void reply_nil(struct reply *r);
/** @brief The header of an array of @p count elements. */
void reply_array(struct reply *r, size_t count);
/** @brief Raw bytes, already in RESP. */
void reply_raw(struct reply *r, const void *data, size_t len);

#endif /* MUDUO_MOM_REPLY_H */
