/*
 * libFuzzer target for the broker's request parser. The input is
 *
 *   byte 0      bit 0: the unauthenticated limits apply; bit 1: small
 *               limits (lines of FUZZ_SMALL_INLINE bytes, FUZZ_SMALL_COUNT
 *               arguments, bulk strings of FUZZ_SMALL_BULK bytes), so that
 *               the fuzzer reaches every limit with short inputs
 *   byte 1      how the rest arrives: 0 all at once, else in pieces of
 *               1..byte-1 bytes drawn from a generator seeded with it
 *   the rest    the byte stream a client sent
 *
 * The stream is parsed as a connection would (append a piece, take every
 * command, stop at the first error), once in pieces, once all at once and
 * once a byte at a time, and checked:
 *   - the three parses give the same commands, consume the same bytes and
 *     end with the same error and text;
 *   - every command has an argument, every error is -EPROTO with a text
 *     that starts "Protocol error: ", and no text without an error;
 *   - an error consumes nothing more and says the same when asked again.
 * Run by `make fuzz`; new inputs go to build-fuzz/, the seeds in
 * tests/ch06/corpus/request stay as they are.
 */
#include "mom/request.h"
#include "net/buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SMALL_INLINE 24
#define FUZZ_SMALL_COUNT 4
#define FUZZ_SMALL_BULK 16
#define FUZZ_ERROR_PREFIX "Protocol error: "

struct outcome {
    struct buffer commands; /* each argument as its length and bytes */
    size_t consumed;
    int err;
    char message[REQUEST_ERROR_CAP];
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 16;
}

static void record(struct outcome *o, const struct request *rq)
{
    check(rq->argc >= 1);
    check(buffer_append_u32(&o->commands, (uint32_t)rq->argc) == 0);
    for (size_t i = 0; i < rq->argc; i++) {
        check(rq->argv[i].ptr != NULL);
        check(buffer_append_u32(&o->commands, (uint32_t)rq->argv[i].len) == 0);
        check(buffer_append(&o->commands, rq->argv[i].ptr, rq->argv[i].len) ==
              0);
    }
}

/* pieces: 0 all at once, 1 a byte at a time, else random sizes. */
static void parse(const uint8_t *s, size_t n, const struct request_limits *l,
                  bool auth_required, unsigned pieces, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    buffer_init(&o->commands);
    struct request_parser p;
    request_parser_init(&p, l);
    request_parser_set_auth_required(&p, auth_required);
    struct buffer in;
    buffer_init(&in);
    uint32_t state = pieces;
    size_t fed = 0;
    do {
        size_t k = pieces == 0 ? n
                   : pieces == 1 ? 1
                                 : 1 + next_random(&state) % pieces;
        if (k > n - fed)
            k = n - fed;
        check(buffer_append(&in, s + fed, k) == 0);
        fed += k;
        struct request rq;
        int r;
        while ((r = request_parser_next(&p, &in, &rq)) == 1)
            record(o, &rq);
        if (r < 0) {
            check(r == -EPROTO);
            const char *text = request_parser_error(&p);
            check(strncmp(text, FUZZ_ERROR_PREFIX,
                          strlen(FUZZ_ERROR_PREFIX)) == 0);
            size_t before = buffer_readable(&in);
            check(request_parser_next(&p, &in, &rq) == r);
            check(buffer_readable(&in) == before);
            check(strcmp(request_parser_error(&p), text) == 0);
            o->err = r;
            strcpy(o->message, text);
            break;
        }
        check(request_parser_error(&p)[0] == '\0');
    } while (fed < n);
    o->consumed = fed - buffer_readable(&in);
    buffer_destroy(&in);
    request_parser_destroy(&p);
}

static void check_same(const struct outcome *a, const struct outcome *b)
{
    check(a->consumed == b->consumed && a->err == b->err &&
          strcmp(a->message, b->message) == 0);
    size_t n = buffer_readable(&a->commands);
    check(n == buffer_readable(&b->commands));
    check(n == 0 || memcmp(buffer_peek(&a->commands),
                           buffer_peek(&b->commands), n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool auth_required = (data[0] & 1) != 0;
    struct request_limits l = request_limits_default();
    if (data[0] & 2) {
        l.max_inline = FUZZ_SMALL_INLINE;
        l.max_multibulk = FUZZ_SMALL_COUNT;
        l.max_bulk = FUZZ_SMALL_BULK;
    }
    unsigned pieces = data[1];
    const uint8_t *s = data + 2;
    size_t n = size - 2;
    struct outcome whole, cut, bytes;
    parse(s, n, &l, auth_required, 0, &whole);
    parse(s, n, &l, auth_required, pieces, &cut);
    parse(s, n, &l, auth_required, 1, &bytes);
    check_same(&whole, &cut);
    check_same(&whole, &bytes);
    buffer_destroy(&whole.commands);
    buffer_destroy(&cut.commands);
    buffer_destroy(&bytes.commands);
    return 0;
}
