/* The broker's glob matcher against redis-server 7.0.15's stringmatchlen:
 * every case below, the long ones included, was checked against a running
 * redis-server 7.0.15 (Debian 7.0.15-1~deb12u10, x86-64): PSUBSCRIBE the
 * pattern on one connection and PUBLISH to the string on another (the
 * count of receivers), and `PUBSUB CHANNELS pattern` with a subscriber
 * on the string, both giving the answer in the table. */
#include "test_support.h"

#include "mom/glob.h"

#include <stdlib.h>
#include <string.h>

struct glob_case {
    const char *pattern;
    size_t pattern_len;
    const char *string;
    size_t string_len;
    bool want;
};

#define C(p, s, w) {p, sizeof(p) - 1, s, sizeof(s) - 1, w}

static const struct glob_case cases[] = {
    /* Plain bytes, case-sensitive; an empty string matches only the
     * empty pattern, not even "*". */
    C("", "", true),
    C("", "a", false),
    C("a", "", false),
    C("*", "", false),
    C("**", "", false),
    C("?", "", false),
    C("[a]", "", false),
    C("abc", "abc", true),
    C("abc", "abd", false),
    C("abc", "ab", false),
    C("ab", "abc", false),
    C("ABC", "abc", false),
    /* Stars, runs of stars, and the stars after the last byte. */
    C("*", "a", true),
    C("*", "anything", true),
    C("a*", "a", true),
    C("a*", "abc", true),
    C("*c", "abc", true),
    C("*c", "abd", false),
    C("a*c", "ac", true),
    C("a*c", "abbbc", true),
    C("a*c", "abcd", false),
    C("a**c", "abc", true),
    C("***", "x", true),
    C("*a*", "a", true),
    C("*a*", "bab", true),
    C("*a*", "bbb", false),
    C("a*b*c", "aXbYc", true),
    C("a*b*c", "acb", false),
    C("*?", "a", true),
    C("?*", "a", true),
    C("*??", "a", false),
    C("news.*", "news.tech", true),
    C("news.*", "news", false),
    C("h*llo", "hllo", true),
    C("*a**", "ba", true),
    C("a***", "a", true),
    C("a*?", "a", false),
    C("a*\\*", "a", false),
    C("*ab", "aab", true),
    C("*aab", "aaab", true),
    C("a*a*a", "aa", false),
    C("a*a*a", "aaa", true),
    /* "?" is one byte, any byte. */
    C("?", "a", true),
    C("??", "a", false),
    C("h?llo", "hello", true),
    C("h?llo", "hllo", false),
    C("?", "\000", true),
    /* Classes: negation, ranges either way round, "]" first (an empty
     * class), "-" at either end ("[a-]" is the range "]"-"a"), escapes. */
    C("h[ae]llo", "hello", true),
    C("h[ae]llo", "hillo", false),
    C("h[^e]llo", "hallo", true),
    C("h[^e]llo", "hello", false),
    C("h[a-b]llo", "hbllo", true),
    C("[a-c]", "d", false),
    C("[z-a]", "m", true),
    C("[z-a]", "A", false),
    C("[c-c]", "c", true),
    C("[]", "]", false),
    C("[]", "a", false),
    C("[]a]", "a", false),
    C("[]a]", "]a]", false),
    C("[^]", "x", true),
    C("[^]", "]", true),
    C("[^]x", "ax", true),
    C("[-a]", "-", true),
    C("[-a]", "a", true),
    C("[a-]", "-", false),
    C("[a-]", "_", true),
    C("[a-]", "]", true),
    C("[a-]b", "b", true),
    C("[a-]b", "_b", false),
    C("[a-c-]", "-", true),
    C("[a-c-]", "b", true),
    C("[a-c-e]", "d", false),
    C("[a-c-e]", "-", true),
    C("[--0]", "/", true),
    C("[--0]", "1", false),
    C("[a\\-z]", "-", true),
    C("[a\\-z]", "b", false),
    C("[\\]]", "]", true),
    C("[\\]a]", "a", true),
    C("[\\^a]", "^", true),
    C("[^\\^]", "^", false),
    C("[a-\\]", "\\", true),
    C("[a-\\]", "^", true),
    C("[a-\\]", "b", false),
    C("[\\a-c]", "b", false),
    C("[\\a-c]", "-", true),
    C("[^a-c]", "d", true),
    C("[^a-c]", "b", false),
    C("[a^]", "^", true),
    C("[*]", "*", true),
    C("[*]", "a", false),
    C("[?]", "a", false),
    /* A class the pattern ends inside holds what is there. */
    C("[", "[", false),
    C("[", "a", false),
    C("[ab", "a", true),
    C("[ab", "b", true),
    C("[ab", "[", false),
    C("[ab", "ab", false),
    C("[^", "x", true),
    C("[^", "xy", false),
    C("[^ab", "c", true),
    C("[^ab", "a", false),
    C("a[", "a[", false),
    C("[a-", "-", true),
    C("[a-", "a", true),
    C("[a-z", "m", true),
    C("[\\", "\\", true),
    C("[a\\", "\\", true),
    C("[\\\\", "\\", true),
    C("[ab]*", "ab", true),
    /* Range bounds compare as signed bytes: 0x80-0xff sort below 0. */
    C("[a-\377]", "\200", false),
    C("[a-\377]", "\377", true),
    C("[a-\377]", "\000", true),
    C("[a-\377]", "b", false),
    C("[\200-\377]", "\300", true),
    C("[\200-\377]", "a", false),
    C("[\001-\200]", "\002", false),
    C("[\001-\200]", "\220", true),
    C("[\001-\200]", "\000", true),
    C("[\000-\177]", "\200", false),
    /* Escapes outside a class; a lone "\\" at the end is itself. */
    C("\\*", "*", true),
    C("\\*", "a", false),
    C("\\?", "?", true),
    C("\\?", "a", false),
    C("\\[a]", "[a]", true),
    C("\\\\", "\\", true),
    C("a\\", "a\\", true),
    C("a\\", "a", false),
    C("\\", "\\", true),
    C("\\a", "a", true),
    C("*\\*", "ab*", true),
    C("*\\*", "ab", false),
    /* NUL and bytes above 0x7f are ordinary bytes. */
    C("a\000b", "a\000b", true),
    C("a?b", "a\000b", true),
    C("a*", "a\000\000", true),
    C("[\000]", "\000", true),
    C("a\000*", "a\000", true),
    C("\377*", "\377\200", true),
    C("\200", "\200", true),
};
#define CASE_COUNT (sizeof cases / sizeof cases[0])

