/*
 * Numbers on the examples' command lines, read strictly: "abc" or "80x"
 * is a usage error, not port 0.
 */
#ifndef MUDUO_EXAMPLES_ARGS_H
#define MUDUO_EXAMPLES_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Reads argv[index] as a decimal number in [min, max] into *value, which
 * keeps its default when there is no such argument. False when the
 * argument is not such a number. */
static inline bool arg_long(int argc, char **argv, int index, long min,
                            long max, long *value)
{
    if (index >= argc)
        return true;
    char *end;
    errno = 0;
    long v = strtol(argv[index], &end, 10);
    if (errno != 0 || end == argv[index] || *end != '\0' || v < min ||
        v > max)
        return false;
    *value = v;
    return true;
}

#endif /* MUDUO_EXAMPLES_ARGS_H */
