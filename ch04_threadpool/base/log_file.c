#include "base/log_file.h"

#include "base/timestamp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_FILE_BUFFER (64 * 1024)
#define SECONDS_PER_DAY 86400

struct log_file {
    char *basename;
    size_t roll_size;
    FILE *fp;
    char buffer[LOG_FILE_BUFFER];
    size_t written;   /* bytes in the current file */
    int64_t day;      /* UTC day of the current file */
    uint64_t count;   /* files started */
    bool roll_failed; /* the last attempt to start a file failed */
};

static int start_file(struct log_file *f)
{
    int64_t now = timestamp_wall_us() / TIMESTAMP_US_PER_SEC;
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    size_t len = strlen(f->basename) + 64;
    char *name = malloc(len);
    if (name == NULL)
        return -ENOMEM;
    snprintf(name, len, "%s.%s.%d.%llu.log", f->basename, stamp, (int)getpid(),
             (unsigned long long)f->count + 1);
    FILE *fp = fopen(name, "ae");
    int err = fp == NULL ? -errno : 0;
    free(name);
    if (fp == NULL)
        return err;
    if (f->fp != NULL)
        fclose(f->fp);
    f->fp = fp;
    setvbuf(f->fp, f->buffer, _IOFBF, sizeof f->buffer);
    f->written = 0;
    f->day = now / SECONDS_PER_DAY;
    f->count++;
    return 0;
}

struct log_file *log_file_open(const char *basename, size_t roll_size)
{
    if (roll_size == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct log_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->basename = strdup(basename);
    f->roll_size = roll_size;
    int err = f->basename == NULL ? -ENOMEM : start_file(f);
    if (err != 0) {
        free(f->basename);
        free(f);
        errno = -err;
        return NULL;
    }
    return f;
}

static int write_part(struct log_file *f, const char *data, size_t len)
{
    if (fwrite(data, 1, len, f->fp) != len)
        return -EIO;
    f->written += len;
    return 0;
}

/* Starts the next file; false when that failed. The current one then
 * stays: a log that cannot roll is better than one that loses lines. It
 * says so once per failing streak, and the next append tries again. */
static bool roll(struct log_file *f)
{
    int err = start_file(f);
    if (err == 0) {
        f->roll_failed = false;
    } else if (!f->roll_failed) {
        f->roll_failed = true;
        char line[160];
        int n = snprintf(line, sizeof line,
                         "log_file: cannot start a new file (%s); going "
                         "on in this one\n",
                         strerror(-err));
        (void)write_part(f, line, (size_t)n);
    }
    return err == 0;
}

/* How much of data[0, len) still belongs in the current file: all of it
 * when it fits under roll_size; otherwise up to the last line end that
 * fits, or 0 when none does (roll first). An empty file takes at least
 * one whole line, however long. */
static size_t fitting_part(const struct log_file *f, const char *data,
                           size_t len)
{
    size_t room = f->written < f->roll_size ? f->roll_size - f->written : 0;
    if (len <= room)
        return len;
    const char *nl = room > 0 ? memrchr(data, '\n', room) : NULL;
    if (nl == NULL && f->written == 0)
        nl = memchr(data, '\n', len);
    if (nl != NULL)
        return (size_t)(nl - data) + 1;
    return f->written == 0 ? len : 0;
}

int log_file_append(struct log_file *f, const char *data, size_t len)
{
    int64_t day = timestamp_wall_us() / TIMESTAMP_US_PER_SEC / SECONDS_PER_DAY;
    bool can_roll = true; /* after a failure, not again in this append */
    if (day != f->day)
        can_roll = roll(f);
    while (len > 0) {
        size_t part = fitting_part(f, data, len);
        if (part == 0 && can_roll) {
            can_roll = roll(f);
            continue;
        }
        if (part == 0) /* cannot roll: the rest stays in this file */
            part = len;
        int err = write_part(f, data, part);
        if (err != 0)
            return err;
        data += part;
        len -= part;
    }
    return 0;
}

void log_file_flush(struct log_file *f)
{
    fflush(f->fp);
}

uint64_t log_file_count(const struct log_file *f)
{
    return f->count;
}

void log_file_close(struct log_file *f)
{
    if (f == NULL)
        return;
    fclose(f->fp);
    free(f->basename);
    free(f);
}