/* A long pattern or string: unit repeated times, then tail. */
struct repeat {
    const char *unit;
    size_t times;
    const char *tail;
};

struct long_case {
    struct repeat pattern;
    struct repeat string;
    bool want;
};

/* Patterns that would take Redis's plain recursion exponential time or
 * unbounded depth. Redis answers the first ones at once, since a star
 * whose rest fails everywhere ends the match; the others sit at its
 * nesting limit (GLOB_MAX_NESTING, 1000 groups of stars): a match that
 * has to pass a 1001st group before the string's last byte is refused,
 * a final 1001st group or one after the string is used up is not. */
static const struct long_case long_cases[] = {
    {{"*a", 30, "*b"}, {"a", 20000, ""}, false},
    {{"*a", 30, "*b"}, {"a", 20000, "b"}, true},
    {{"a*", 20, "b"}, {"a", 50000, ""}, false},
    {{"a*", 1000, "a"}, {"a", 1001, ""}, true},
    {{"a*", 1000, "a"}, {"a", 3000, ""}, true},
    {{"a*", 1001, "a"}, {"a", 1002, ""}, false},
    {{"a*", 1001, "a"}, {"a", 3000, ""}, false},
    {{"a*", 1001, ""}, {"a", 1001, ""}, true},
    {{"a*", 1001, ""}, {"a", 1002, ""}, true},
    {{"a*", 1002, ""}, {"a", 1002, ""}, false},
    {{"a*", 1001, "b"}, {"a", 1001, ""}, false},
    {{"?*", 1000, "?"}, {"x", 5000, ""}, true},
    {{"?*", 1001, "?"}, {"x", 5000, ""}, false},
    {{"[ab]*", 1000, "[ab]"}, {"ab", 1000, ""}, true},
    {{"[ab]*", 1001, "[ab]"}, {"ab", 1000, ""}, false},
    {{"*?", 50000, ""}, {"a", 50000, ""}, false},
    {{"*", 5000, "a"}, {"a", 1, ""}, true},
    {{"a", 1, ""}, {"a", 1, ""}, true},
    {{"a*", 1, ""}, {"a", 1, ""}, true},
};
#define LONG_COUNT (sizeof long_cases / sizeof long_cases[0])

