/*
 * Redis matches by recursion: each group of stars tries every position of
 * the string for the rest of the pattern. Two of its rules make that a
 * loop with one backtracking point:
 *
 * - Once the rest of the pattern after a star has reached the next group
 *   of stars, Redis never returns to the earlier star with a match: either
 *   the later star finds one, or it tried every position, failed, and
 *   Redis answers "no match" at once (skipLongerMatches). So only the
 *   latest star is ever retried, at the next position of the string.
 * - Redis gives up at the star after GLOB_MAX_NESTING nested ones: that
 *   star's every attempt fails, which ends the match as above. The
 *   nesting depth is how many groups of stars the loop has passed.
 *
 * Each non-star element matches exactly one byte, so the part between two
 * stars is tried at most once per position of the string: the work is
 * O(pattern_len * string_len).
 */
#include "mom/glob.h"

#include <stdint.h>

/* Redis compares a range's bounds and the byte as plain `char`, which is
 * signed on x86-64: bytes 0x80-0xff sort below 0x00. */
static int glob_ordinal(unsigned char c)
{
    return (int)(int8_t)c;
}

/* Matches byte c against the class whose body starts at pat[i] (just
 * after its '['). Returns where the class ends: past its ']', or the
 * pattern's end for a class the pattern ends inside, whose members are
 * then everything up to that end. */
static size_t glob_class(const unsigned char *pat, size_t len, size_t i,
                         unsigned char c, bool *hit)
{
    bool negate = i < len && pat[i] == '^';
    if (negate)
        i++;
    bool member = false;
    while (i < len && pat[i] != ']') {
        if (pat[i] == '\\' && len - i >= 2) {
            member |= pat[i + 1] == c;
            i += 2;
        } else if (len - i >= 3 && pat[i + 1] == '-') {
            /* The end may be ']' or '\\': both are plain bounds here. */
            int lo = glob_ordinal(pat[i]);
            int hi = glob_ordinal(pat[i + 2]);
            int x = glob_ordinal(c);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            member |= x >= lo && x <= hi;
            i += 3;
        } else {
            member |= pat[i] == c;
            i++;
        }
    }
    if (i < len)
        i++; /* the ']' */
    *hit = member != negate;
    return i;
}

bool glob_match(const char *pattern, size_t pattern_len, const char *string,
                size_t string_len)
{
    const unsigned char *pat = (const unsigned char *)pattern;
    const unsigned char *str = (const unsigned char *)string;
    /* Redis looks at the pattern only while bytes of the string are
     * left: no star ever matches an empty string on its own. */
    if (string_len == 0)
        return pattern_len == 0;
    size_t p = 0;
    size_t s = 0;
    /* The latest star: what follows it, and where in the string that is
     * being tried. */
    bool starred = false;
    size_t star_p = 0;
    size_t star_s = 0;
    unsigned depth = 0;
    for (;;) {
        /* Here s < string_len: a byte is left for the element at p. */
        bool ok = false;
        if (p == pattern_len) {
            ok = false; /* the pattern is used up, the string is not */
        } else if (pat[p] == '*') {
            while (p + 1 < pattern_len && pat[p + 1] == '*')
                p++;
            if (p + 1 == pattern_len)
                return true; /* a final star takes whatever is left */
            if (depth == GLOB_MAX_NESTING)
                return false;
            depth++;
            p++;
            starred = true;
            star_p = p;
            star_s = s;
            continue;
        } else if (pat[p] == '?') {
            ok = true;
            p++;
        } else if (pat[p] == '[') {
            p = glob_class(pat, pattern_len, p + 1, str[s], &ok);
        } else {
            /* '\\' escapes the next byte; a final one is itself. */
            if (pat[p] == '\\' && pattern_len - p >= 2)
                p++;
            ok = pat[p] == str[s];
            p++;
        }
        if (ok) {
            s++;
            if (s < string_len)
                continue;
            /* The string is used up: only stars may remain. */
            while (p < pattern_len && pat[p] == '*')
                p++;
            if (p == pattern_len)
                return true;
        }
        /* This attempt failed: the latest star takes one byte more. When
         * it has tried every position, no earlier star can do better. */
        if (!starred || ++star_s == string_len)
            return false;
        p = star_p;
        s = star_s;
    }
}
