/* The broker's request parser: multibulk and inline requests as
 * redis-server 7 reads them, every request cut at every byte and many
 * in one read, the empty requests, each limit at, below and above, and
 * the exact error texts. */
#include "test_support.h"

#include "mom/request.h"
#include "net/buffer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a parse ended, in a form that compares whole: the commands as
 * text (arguments joined by '|', each command closed by ';'), the bytes
 * consumed, and the error with its text. */
struct outcome {
    struct buffer commands;
    size_t count;
    size_t consumed;
    int err;
    char message[REQUEST_ERROR_CAP];
};

struct example {
    const char *bytes;
    size_t len;
    const char *want; /* commands, as struct outcome writes them */
};

#define EX(s, w) {s, sizeof(s) - 1, w}

/* Requests that parse, each with what it must give. */
static const struct example good[] = {
    EX("*1\r\n$4\r\nPING\r\n", "PING;"),
    EX("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$0\r\n\r\n", "SET|x|;"),
    EX("*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\nnews.*\r\n", "SUBSCRIBE|news.*;"),
    EX("*1\r\n$6\r\na\r\nb\r\n\r\n", "a\r\nb\r\n;"),
    EX("PING\r\n", "PING;"),
    EX("PING\n", "PING;"),
    EX("PING\r\r\n", "PING;"),
    EX("   \t PUBLISH  ch   hello \r\n", "PUBLISH|ch|hello;"),
    EX("ECHO \"a b\" 'c d'\r\n", "ECHO|a b|c d;"),
    EX("ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n", "ECHO|\n\r\t\b\a\\\"q;"),
    EX("ECHO \"\\x41\\x6a\\x4A\"\r\n", "ECHO|AjJ;"),
    EX("ECHO \"\\xZZ\" \"\\x4\" \"x\\x4g\"\r\n", "ECHO|xZZ|x4|xx4g;"),
    EX("ECHO 'a\\'b\\n'\r\n", "ECHO|a'b\\n;"),
    EX("ECHO a\\nb\r\n", "ECHO|a\\nb;"),
    EX("ECHO a\"b c\"\r\n", "ECHO|ab c;"),
    EX("ECHO \"\" ''\r\n", "ECHO||;"),
    EX("ECHO a\vb \f\vc\r\n", "ECHO|a\vb|c;"),
    EX("ECHO \"x\"\vy\r\n", "ECHO|x|y;"),
    /* Redis skips the byte after a header's '\r' and the two after a
     * bulk string without looking at them. */
    EX("*1\rX$4\r\nPINGxx", "PING;"),
    EX("*1\r\n$4\rxPINGxy", "PING;"),
    /* No command, but bytes consumed. */
    EX("\r\n", ""),
    EX("\n", ""),
    EX("   \r\n", ""),
    EX("*0\r\n", ""),
    EX("*-1\r\n", ""),
    EX("*-10\r\n", ""),
    EX("*-9223372036854775808\r\n", ""),
};
#define GOOD_COUNT (sizeof good / sizeof good[0])

struct bad {
    const char *bytes;
    size_t len;
    bool auth_required;
    const char *message;
};

#define BAD(s, a, m) {s, sizeof(s) - 1, a, "Protocol error: " m}

/* Requests Redis refuses, with its words (checked against
 * redis-server 7.0). */