/* A heap copy of exactly len bytes, so that valgrind and ASan catch a
 * read past either input. */
static char *exact_copy(const char *bytes, size_t len)
{
    char *out = malloc(len == 0 ? 1 : len);
    ck_assert_ptr_nonnull(out);
    memcpy(out, bytes, len);
    return out;
}

static char *build(const struct repeat *r, size_t *len)
{
    size_t unit = strlen(r->unit);
    size_t tail = strlen(r->tail);
    *len = unit * r->times + tail;
    char *out = malloc(*len == 0 ? 1 : *len);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < r->times; i++)
        memcpy(out + i * unit, r->unit, unit);
    memcpy(out + unit * r->times, r->tail, tail);
    return out;
}

START_TEST(table_answers_as_redis)
{
    for (size_t i = 0; i < CASE_COUNT; i++) {
        const struct glob_case *c = &cases[i];
        char *pattern = exact_copy(c->pattern, c->pattern_len);
        char *string = exact_copy(c->string, c->string_len);
        bool got = glob_match(pattern, c->pattern_len, string, c->string_len);
        ck_assert_msg(got == c->want, "case %zu: pattern \"%s\" string \"%s\": %d",
                      i, c->pattern, c->string, got);
        free(pattern);
        free(string);
    }
}
END_TEST

START_TEST(abusive_patterns_answer_as_redis)
{
    /* The long cases pin the limit at Redis's value. */
    ck_assert_int_eq(GLOB_MAX_NESTING, 1000);
    for (size_t i = 0; i < LONG_COUNT; i++) {
        const struct long_case *c = &long_cases[i];
        size_t pattern_len;
        size_t string_len;
        char *pattern = build(&c->pattern, &pattern_len);
        char *string = build(&c->string, &string_len);
        bool got = glob_match(pattern, pattern_len, string, string_len);
        ck_assert_msg(got == c->want,
                      "long case %zu: \"%s\" x %zu + \"%s\" against \"%s\" x "
                      "%zu + \"%s\": %d",
                      i, c->pattern.unit, c->pattern.times, c->pattern.tail,
                      c->string.unit, c->string.times, c->string.tail, got);
        free(pattern);
        free(string);
    }
}
END_TEST

/* The bytes after either length are never looked at, even where Redis
 * would find its terminator: each call below answers differently if they
 * were. */
START_TEST(lengths_bound_the_reads)
{
    ck_assert(!glob_match("a*", 1, "ab", 2));
    ck_assert(glob_match("a", 1, "ab", 1));
    ck_assert(!glob_match("[a]b", 2, "ab", 2));
    ck_assert(glob_match("a\\*", 2, "a\\", 2));
    ck_assert(!glob_match("a\\*", 2, "a*", 2));
    ck_assert(!glob_match("[^a]b", 3, "cb", 2));
    ck_assert(glob_match("**b", 1, "xa", 2));
}
END_TEST

START_TEST(empty_inputs_may_be_null)
{
    ck_assert(glob_match(NULL, 0, NULL, 0));
    ck_assert(!glob_match(NULL, 0, "a", 1));
    ck_assert(!glob_match("*", 1, NULL, 0));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 glob");
    TCase *tc = tcase_create("glob");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, table_answers_as_redis);
    tcase_add_test(tc, abusive_patterns_answer_as_redis);
    tcase_add_test(tc, lengths_bound_the_reads);
    tcase_add_test(tc, empty_inputs_may_be_null);
    suite_add_tcase(s, tc);
    return s;
}
