#include "mom/request.h"

#include "net/buffer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Storage kept between commands; more than this, left by one large
 * command, is given back when the next command starts. */
#define REQUEST_KEEP_BYTES ((size_t)64 * 1024)
#define REQUEST_KEEP_ARGS 1024
#define REQUEST_FIRST_BYTES 64
#define REQUEST_FIRST_ARGS 8
/* Redis refuses a number of 21 characters or more before reading it. */
#define REQUEST_NUMBER_MAX_CHARS 20

/* What one step of parsing did. */
enum step { STEP_MORE, STEP_CONTINUE, STEP_COMMAND };

struct request_limits request_limits_default(void)
{
    struct request_limits l = {
        .max_inline = REQUEST_MAX_INLINE,
        .max_multibulk = REQUEST_MAX_MULTIBULK,
        .max_bulk = REQUEST_MAX_BULK,
        .unauth_max_multibulk = REQUEST_UNAUTH_MAX_MULTIBULK,
        .unauth_max_bulk = REQUEST_UNAUTH_MAX_BULK,
    };
    return l;
}

void request_parser_init(struct request_parser *p,
                         const struct request_limits *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = limits != NULL ? *limits : request_limits_default();
    p->bulk_len = -1;
}

static void free_args(struct request_parser *p)
{
    free(p->ends);
    free(p->argv);
    p->ends = NULL;
    p->argv = NULL;
    p->args_cap = 0;
}

void request_parser_destroy(struct request_parser *p)
{
    free(p->bytes);
    p->bytes = NULL;
    p->bytes_cap = 0;
    free_args(p);
}

void request_parser_set_auth_required(struct request_parser *p,
                                      bool required)
{
    p->auth_required = required;
}

const char *request_parser_error(const struct request_parser *p)
{
    return p->message;
}

static int fail(struct request_parser *p, const char *message)
{
    snprintf(p->message, sizeof p->message, "Protocol error: %s", message);
    p->error = -EPROTO;
    return p->error;
}

static int fail_nomem(struct request_parser *p)
{
    p->error = -ENOMEM;
    return p->error;
}

/* Forgets the previous command; a large one gives its storage back. */
static void start_command(struct request_parser *p)
{
    p->argc = 0;
    p->bytes_len = 0;
    if (p->bytes_cap > REQUEST_KEEP_BYTES) {
        free(p->bytes);
        p->bytes = NULL;
        p->bytes_cap = 0;
    }
    if (p->args_cap > REQUEST_KEEP_ARGS)
        free_args(p);
}

static int reserve_bytes(struct request_parser *p, size_t extra)
{
    if (p->bytes_cap - p->bytes_len >= extra)
        return 0;
    size_t want = p->bytes_len + extra;
    size_t cap = p->bytes_cap < REQUEST_FIRST_BYTES ? REQUEST_FIRST_BYTES
                                                    : p->bytes_cap;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    char *bytes = realloc(p->bytes, cap);
    if (bytes == NULL)
        return -ENOMEM;
    p->bytes = bytes;
    p->bytes_cap = cap;
    return 0;
}

static int append_bytes(struct request_parser *p, const char *src, size_t n)
{
    if (reserve_bytes(p, n) != 0)
        return fail_nomem(p);
    if (n > 0)
        memcpy(p->bytes + p->bytes_len, src, n);
    p->bytes_len += n;
    return 0;
}

/* Closes the argument that began after the previous one. */
static int end_arg(struct request_parser *p)
{
    if (p->argc == p->args_cap) {
        size_t cap = p->args_cap == 0 ? REQUEST_FIRST_ARGS : p->args_cap * 2;
        size_t *ends = realloc(p->ends, cap * sizeof *ends);
        if (ends == NULL)
            return fail_nomem(p);
        p->ends = ends;
        struct request_arg *argv = realloc(p->argv, cap * sizeof *argv);
        if (argv == NULL)
            return fail_nomem(p);
        p->argv = argv;
        p->args_cap = cap;
    }
    p->ends[p->argc++] = p->bytes_len;
    return 0;
}

