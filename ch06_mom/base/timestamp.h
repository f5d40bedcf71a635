/**
 * @file timestamp.h
 * @brief Time as a signed 64-bit count of microseconds.
 *
 * Contract
 * - Two clocks, never mixed: the monotonic clock orders events and measures
 *   intervals (it never jumps when the wall clock is set); the wall clock is
 *   for people (log lines).
 * - Every function here is thread-safe and allocation-free.
 * - 64 bits of microseconds last about 292,000 years: no overflow handling.
 */
#ifndef MUDUO_BASE_TIMESTAMP_H
#define MUDUO_BASE_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

/** @brief Microseconds in one second. */
#define TIMESTAMP_US_PER_SEC INT64_C(1000000)

/** @brief Now on CLOCK_MONOTONIC, in microseconds since an unspecified
 * start (boot). This is the clock of receive times and timers. */
int64_t timestamp_mono_us(void);

/** @brief Now on CLOCK_REALTIME, in microseconds since the Unix epoch. */
int64_t timestamp_wall_us(void);

/**
 * @brief Splits a time into whole seconds and the microseconds after them.
 * Rounds down, not toward zero: before the epoch the microseconds still
 * count forward from the second before (-1 is second -1, 999999 us).
 * @param us      microseconds.
 * @param micros  set to 0 .. 999999.
 * @return the seconds.
 */
static inline int64_t timestamp_split(int64_t us, int *micros)
{
    int64_t seconds = us / TIMESTAMP_US_PER_SEC;
    int64_t rest = us % TIMESTAMP_US_PER_SEC;
    if (rest < 0) {
        rest += TIMESTAMP_US_PER_SEC;
        seconds--;
    }
    *micros = (int)rest;
    return seconds;
}

/** @brief Buffer size that timestamp_format() needs, with the NUL: room
 * for the years of every int64_t time (-290308 to 294247). */
#define TIMESTAMP_FORMAT_LEN 30

/**
 * @brief Formats a wall-clock time as "YYYY-MM-DD HH:MM:SS.uuuuuu" in UTC.
 * @param wall_us microseconds since the Unix epoch (timestamp_wall_us());
 *                times before it count back (-1 is 23:59:59.999999 on
 *                1969-12-31).
 * @param buf     at least TIMESTAMP_FORMAT_LEN bytes.
 * @return @p buf.
 */
char *timestamp_format(int64_t wall_us, char buf[TIMESTAMP_FORMAT_LEN]);

#endif /* MUDUO_BASE_TIMESTAMP_H */