static const struct bad bad[] = {
    BAD("*2147483648\r\n", false, "invalid multibulk length"),
    BAD("*-0\r\n", false, "invalid multibulk length"),
    BAD("*\r\n", false, "invalid multibulk length"),
    BAD("*+1\r\n", false, "invalid multibulk length"),
    BAD("*01\r\n", false, "invalid multibulk length"),
    BAD("* 1\r\n", false, "invalid multibulk length"),
    BAD("*1 \r\n", false, "invalid multibulk length"),
    BAD("*99999999999999999999\r\n", false, "invalid multibulk length"),
    BAD("*-9223372036854775809\r\n", false, "invalid multibulk length"),
    BAD("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", false,
        "expected '$', got 'f'"),
    BAD("*1\r\nPING\r\n", false, "expected '$', got 'P'"),
    BAD("*1\r\n\r\n", false, "expected '$', got ' '"),
    BAD("*1\r\n\n\r\n", false, "expected '$', got ' '"),
    BAD("*1\r\n\xff\r\n", false, "expected '$', got '\xff'"),
    BAD("*1\r\n$-1\r\n", false, "invalid bulk length"),
    BAD("*1\r\n$\r\n", false, "invalid bulk length"),
    BAD("*1\r\n$00\r\n", false, "invalid bulk length"),
    BAD("*1\r\n$-0\r\n", false, "invalid bulk length"),
    BAD("*1\r\n$1 \r\n", false, "invalid bulk length"),
    BAD("*1\r\n$536870913\r\n", false, "invalid bulk length"),
    BAD("*1\r\n$536870913\r\n", true, "invalid bulk length"),
    BAD("*2147483648\r\n", true, "invalid multibulk length"),
    BAD("*11\r\n", true, "unauthenticated multibulk length"),
    BAD("*1\r\n$16385\r\n", true, "unauthenticated bulk length"),
    BAD("ECHO \"ab\r\n", false, "unbalanced quotes in request"),
    BAD("ECHO 'ab\r\n", false, "unbalanced quotes in request"),
    BAD("ECHO \"ab\"c\r\n", false, "unbalanced quotes in request"),
    BAD("ECHO 'ab'c\r\n", false, "unbalanced quotes in request"),
    BAD("ECHO x'\r\n", false, "unbalanced quotes in request"),
    BAD("ECHO \"a\\\"\r\n", false, "unbalanced quotes in request"),
    BAD("PING\r\nECHO \"\r\n", false, "unbalanced quotes in request"),
};
#define BAD_COUNT (sizeof bad / sizeof bad[0])

/* Sizes for the limit tests with small limits: cheap to cut everywhere. */
#define SMALL_INLINE 16
#define SMALL_MULTIBULK 3
#define SMALL_BULK 5
#define COALESCE_ROUNDS 3
#define STREAM_CAP (256 * 1024)

static void outcome_init(struct outcome *o)
{
    memset(o, 0, sizeof *o);
    buffer_init(&o->commands);
}

static void record(struct outcome *o, const struct request *rq)
{
    ck_assert_uint_ge(rq->argc, 1);
    for (size_t i = 0; i < rq->argc; i++) {
        if (i > 0)
            ck_assert_int_eq(buffer_append(&o->commands, "|", 1), 0);
        ck_assert_int_eq(
            buffer_append(&o->commands, rq->argv[i].ptr, rq->argv[i].len), 0);
    }
    ck_assert_int_eq(buffer_append(&o->commands, ";", 1), 0);
    o->count++;
}

/* Feeds @p s to a parser in pieces of @p piece bytes (0: at once), taking
 * every command after each piece, until the end or an error. */
static void parse_stream(const char *s, size_t n, size_t piece,
                         const struct request_limits *limits,
                         bool auth_required, struct outcome *o)
{
    outcome_init(o);
    struct request_parser p;
    request_parser_init(&p, limits);
    request_parser_set_auth_required(&p, auth_required);
    struct buffer in;
    buffer_init(&in);
    size_t fed = 0;
    do {
        size_t k = piece == 0 || piece > n - fed ? n - fed : piece;
        ck_assert_int_eq(buffer_append(&in, s + fed, k), 0);
        fed += k;
        struct request rq;
        int r;
        while ((r = request_parser_next(&p, &in, &rq)) == 1)
            record(o, &rq);
        if (r < 0) {
            o->err = r;
            ck_assert_int_eq(r, -EPROTO);
            snprintf(o->message, sizeof o->message, "%s",
                     request_parser_error(&p));
            break;
        }
        ck_assert_str_eq(request_parser_error(&p), "");
    } while (fed < n);
    o->consumed = fed - buffer_readable(&in);
    buffer_destroy(&in);
    request_parser_destroy(&p);
}

/* Like parse_stream, cut once at @p cut. */
static void parse_cut(const char *s, size_t n, size_t cut,
                      const struct request_limits *limits, bool auth_required,
                      struct outcome *o)
{
    outcome_init(o);
    struct request_parser p;
    request_parser_init(&p, limits);
    request_parser_set_auth_required(&p, auth_required);
    struct buffer in;
    buffer_init(&in);
    size_t ends[2] = {cut, n};
    size_t fed = 0;
    for (int part = 0; part < 2 && o->err == 0; part++) {
        ck_assert_int_eq(buffer_append(&in, s + fed, ends[part] - fed), 0);
        fed = ends[part];
        struct request rq;
        int r;
        while ((r = request_parser_next(&p, &in, &rq)) == 1)
            record(o, &rq);
        if (r < 0) {
            o->err = r;
            snprintf(o->message, sizeof o->message, "%s",
                     request_parser_error(&p));
        }
    }
    o->consumed = fed - buffer_readable(&in);
    buffer_destroy(&in);
    request_parser_destroy(&p);
}

