#include "base/timestamp.h"

#include <stdio.h>
#include <time.h>

static int64_t clock_us(clockid_t clock)
{
    struct timespec ts;
    /* Only fails for an invalid clock id, and these two always exist. */
    (void)clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * TIMESTAMP_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t timestamp_mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

int64_t timestamp_wall_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

char *timestamp_format(int64_t wall_us, char buf[TIMESTAMP_FORMAT_LEN])
{
    int micros;
    time_t seconds = (time_t)timestamp_split(wall_us, &micros);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    size_t n = strftime(buf, TIMESTAMP_FORMAT_LEN, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, TIMESTAMP_FORMAT_LEN - n, ".%06d", micros);
    return buf;
}
