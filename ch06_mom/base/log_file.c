#include "base/log_file.h"

#include "base/timestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECONDS_PER_DAY 86400
/* Names tried before giving up on starting a file (each one taken). */
#define NAME_TRIES 1000

struct log_file {
    char *basename;
    size_t roll_size;
    int fd;
    size_t written;   /* bytes in the current file */
    int64_t day;      /* UTC day of the current file */
    uint64_t count;   /* files started */
    uint64_t number;  /* the <n> in the current file's name */
    bool roll_failed; /* the last attempt to start a file failed */
    bool torn;        /* the file ends inside a line (see write_part) */
};

/* Creates the next file with O_EXCL, so that it is new: a name already
 * taken (by another log_file with the same basename in the same second,
 * or by an earlier run that had this pid) moves on to the next number. */
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
    int fd = -1, err = -EEXIST;
    uint64_t number = f->number;
    for (int i = 0; i < NAME_TRIES && err == -EEXIST; i++) {
        number++;
        snprintf(name, len, "%s.%s.%d.%llu.log", f->basename, stamp,
                 (int)getpid(), (unsigned long long)number);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
                  0644);
        err = fd < 0 ? -errno : 0;
    }
    free(name);
    if (fd < 0)
        return err;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->written = 0;
    f->torn = false;
    f->day = now / SECONDS_PER_DAY;
    f->number = number;
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
    f->fd = -1;
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

/* write(2) until all is written or a write fails; returns what got
 * through. */
static size_t write_all(int fd, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/* Writes data[0, len) at the end of the file; returns how many of the
 * bytes are in it. All of them, unless a write fails (a full disk, a file
 * size limit): then the file is cut back to the last line end among what
 * got through, so that it holds whole lines only and the next line does
 * not continue a torn one. If even the cut fails, the torn line is ended
 * with a newline before anything else is written. */
static size_t write_part(struct log_file *f, const char *data, size_t len)
{
    if (f->torn) {
        if (write_all(f->fd, "\n", 1) != 1)
            return 0;
        f->written++;
        f->torn = false;
    }
    size_t done = write_all(f->fd, data, len);
    if (done < len && done > 0) {
        const char *nl = memrchr(data, '\n', done);
        size_t whole = nl != NULL ? (size_t)(nl - data) + 1 : 0;
        if (ftruncate(f->fd, (off_t)(f->written + whole)) == 0)
            done = whole;
        else
            f->torn = data[done - 1] != '\n';
    }
    f->written += done;
    return done;
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

size_t log_file_append(struct log_file *f, const char *data, size_t len)
{
    int64_t day = timestamp_wall_us() / TIMESTAMP_US_PER_SEC / SECONDS_PER_DAY;
    bool can_roll = true; /* after a failure, not again in this append */
    if (day != f->day)
        can_roll = roll(f);
    size_t kept = 0;
    while (kept < len) {
        size_t part = fitting_part(f, data + kept, len - kept);
        if (part == 0 && can_roll) {
            can_roll = roll(f);
            continue;
        }
        if (part == 0) /* cannot roll: the rest stays in this file */
            part = len - kept;
        size_t done = write_part(f, data + kept, part);
        kept += done;
        if (done < part)
            break; /* the file refuses more: the rest is lost */
    }
    return kept;
}

uint64_t log_file_count(const struct log_file *f)
{
    return f->count;
}

void log_file_close(struct log_file *f)
{
    if (f == NULL)
        return;
    close(f->fd);
    free(f->basename);
    free(f);
}