static void outcome_destroy(struct outcome *o)
{
    buffer_destroy(&o->commands);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
    ck_assert_uint_eq(a->count, b->count);
    ck_assert_uint_eq(buffer_readable(&a->commands),
                      buffer_readable(&b->commands));
    ck_assert(memcmp(buffer_peek(&a->commands), buffer_peek(&b->commands),
                     buffer_readable(&a->commands)) == 0);
    ck_assert_uint_eq(a->consumed, b->consumed);
    ck_assert_int_eq(a->err, b->err);
    ck_assert_str_eq(a->message, b->message);
}

static void assert_commands(const struct outcome *o, const char *want)
{
    size_t n = strlen(want);
    ck_assert_uint_eq(buffer_readable(&o->commands), n);
    ck_assert(memcmp(buffer_peek(&o->commands), want, n) == 0);
}

/* Parses whole, byte by byte and cut at every point: all the same. */
static void assert_split_invariant(const char *s, size_t n,
                                   const struct request_limits *limits,
                                   bool auth_required, struct outcome *whole)
{
    parse_stream(s, n, 0, limits, auth_required, whole);
    struct outcome o;
    parse_stream(s, n, 1, limits, auth_required, &o);
    assert_same(&o, whole);
    outcome_destroy(&o);
    for (size_t cut = 0; cut <= n; cut++) {
        parse_cut(s, n, cut, limits, auth_required, &o);
        assert_same(&o, whole);
        outcome_destroy(&o);
    }
}

START_TEST(good_requests_parse_cut_anywhere)
{
    for (size_t i = 0; i < GOOD_COUNT; i++) {
        struct outcome o;
        assert_split_invariant(good[i].bytes, good[i].len, NULL, false, &o);
        ck_assert_int_eq(o.err, 0);
        ck_assert_uint_eq(o.consumed, good[i].len);
        assert_commands(&o, good[i].want);
        outcome_destroy(&o);
    }
}
END_TEST

START_TEST(bad_requests_fail_with_redis_words)
{
    for (size_t i = 0; i < BAD_COUNT; i++) {
        struct outcome o;
        assert_split_invariant(bad[i].bytes, bad[i].len, NULL,
                               bad[i].auth_required, &o);
        ck_assert_int_eq(o.err, -EPROTO);
        ck_assert_str_eq(o.message, bad[i].message);
        outcome_destroy(&o);
    }
}
END_TEST

/* Every good request back to back, several times, in one stream: the
 * same commands as one by one, at once and in pieces of every size up to
 * a few. */
START_TEST(coalesced_requests_parse_in_order)
{
    char *stream = malloc(STREAM_CAP);
    ck_assert_ptr_nonnull(stream);
    struct buffer want;
    buffer_init(&want);
    size_t n = 0;
    for (int round = 0; round < COALESCE_ROUNDS; round++) {
        for (size_t i = 0; i < GOOD_COUNT; i++) {
            /* These two only parse as a request's last bytes. */
            if (good[i].bytes[good[i].len - 1] != '\n')
                continue;
            ck_assert_uint_le(n + good[i].len, STREAM_CAP);
            memcpy(stream + n, good[i].bytes, good[i].len);
            n += good[i].len;
            ck_assert_int_eq(
                buffer_append(&want, good[i].want, strlen(good[i].want)), 0);
        }
    }
    for (size_t piece = 0; piece <= 7; piece++) {
        struct outcome o;
        parse_stream(stream, n, piece, NULL, false, &o);
        ck_assert_int_eq(o.err, 0);
        ck_assert_uint_eq(o.consumed, n);
        ck_assert_uint_eq(buffer_readable(&o.commands), buffer_readable(&want));
        ck_assert(memcmp(buffer_peek(&o.commands), buffer_peek(&want),
                         buffer_readable(&want)) == 0);
        outcome_destroy(&o);
    }
    buffer_destroy(&want);
    free(stream);
}
END_TEST