/* The arguments point into bytes only now: it may have moved while they
 * were being collected. */
static void build_command(struct request_parser *p, struct request *out)
{
    size_t start = 0;
    for (size_t i = 0; i < p->argc; i++) {
        p->argv[i].ptr = p->bytes != NULL ? p->bytes + start : "";
        p->argv[i].len = p->ends[i] - start;
        start = p->ends[i];
    }
    out->argc = p->argc;
    out->argv = p->argv;
}

/* A decimal integer as Redis reads one: no sign but '-', no leading
 * zero, no blank, nothing outside long long. */
static bool parse_number(const char *s, size_t n, long long *value)
{
    if (n == 0 || n > REQUEST_NUMBER_MAX_CHARS)
        return false;
    if (n == 1 && s[0] == '0') {
        *value = 0;
        return true;
    }
    bool negative = s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == n || s[i] < '1' || s[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *value = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
                                                        : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return false;
        *value = (long long)v;
    }
    return true;
}

/*
 * Finds the end of the line that starts at data[pos]: @p want among the
 * first limit + 1 bytes, so that a line is refused at the same length
 * however it was cut. A NUL hides everything after it, as a C string
 * search does in Redis. @return true with *at set, or false.
 */
static bool find_end(const char *data, size_t len, size_t pos, size_t limit,
                     char want, size_t *at)
{
    size_t n = len - pos;
    if (n > limit)
        n = limit + 1;
    for (size_t i = pos; i < pos + n; i++) {
        if (data[i] == want) {
            *at = i;
            return true;
        }
        if (data[i] == '\0')
            return false;
    }
    return false;
}

/* A line without its end yet: wait, or refuse it once too long. */
static int line_pending(struct request_parser *p, size_t pending,
                        const char *too_big)
{
    if (pending > p->limits.max_inline)
        return fail(p, too_big);
    return STEP_MORE;
}

/* The `*N` line at data[*pos]. */
static int multibulk_header(struct request_parser *p, const char *data,
                            size_t len, size_t *pos)
{
    size_t cr;
    if (!find_end(data, len, *pos, p->limits.max_inline, '\r', &cr))
        return line_pending(p, len - *pos, "too big mbulk count string");
    if (cr + 1 >= len) /* the byte after '\r' is consumed unread */
        return STEP_MORE;
    long long count;
    if (!parse_number(data + *pos + 1, cr - *pos - 1, &count) ||
        count > p->limits.max_multibulk)
        return fail(p, "invalid multibulk length");
    if (p->auth_required && count > p->limits.unauth_max_multibulk)
        return fail(p, "unauthenticated multibulk length");
    *pos = cr + 2;
    if (count > 0) {
        p->in_multibulk = true;
        p->remaining = count;
        p->bulk_len = -1;
    }
    return STEP_CONTINUE;
}

/* A `$LEN` line or the bulk string after it, at data[*pos]. */
static int multibulk_arg(struct request_parser *p, const char *data,
                         size_t len, size_t *pos)
{
    if (p->bulk_len < 0) {
        size_t cr;
        if (!find_end(data, len, *pos, p->limits.max_inline, '\r', &cr))
            return line_pending(p, len - *pos, "too big bulk count string");
        if (cr + 1 >= len)
            return STEP_MORE;
        char c = data[*pos];
        if (c != '$') {
            /* Redis blanks line breaks out of an error text. */
            char shown = c;
            if (c == '\r' || c == '\n')
                shown = ' ';
            char what[32];
            snprintf(what, sizeof what, "expected '$', got '%c'", shown);
            return fail(p, what);
        }
        long long n;
        if (!parse_number(data + *pos + 1, cr - *pos - 1, &n) || n < 0 ||
            n > p->limits.max_bulk)
            return fail(p, "invalid bulk length");
        if (p->auth_required && n > p->limits.unauth_max_bulk)
            return fail(p, "unauthenticated bulk length");
        *pos = cr + 2;
        p->bulk_len = n;
    }
    size_t n = (size_t)p->bulk_len;
    if (len - *pos < n + 2) /* the two bytes after it are not checked */
        return STEP_MORE;
    if (append_bytes(p, data + *pos, n) != 0 || end_arg(p) != 0)
        return p->error;
    *pos += n + 2;
    p->bulk_len = -1;
    if (--p->remaining > 0)
        return STEP_CONTINUE;
    p->in_multibulk = false;
    return STEP_COMMAND;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

static char unescape(char c)
{
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
    }
}

