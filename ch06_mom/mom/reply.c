#include "mom/reply.h"

#include "net/buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The longest error text kept whole; Redis's own messages are far
 * shorter, and an unknown command's preview is cut at 128 bytes. */
#define REPLY_ERROR_MAX 512

void reply_raw(struct reply *r, const void *data, size_t len)
{
    if (r->err == 0)
        r->err = buffer_append(r->buf, data, len);
}

/* A type byte, a decimal number and CRLF: the head of most elements. */
static void number_line(struct reply *r, char type, long long n)
{
    char line[32];
    int len = snprintf(line, sizeof line, "%c%lld\r\n", type, n);
    reply_raw(r, line, (size_t)len);
}

void reply_simple(struct reply *r, const char *s)
{
    reply_raw(r, "+", 1);
    reply_raw(r, s, strlen(s));
    reply_raw(r, "\r\n", 2);
}

void reply_error(struct reply *r, const char *text)
{
    char line[REPLY_ERROR_MAX];
    size_t len = strlen(text);
    if (len > sizeof line)
        len = sizeof line;
    memcpy(line, text, len);
    /* A line break inside would end the error early and turn the rest
     * into garbage on the wire. */
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\r' || line[i] == '\n')
            line[i] = ' ';
    }
    reply_raw(r, "-", 1);
    reply_raw(r, line, len);
    reply_raw(r, "\r\n", 2);
}

void reply_errorf(struct reply *r, const char *fmt, ...)
{
    char text[REPLY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    reply_error(r, text);
}

void reply_integer(struct reply *r, long long n)
{
    number_line(r, ':', n);
}

void reply_bulk(struct reply *r, const void *data, size_t len)
{
    number_line(r, '$', (long long)len);
    reply_raw(r, data, len);
    reply_raw(r, "\r\n", 2);
}

void reply_bulk_cstr(struct reply *r, const char *s)
{
    reply_bulk(r, s, strlen(s));
}

void reply_nil(struct reply *r)
{
    reply_raw(r, "$-1\r\n", 5);
}

void reply_array(struct reply *r, size_t count)
{
    number_line(r, '*', (long long)count);
}