/* Bulk strings are bytes: NUL, CR, LF and high bytes come through. */
START_TEST(bulk_strings_are_binary)
{
    static const char req[] = "*2\r\n$3\r\n\0\r\n\r\n$2\r\n\xff\x00\r\n";
    struct request_parser p;
    request_parser_init(&p, NULL);
    size_t used;
    struct request rq;
    ck_assert_int_eq(request_parser_parse(&p, req, sizeof req - 1, &used, &rq),
                     1);
    ck_assert_uint_eq(used, sizeof req - 1);
    ck_assert_uint_eq(rq.argc, 2);
    ck_assert_uint_eq(rq.argv[0].len, 3);
    ck_assert(memcmp(rq.argv[0].ptr, "\0\r\n", 3) == 0);
    ck_assert_uint_eq(rq.argv[1].len, 2);
    ck_assert(memcmp(rq.argv[1].ptr, "\xff\x00", 2) == 0);
    request_parser_destroy(&p);
}
END_TEST

/* The arguments are the parser's copies: the caller's bytes may go. */
START_TEST(arguments_outlive_the_input)
{
    char req[] = "*2\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\nSUB x\r\n";
    struct request_parser p;
    request_parser_init(&p, NULL);
    size_t used;
    struct request rq;
    ck_assert_int_eq(request_parser_parse(&p, req, sizeof req - 1, &used, &rq),
                     1);
    ck_assert_uint_eq(used, 25);
    memset(req, 'z', sizeof req);
    ck_assert_uint_eq(rq.argc, 2);
    ck_assert(memcmp(rq.argv[0].ptr, "PUBLISH", 7) == 0);
    ck_assert(memcmp(rq.argv[1].ptr, "ch", 2) == 0);
    request_parser_destroy(&p);
}
END_TEST

/* What is complete is consumed at once (headers, whole bulk strings),
 * what is not stays with the caller. */
START_TEST(partial_requests_consume_what_is_complete)
{
    static const char req[] = "*2\r\n$4\r\nPING\r\n$3\r\nab";
    struct request_parser p;
    request_parser_init(&p, NULL);
    size_t used;
    struct request rq;
    ck_assert_int_eq(request_parser_parse(&p, req, sizeof req - 1, &used, &rq),
                     0);
    ck_assert_uint_eq(used, 18);
    ck_assert_int_eq(request_parser_parse(&p, "ab", 2, &used, &rq), 0);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(request_parser_parse(&p, "abc\r\n", 5, &used, &rq), 1);
    ck_assert_uint_eq(used, 5);
    ck_assert_uint_eq(rq.argc, 2);
    ck_assert(memcmp(rq.argv[1].ptr, "abc", 3) == 0);
    /* An inline line is taken only with its newline. */
    ck_assert_int_eq(request_parser_parse(&p, "PIN", 3, &used, &rq), 0);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(request_parser_parse(&p, "", 0, &used, &rq), 0);
    ck_assert_uint_eq(used, 0);
    request_parser_destroy(&p);
}
END_TEST

/* After an error the parser says the same and takes nothing more. */
START_TEST(errors_are_sticky)
{
    struct request_parser p;
    request_parser_init(&p, NULL);
    size_t used;
    struct request rq;
    ck_assert_int_eq(request_parser_parse(&p, "PING\r\n*x\r\n", 10, &used, &rq),
                     1);
    ck_assert_uint_eq(used, 6);
    ck_assert_str_eq(request_parser_error(&p), "");
    ck_assert_int_eq(request_parser_parse(&p, "*x\r\n", 4, &used, &rq),
                     -EPROTO);
    ck_assert_uint_eq(used, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(request_parser_parse(&p, "PING\r\n", 6, &used, &rq),
                         -EPROTO);
        ck_assert_uint_eq(used, 0);
        ck_assert_str_eq(request_parser_error(&p),
                         "Protocol error: invalid multibulk length");
    }
    request_parser_destroy(&p);
}
END_TEST

/* A NUL hides the end of an inline or header line, as in Redis: the
 * parser waits, and refuses once the line is too long. */
START_TEST(nul_hides_the_end_of_a_line)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *too_big;
    } cases[] = {
        {"PI\0NG\r\nPING\r\n", 12, "too big inline request"},
        {"ECHO \"\0\"\r\n", 10, "too big inline request"},
        {"*1\0\r\n$4\r\nPING\r\n", 15, "too big mbulk count string"},
        {"*1\r\n$4\0\r\nPING\r\n", 15, "too big bulk count string"},
    };
    struct request_limits small = request_limits_default();
    small.max_inline = SMALL_INLINE;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        assert_split_invariant(cases[i].bytes, cases[i].len, NULL, false, &o);
        ck_assert_int_eq(o.err, 0);
        ck_assert_uint_eq(o.count, 0);
        outcome_destroy(&o);
        /* The same, padded past a small limit. */
        char padded[64];
        memset(padded, 'y', sizeof padded);
        memcpy(padded, cases[i].bytes, cases[i].len);
        assert_split_invariant(padded, sizeof padded, &small, false, &o);
        ck_assert_int_eq(o.err, -EPROTO);
        char want[REQUEST_ERROR_CAP];
        snprintf(want, sizeof want, "Protocol error: %s", cases[i].too_big);
        ck_assert_str_eq(o.message, want);
        outcome_destroy(&o);
    }
}
END_TEST

