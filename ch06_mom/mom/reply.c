#include "mom/reply.h"

#include "net/buffer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for an error text formatted on the stack; a longer one (HELLO
 * quotes its unknown option whole, as Redis does) goes to the heap. */
#define REPLY_ERROR_INLINE 512

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
    reply_raw(r, "-", 1);
    /* A line break inside would end the error early and turn the rest
     * into garbage on the wire: each one goes out as a space. */
    for (const char *p = text;; p++) {
        size_t run = strcspn(p, "\r\n");
        reply_raw(r, p, run);
        p += run;
        if (*p == '\0')
            break;
        reply_raw(r, " ", 1);
    }
    reply_raw(r, "\r\n", 2);
}

void reply_errorf(struct reply *r, const char *fmt, ...)
{
    char text[REPLY_ERROR_INLINE];
    va_list ap;
    va_start(ap, fmt);
    /* The analyzer loses track of va_start here when another file was
     * analyzed before this one in the same run (as make lint does). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int len = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (len < 0) {
        if (r->err == 0)
            r->err = -EINVAL;
        return;
    }
    if ((size_t)len < sizeof text) {
        reply_error(r, text);
        return;
    }
    char *whole = malloc((size_t)len + 1);
    if (whole == NULL) {
        if (r->err == 0)
            r->err = -ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(whole, (size_t)len + 1, fmt, ap);
    va_end(ap);
    reply_error(r, whole);
    free(whole);
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