/* One word of an inline line starting at s[*i] (not a blank); it may
 * switch into quotes anywhere. @return 0, 1 for unbalanced quotes, or an
 * error. */
static int split_word(struct request_parser *p, const char *s, size_t n,
                      size_t *i)
{
    enum { PLAIN, DOUBLE, SINGLE } mode = PLAIN;
    for (;;) {
        size_t at = *i;
        if (at == n) {
            if (mode != PLAIN)
                return 1;
            break;
        }
        char c = s[at];
        char out = c;
        size_t step = 1;
        if (mode == DOUBLE) {
            if (c == '\\' && at + 3 < n && s[at + 1] == 'x' &&
                is_hex(s[at + 2]) && is_hex(s[at + 3])) {
                out = (char)(hex_value(s[at + 2]) * 16 + hex_value(s[at + 3]));
                step = 4;
            } else if (c == '\\' && at + 1 < n) {
                out = unescape(s[at + 1]);
                step = 2;
            } else if (c == '"') {
                if (at + 1 < n && !is_blank(s[at + 1]))
                    return 1;
                *i = at + 1;
                break;
            }
        } else if (mode == SINGLE) {
            if (c == '\\' && at + 1 < n && s[at + 1] == '\'') {
                step = 2;
                out = '\'';
            } else if (c == '\'') {
                if (at + 1 < n && !is_blank(s[at + 1]))
                    return 1;
                *i = at + 1;
                break;
            }
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            /* Only these end a plain word: \v and \f belong to it. */
            *i = at + 1;
            break;
        } else if (c == '"' || c == '\'') {
            mode = c == '"' ? DOUBLE : SINGLE;
            *i = at + 1;
            continue;
        }
        if (append_bytes(p, &out, 1) != 0)
            return p->error;
        *i = at + step;
    }
    return end_arg(p);
}

/* An inline request: the line at data[*pos]. */
static int inline_request(struct request_parser *p, const char *data,
                          size_t len, size_t *pos)
{
    size_t nl;
    if (!find_end(data, len, *pos, p->limits.max_inline, '\n', &nl))
        return line_pending(p, len - *pos, "too big inline request");
    const char *s = data + *pos;
    size_t n = nl - *pos;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    size_t i = 0;
    for (;;) {
        while (i < n && is_blank(s[i]))
            i++;
        if (i == n)
            break;
        int r = split_word(p, s, n, &i);
        if (r == 1)
            return fail(p, "unbalanced quotes in request");
        if (r < 0)
            return r;
    }
    *pos = nl + 1;
    return p->argc > 0 ? STEP_COMMAND : STEP_CONTINUE;
}

int request_parser_parse(struct request_parser *p, const char *data,
                         size_t len, size_t *consumed, struct request *out)
{
    *consumed = 0;
    if (p->error != 0)
        return p->error;
    size_t pos = 0;
    int r = STEP_MORE;
    do {
        if (p->in_multibulk) {
            r = multibulk_arg(p, data, len, &pos);
        } else {
            start_command(p);
            if (pos == len)
                break;
            if (data[pos] == '*')
                r = multibulk_header(p, data, len, &pos);
            else
                r = inline_request(p, data, len, &pos);
        }
    } while (r == STEP_CONTINUE);
    *consumed = pos;
    if (r == STEP_COMMAND) {
        build_command(p, out);
        return 1;
    }
    return r < 0 ? r : 0;
}

int request_parser_next(struct request_parser *p, struct buffer *in,
                        struct request *out)
{
    size_t consumed;
    int r = request_parser_parse(p, buffer_peek(in), buffer_readable(in),
                                 &consumed, out);
    buffer_retrieve(in, consumed);
    return r;
}
