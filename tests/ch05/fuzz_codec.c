/*
 * libFuzzer target for the length-header codec. The input is
 *
 *   byte 0      the largest payload accepted (0: the default maximum)
 *   byte 1      how the rest arrives: 0 all at once, else in pieces of
 *               1..byte-1 bytes drawn from a generator seeded with it
 *   the rest    the byte stream a peer sent
 *
 * The stream is decoded as a connection would (append a piece, take every
 * complete frame, stop at the first error), once in pieces and once all
 * at once, and checked against a plain reading of the stream:
 *   - both decodings see the same frames, consume the same bytes and end
 *     with the same error, which is the one the header calls for;
 *   - re-encoding the frames reproduces the consumed bytes exactly;
 *   - "not yet" only while a frame really is incomplete;
 *   - an error consumes nothing and says the same when asked again.
 * Run by `make fuzz`; new inputs go to build-fuzz/, the seeds in
 * tests/ch05/corpus/codec stay as they are.
 */
#include "net/buffer.h"
#include "net/codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct outcome {
    size_t frames;
    size_t consumed;
    int err; /* 0, or the error that stopped the decoding */
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static int32_t field_at(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                     (uint32_t)p[2] << 8 | p[3]);
}

/* The plain reading: walk the headers of the whole stream. */
static struct outcome model(const uint8_t *s, size_t n, size_t max)
{
    struct outcome o = {0, 0, 0};
    while (n - o.consumed >= CODEC_HEADER_LEN) {
        int32_t field = field_at(s + o.consumed);
        if (field < 0) {
            o.err = -EBADMSG;
            break;
        }
        if ((size_t)field > max) {
            o.err = -EMSGSIZE;
            break;
        }
        if (n - o.consumed - CODEC_HEADER_LEN < (size_t)field)
            break;
        o.frames++;
        o.consumed += CODEC_HEADER_LEN + (size_t)field;
    }
    return o;
}

/* Takes every complete frame of @p in, re-encoding each into @p out.
 * @return the error that stopped it, or 0 when it waits for more. */
static int drain(struct buffer *in, size_t max_frame, size_t max,
                 struct buffer *out, struct outcome *o)
{
    for (;;) {
        const char *p = NULL;
        size_t len = 0;
        size_t before = buffer_readable(in);
        const char *start = buffer_peek(in);
        int r = codec_peek(in, max_frame, &p, &len);
        if (r == 1) {
            check(p == start + CODEC_HEADER_LEN && len <= max &&
                  CODEC_HEADER_LEN + len <= before);
            check(codec_encode(out, p, len) == 0);
            codec_consume(in, len);
            check(buffer_readable(in) == before - CODEC_HEADER_LEN - len);
            o->frames++;
            o->consumed += CODEC_HEADER_LEN + len;
            continue;
        }
        /* Not a frame: nothing was consumed, nothing was returned. */
        check(buffer_readable(in) == before && buffer_peek(in) == start &&
              p == NULL && len == 0);
        if (r == 0) {
            check(before < CODEC_HEADER_LEN ||
                  before - CODEC_HEADER_LEN <
                      (size_t)field_at((const uint8_t *)start));
            return 0;
        }
        check(r == -EBADMSG || r == -EMSGSIZE);
        check(codec_peek(in, max_frame, &p, &len) == r); /* stable */
        int32_t field = field_at((const uint8_t *)start);
        check(r == -EBADMSG ? field < 0 : (size_t)field > max);
        return r;
    }
}

static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 16;
}

static struct outcome decode(const uint8_t *s, size_t n, size_t max_frame,
                             size_t max, unsigned pieces)
{
    struct buffer in, out;
    buffer_init(&in);
    buffer_init(&out);
    struct outcome o = {0, 0, 0};
    uint32_t state = pieces;
    size_t fed = 0;
    while (fed < n && o.err == 0) {
        size_t k = pieces == 0 ? n : 1 + next_random(&state) % pieces;
        if (k > n - fed)
            k = n - fed;
        check(buffer_append(&in, s + fed, k) == 0);
        fed += k;
        o.err = drain(&in, max_frame, max, &out, &o);
    }
    check(o.consumed + buffer_readable(&in) == fed);
    check(buffer_readable(&out) == o.consumed &&
          (o.consumed == 0 || memcmp(buffer_peek(&out), s, o.consumed) == 0));
    buffer_destroy(&in);
    buffer_destroy(&out);
    return o;
}

static int same(struct outcome a, struct outcome b)
{
    return a.frames == b.frames && a.consumed == b.consumed && a.err == b.err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_frame = data[0];
    size_t max = max_frame == 0 ? CODEC_DEFAULT_MAX_FRAME : max_frame;
    unsigned pieces = data[1];
    const uint8_t *s = data + 2;
    size_t n = size - 2;
    struct outcome want = model(s, n, max);
    check(same(decode(s, n, max_frame, max, pieces), want));
    check(same(decode(s, n, max_frame, max, 0), want));
    return 0;
}
