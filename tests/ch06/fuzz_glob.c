/*
 * libFuzzer target for the glob matcher. The input is cut into a pattern
 * and a string twice: at its first NUL (the pattern before it, the string
 * after it), when it has one, and in halves, so that patterns hold NUL
 * bytes too. Each pair goes to glob_match() and to a reference matcher
 * written to be plainly right rather than fast, and any difference aborts:
 *
 * - the reference first cuts the whole pattern into elements: a run of
 *   stars, or the set of bytes that one pattern element takes ('?', a
 *   class, an escaped or a plain byte), built once per element;
 * - whether the elements from k on match the string from byte i on is
 *   a table over (k, i), filled from the last element back, in which a
 *   star tries every position: no early exit and no depth limit;
 * - Redis's nesting limit then applies as a count: a match passes, with
 *   bytes of the string left, every group of stars before the last
 *   non-star element, so with more than GLOB_MAX_NESTING of those there
 *   is no match (and no table to fill).
 *
 * Both inputs are copied to buffers of their exact size, so that ASan
 * reports a read past either end. Run by `make fuzz`; new inputs go to
 * build-fuzz/, the seeds in tests/ch06/corpus/glob stay as they are.
 */
#include "mom/glob.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The reference fills a table of elements x positions; bigger inputs are
 * only matched for crashes. */
#define FUZZ_MAX_CELLS ((size_t)1 << 18)

struct elem {
    bool star;
    uint8_t set[32]; /* bit b: byte b is taken (not for a star) */
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static void set_add(struct elem *e, uint8_t b)
{
    e->set[b / 8] |= (uint8_t)(1u << (b % 8));
}

static bool set_has(const struct elem *e, uint8_t b)
{
    return (e->set[b / 8] >> (b % 8)) & 1u;
}

/* Ranges: both bounds and the byte as the signed char Redis uses. */
static void set_add_range(struct elem *e, uint8_t a, uint8_t b)
{
    int lo = (int)(int8_t)a;
    int hi = (int)(int8_t)b;
    if (lo > hi) {
        int t = lo;
        lo = hi;
        hi = t;
    }
    for (int c = 0; c < 256; c++)
        if ((int8_t)c >= lo && (int8_t)c <= hi)
            set_add(e, (uint8_t)c);
}

/* Cuts the pattern into elements; returns how many (at most n). */
static size_t parse(const uint8_t *p, size_t n, struct elem *out)
{
    size_t count = 0;
    size_t i = 0;
    while (i < n) {
        struct elem *e = &out[count++];
        memset(e, 0, sizeof *e);
        if (p[i] == '*') {
            e->star = true;
            while (i < n && p[i] == '*')
                i++;
        } else if (p[i] == '?') {
            memset(e->set, 0xff, sizeof e->set);
            i++;
        } else if (p[i] == '[') {
            i++;
            bool negate = i < n && p[i] == '^';
            if (negate)
                i++;
            for (;;) {
                size_t left = n - i;
                if (left == 0)
                    break; /* the pattern ends inside the class */
                if (p[i] == '\\' && left >= 2) {
                    set_add(e, p[i + 1]);
                    i += 2;
                } else if (p[i] == ']') {
                    i++;
                    break;
                } else if (left >= 3 && p[i + 1] == '-') {
                    set_add_range(e, p[i], p[i + 2]);
                    i += 3;
                } else {
                    set_add(e, p[i]);
                    i++;
                }
            }
            if (negate)
                for (size_t b = 0; b < sizeof e->set; b++)
                    e->set[b] = (uint8_t)~e->set[b];
        } else {
            if (p[i] == '\\' && n - i >= 2)
                i++;
            set_add(e, p[i]);
            i++;
        }
    }
    return count;
}

/* Whether the elements from k on match the string from byte i on
 * (i < sn), for every k and i, from the last element back: here[i] for
 * the elements from k on, next[i] for those from k + 1 on, and
 * any_next[i] for "from k + 1 on, from some byte j >= i on".
 *
 * Each non-star element takes one byte, so element k can only be tried
 * at a byte i with the non-star elements before it fitting before i and
 * those from it on fitting from i on: a band of sn - bytes + 1 positions
 * per element (bytes: how many non-star elements), and only the band is
 * ever read. That keeps patterns at the nesting limit cheap. */
static bool ref_match(const struct elem *elems, size_t count, size_t bytes,
                      const uint8_t *s, size_t sn)
{
    size_t width = sn - bytes + 1;
    bool *here = calloc(sn + 1, sizeof *here);
    bool *next = calloc(sn + 1, sizeof *next);
    bool *any_next = calloc(sn + 1, sizeof *any_next);
    check(here != NULL && next != NULL && any_next != NULL);
    /* Past the last element: bytes left never match. */
    size_t after = 0; /* non-star elements after k */
    for (size_t k = count; k-- > 0;) {
        const struct elem *e = &elems[k];
        size_t from_k = after + !e->star;
        size_t lo = bytes - from_k;
        /* The string used up after element k: a final run of stars at
         * most may follow. */
        bool rest_empty = k + 1 == count ||
                          (k + 2 == count && elems[k + 1].star);
        for (size_t i = lo; i < lo + width && i < sn; i++) {
            if (e->star)
                here[i] = k + 1 == count || any_next[i];
            else if (!set_has(e, s[i]))
                here[i] = false;
            else
                here[i] = i + 1 == sn ? rest_empty : next[i + 1];
        }
        bool any = false;
        for (size_t i = lo + width; i-- > lo;) {
            any = any || (i < sn && here[i]);
            any_next[i] = any;
        }
        bool *t = next;
        next = here;
        here = t;
        after = from_k;
    }
    bool yes = count > 0 && next[0];
    free(here);
    free(next);
    free(any_next);
    return yes;
}

/* The reference's answer, or -1 when the input is too big for it. */
static int reference(const uint8_t *p, size_t pn, const uint8_t *s,
                     size_t sn)
{
    if (sn == 0)
        return pn == 0;
    struct elem *elems = calloc(pn + 1, sizeof *elems);
    check(elems != NULL);
    size_t count = parse(p, pn, elems);
    /* The groups of stars before the last non-star element. */
    size_t last = count;
    for (size_t k = 0; k < count; k++)
        if (!elems[k].star)
            last = k;
    size_t groups = 0;
    for (size_t k = 0; k < last && last < count; k++)
        groups += elems[k].star;
    size_t bytes = 0;
    for (size_t k = 0; k < count; k++)
        bytes += !elems[k].star;
    int yes;
    if (groups > GLOB_MAX_NESTING || bytes > sn)
        yes = 0;
    else if (count > FUZZ_MAX_CELLS / (sn - bytes + 1))
        yes = -1;
    else
        yes = ref_match(elems, count, bytes, s, sn);
    free(elems);
    return yes;
}

static void compare(const uint8_t *p, size_t pn, const uint8_t *s, size_t sn)
{
    char *pattern = malloc(pn + (pn == 0));
    char *string = malloc(sn + (sn == 0));
    check(pattern != NULL && string != NULL);
    memcpy(pattern, p, pn);
    memcpy(string, s, sn);
    bool got = glob_match(pattern, pn, string, sn);
    int want = reference(p, pn, s, sn);
    check(want < 0 || got == (want == 1));
    free(pattern);
    free(string);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = size > 0 ? memchr(data, 0, size) : NULL;
    if (nul != NULL) {
        size_t at = (size_t)(nul - data);
        compare(data, at, nul + 1, size - at - 1);
    }
    compare(data, size / 2, data + size / 2, size - size / 2);
    return 0;
}