/* A line of @p n bytes of 'x' after @p prefix, then @p end (or nothing). */
static size_t long_line(char *out, const char *prefix, size_t n,
                        const char *end)
{
    size_t k = strlen(prefix);
    memcpy(out, prefix, k);
    memset(out + k, prefix[k - 1] == '*' || prefix[k - 1] == '$' ? '1' : 'x',
           n);
    size_t e = strlen(end);
    memcpy(out + k + n, end, e);
    return k + n + e;
}

/* The line limits: pending without an end up to the limit is awaited,
 * one byte more is refused; a complete line as long as the limit is
 * taken, one byte longer is refused too, whole or cut. */
static void check_line_limit(const struct request_limits *limits,
                             bool cut_everywhere)
{
    size_t max = limits->max_inline;
    static const struct {
        const char *prefix; /* what comes before the line's bytes */
        size_t before;      /* bytes of prefix not counted in the line */
        const char *message;
    } lines[] = {
        {"x", 0, "Protocol error: too big inline request"},
        {"*", 0, "Protocol error: too big mbulk count string"},
        {"*1\r\n$", 4, "Protocol error: too big bulk count string"},
    };
    char *s = malloc(max + 64);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t pad_at = strlen(lines[i].prefix) - lines[i].before;
        for (size_t pending = max - 1; pending <= max + 1; pending++) {
            size_t n =
                long_line(s, lines[i].prefix, pending - pad_at, "");
            struct outcome o;
            if (cut_everywhere)
                assert_split_invariant(s, n, limits, false, &o);
            else
                parse_stream(s, n, 0, limits, false, &o);
            if (pending <= max) {
                ck_assert_int_eq(o.err, 0);
            } else {
                ck_assert_int_eq(o.err, -EPROTO);
                ck_assert_str_eq(o.message, lines[i].message);
            }
            outcome_destroy(&o);
        }
    }
    /* Inline lines with their newline: the limit counts the bytes before
     * '\n' (a '\r' included). */
    for (size_t len = max - 1; len <= max + 1; len++) {
        size_t n = long_line(s, "x", len - 1, "\n");
        struct outcome o;
        if (cut_everywhere)
            assert_split_invariant(s, n, limits, false, &o);
        else
            parse_stream(s, n, 0, limits, false, &o);
        if (len <= max) {
            ck_assert_int_eq(o.err, 0);
            ck_assert_uint_eq(o.count, 1);
        } else {
            ck_assert_int_eq(o.err, -EPROTO);
            ck_assert_str_eq(o.message,
                             "Protocol error: too big inline request");
        }
        outcome_destroy(&o);
    }
    free(s);
}

START_TEST(line_limits_small)
{
    struct request_limits small = request_limits_default();
    small.max_inline = SMALL_INLINE;
    check_line_limit(&small, true);
}
END_TEST

START_TEST(line_limits_default)
{
    struct request_limits l = request_limits_default();
    ck_assert_uint_eq(l.max_inline, 64 * 1024);
    check_line_limit(&l, false);
}
END_TEST

/* Parses @p s whole with @p limits and checks the error (NULL: none). */
static void expect(const char *s, const struct request_limits *limits,
                   bool auth_required, const char *message, size_t commands)
{
    struct outcome o;
    assert_split_invariant(s, strlen(s), limits, auth_required, &o);
    if (message == NULL) {
        ck_assert_int_eq(o.err, 0);
    } else {
        ck_assert_int_eq(o.err, -EPROTO);
        ck_assert_str_eq(o.message, message);
    }
    ck_assert_uint_eq(o.count, commands);
    outcome_destroy(&o);
}

#define INVALID_MB "Protocol error: invalid multibulk length"
#define INVALID_BULK "Protocol error: invalid bulk length"
#define UNAUTH_MB "Protocol error: unauthenticated multibulk length"
#define UNAUTH_BULK "Protocol error: unauthenticated bulk length"

