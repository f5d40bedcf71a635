/**
 * @file glob.h
 * @brief Glob patterns as Redis matches them: PSUBSCRIBE patterns against
 * the channel of a PUBLISH, and the pattern of `PUBSUB CHANNELS`.
 *
 * A client that subscribes with a pattern must get exactly the messages
 * that redis-server 7.0.15 (as Debian builds it for x86-64) would give
 * it, so glob_match() answers as Redis's case-sensitive stringmatchlen()
 * does on every input, its odd corners included:
 *
 * - `*` matches any run of bytes, empty or not; consecutive stars count
 *   as one. `?` matches any one byte.
 * - `[...]` matches one byte in the class, `[^...]` one byte not in it.
 *   Inside, `\x` stands for the byte x, and a byte, `-` and one more
 *   byte make a range (the bounds in either order, compared as signed
 *   bytes: `[a-\xff]` holds 0x00-0x61 and 0xff, not 0x80-0xfe). `]` ends
 *   the class, except as the end of a range: `[a-]` is the range `]`-`a`,
 *   and the class goes on. Any other `-` is an ordinary member (`[-a]`,
 *   `[a-c-]`). `[]` never matches, `[^]` matches any byte.
 * - A class that the pattern ends inside holds every member up to the
 *   end: `[ab` matches `a` or `b`, `[^` matches any byte.
 * - `\x` outside a class matches the byte x; a lone `\` at the end of
 *   the pattern matches a backslash. Every other byte, NUL included,
 *   matches itself.
 * - An empty string is matched only by the empty pattern (not by `*`):
 *   Redis stops as soon as the string is used up, and only stars that
 *   follow the byte that used it up are skipped.
 * - Protection against abusive patterns: when the pattern reaches its
 *   (GLOB_MAX_NESTING + 1)th group of stars with bytes of the string left
 *   and more pattern after the group, the answer is "no match", whether or
 *   not the rest would match. A group that ends the pattern still
 *   matches. (The limit is Redis's fix for CVE-2024-31228, which
 *   Debian's 7.0.15 carries; the upstream 7.0.15 release has no limit.)
 *
 * Cost: O(pattern_len * string_len) byte comparisons at worst, where
 * Redis's recursion can go as deep as GLOB_MAX_NESTING. The matcher
 * tries each star's next position only when what follows it has failed
 * there, and once what follows a star fails at every position, no
 * placement of an earlier star can help (Redis's skipLongerMatches rule),
 * so each star scans the string once. No allocation, no recursion.
 *
 * Contract
 * - Pure function: any thread may call it at any time.
 * - @p pattern and @p string are byte strings of the given lengths (they
 *   may hold NUL and need no terminator); NULL is allowed with length 0.
 */
#ifndef MUDUO_MOM_GLOB_H
#define MUDUO_MOM_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/** @brief Groups of stars that a match may pass before Redis gives up
 * with "no match" at the next one (its recursion limit). */
#define GLOB_MAX_NESTING 1000

/**
 * @brief Whether @p string matches the glob @p pattern, as Redis's
 * stringmatchlen(pattern, string, nocase = 0) answers.
 * @param pattern the pattern's bytes (PSUBSCRIBE's argument)
 * @param pattern_len how many
 * @param string the bytes to match (a channel name)
 * @param string_len how many
 * @return true on a match
 */
bool glob_match(const char *pattern, size_t pattern_len, const char *string,
                size_t string_len);

#endif /* MUDUO_MOM_GLOB_H */