START_TEST(count_and_length_limits)
{
    struct request_limits small = request_limits_default();
    small.max_multibulk = SMALL_MULTIBULK;
    small.max_bulk = SMALL_BULK;
    expect("*2\r\n$1\r\na\r\n$1\r\nb\r\n", &small, false, NULL, 1);
    expect("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", &small, false, NULL, 1);
    expect("*4\r\n", &small, false, INVALID_MB, 0);
    expect("*1\r\n$4\r\nabcd\r\n", &small, false, NULL, 1);
    expect("*1\r\n$5\r\nabcde\r\n", &small, false, NULL, 1);
    expect("*1\r\n$6\r\nabcdef\r\n", &small, false, INVALID_BULK, 0);

    /* Redis's own: the count up to INT_MAX, bulk strings up to 512 MB
     * (announced only: nothing is allocated for them). */
    expect("*2147483646\r\n", NULL, false, NULL, 0);
    expect("*2147483647\r\n", NULL, false, NULL, 0);
    expect("*2147483648\r\n", NULL, false, INVALID_MB, 0);
    expect("*1\r\n$536870911\r\n", NULL, false, NULL, 0);
    expect("*1\r\n$536870912\r\n", NULL, false, NULL, 0);
    expect("*1\r\n$536870913\r\n", NULL, false, INVALID_BULK, 0);
}
END_TEST

START_TEST(unauthenticated_limits)
{
    expect("*9\r\n", NULL, true, NULL, 0);
    expect("*10\r\n", NULL, true, NULL, 0);
    expect("*11\r\n", NULL, true, UNAUTH_MB, 0);
    expect("*11\r\n", NULL, false, NULL, 0);
    expect("*-11\r\n", NULL, true, NULL, 0);
    expect("*1\r\n$16383\r\n", NULL, true, NULL, 0);
    expect("*1\r\n$16384\r\n", NULL, true, NULL, 0);
    expect("*1\r\n$16385\r\n", NULL, true, UNAUTH_BULK, 0);
    expect("*1\r\n$16385\r\n", NULL, false, NULL, 0);

    /* A bulk string of exactly the limit comes through. */
    char *s = malloc(REQUEST_UNAUTH_MAX_BULK + 32);
    ck_assert_ptr_nonnull(s);
    int k = sprintf(s, "*1\r\n$%lld\r\n", REQUEST_UNAUTH_MAX_BULK);
    memset(s + k, 'v', REQUEST_UNAUTH_MAX_BULK);
    memcpy(s + k + REQUEST_UNAUTH_MAX_BULK, "\r\n", 2);
    struct outcome o;
    parse_stream(s, (size_t)k + REQUEST_UNAUTH_MAX_BULK + 2, 0, NULL, true,
                 &o);
    ck_assert_int_eq(o.err, 0);
    ck_assert_uint_eq(o.count, 1);
    ck_assert_uint_eq(buffer_readable(&o.commands),
                      REQUEST_UNAUTH_MAX_BULK + 1);
    outcome_destroy(&o);
    free(s);
}
END_TEST

/* The limits follow authentication from the next header on. */
START_TEST(authenticating_lifts_the_limits)
{
    struct request_parser p;
    request_parser_init(&p, NULL);
    request_parser_set_auth_required(&p, true);
    size_t used;
    struct request rq;
    ck_assert_int_eq(
        request_parser_parse(&p, "AUTH pw\r\n*11\r\n", 14, &used, &rq), 1);
    ck_assert_uint_eq(used, 9);
    request_parser_set_auth_required(&p, false);
    ck_assert_int_eq(request_parser_parse(&p, "*11\r\n", 5, &used, &rq), 0);
    ck_assert_uint_eq(used, 5);
    request_parser_destroy(&p);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 request");
    TCase *tc = tcase_create("request");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, good_requests_parse_cut_anywhere);
    tcase_add_test(tc, bad_requests_fail_with_redis_words);
    tcase_add_test(tc, coalesced_requests_parse_in_order);
    tcase_add_test(tc, bulk_strings_are_binary);
    tcase_add_test(tc, arguments_outlive_the_input);
    tcase_add_test(tc, partial_requests_consume_what_is_complete);
    tcase_add_test(tc, errors_are_sticky);
    tcase_add_test(tc, nul_hides_the_end_of_a_line);
    tcase_add_test(tc, line_limits_small);
    tcase_add_test(tc, line_limits_default);
    tcase_add_test(tc, count_and_length_limits);
    tcase_add_test(tc, unauthenticated_limits);
    tcase_add_test(tc, authenticating_lifts_the_limits);
    suite_add_tcase(s, tc);
    return s;
}
