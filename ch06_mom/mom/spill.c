#include "mom/spill.h"

#include "base/assertion.h"
#include "net/buffer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* A punched range ends on this boundary: the partial blocks of a range
 * would be zeroed (written) rather than freed. */
#define SPILL_BLOCK ((uint64_t)4096)
/* Bytes read at once from the head: small records come out of one pread
 * together; a record larger than this is read straight into place. */
#define SPILL_READ_CHUNK ((size_t)64 * 1024)
/* Bytes of headers that spill_drop_oldest() reads at once. */
#define SPILL_SCAN_BYTES 4096

#define SPILL_DROPPABLE 1u

struct spill_header {
    uint32_t len;   /* payload bytes that follow */
    uint32_t flags; /* SPILL_DROPPABLE, or 0 */
};

_Static_assert(sizeof(struct spill_header) == SPILL_HEADER_SIZE,
               "SPILL_HEADER_SIZE is the header on disk");

/* The file holds [head, tail) as records; [0, head) is consumed, and its
 * blocks below `punched` are given back. The file's size is `tail`. */
struct spill {
    int fd;
    bool punch_unsupported;
    uint64_t head;
    uint64_t tail;
    uint64_t punched;
    uint64_t records;
    char *path;
};

struct spill *spill_open(const char *dir, const char *name, int *err)
{
    size_t dir_len = strlen(dir);
    size_t name_len = strlen(name);
    int rc = 0;
    if (dir_len == 0)
        rc = -ENOENT; /* as open("") says */
    else if (name_len == 0 || strchr(name, '/') != NULL ||
             strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        rc = -EINVAL;
    else if (name_len > NAME_MAX || dir_len + 1 + name_len >= PATH_MAX)
        rc = -ENAMETOOLONG;
    struct spill *s = NULL;
    if (rc == 0) {
        s = calloc(1, sizeof *s);
        if (s != NULL)
            s->path = malloc(dir_len + 1 + name_len + 1);
        if (s == NULL || s->path == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        memcpy(s->path, dir, dir_len);
        s->path[dir_len] = '/';
        memcpy(s->path + dir_len + 1, name, name_len + 1);
        s->fd = open(s->path, O_CREAT | O_EXCL | O_CLOEXEC | O_RDWR, 0600);
        if (s->fd < 0)
            rc = -errno;
    }
    if (rc < 0) {
        if (s != NULL)
            free(s->path);
        free(s);
        if (err != NULL)
            *err = rc;
        return NULL;
    }
    return s;
}

void spill_close(struct spill *s)
{
    if (s == NULL)
        return;
    unlink(s->path);
    close(s->fd);
    free(s->path);
    free(s);
}

uint64_t spill_bytes(const struct spill *s) { return s->tail - s->head; }

uint64_t spill_records(const struct spill *s) { return s->records; }

bool spill_empty(const struct spill *s) { return s->records == 0; }

const char *spill_path(const struct spill *s) { return s->path; }

/* Writes all of iov at off, retrying short writes and EINTR. */
static int write_all(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
    while (iovcnt > 0) {
        ssize_t n = pwritev(fd, iov, iovcnt, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        off += (uint64_t)n;
        size_t done = (size_t)n;
        while (iovcnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* Reads exactly len bytes at off; the end of the file before them means
 * the file is not what was written: -EIO. */
static int read_all(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int spill_append(struct spill *s, const void *data, size_t len,
                 bool droppable)
{
    if (len > SPILL_RECORD_MAX)
        return -EMSGSIZE;
    uint64_t size = SPILL_HEADER_SIZE + (uint64_t)len;
    if (s->tail > (uint64_t)INT64_MAX - size)
        return -EFBIG;
    struct spill_header h = {
        .len = (uint32_t)len,
        .flags = droppable ? SPILL_DROPPABLE : 0,
    };
    struct iovec iov[2] = {
        {.iov_base = &h, .iov_len = sizeof h},
        {.iov_base = (void *)data, .iov_len = len},
    };
    int rc = write_all(s->fd, iov, len > 0 ? 2 : 1, s->tail);
    if (rc < 0) {
        /* Give back what a short write put past the end; if that fails
         * too, those bytes are past `tail` and never read. */
        (void)ftruncate(s->fd, (off_t)s->tail);
        return rc;
    }
    s->tail += size;
    s->records++;
    return 0;
}

/* A header at off that the file cannot have been written with: -EIO. */
static int check_header(const struct spill *s, const struct spill_header *h,
                        uint64_t off)
{
    if ((h->flags & ~SPILL_DROPPABLE) != 0 ||
        SPILL_HEADER_SIZE + (uint64_t)h->len > s->tail - off)
        return -EIO;
    return 0;
}

/* Gives back disk space after records were consumed. */
static void spill_reclaim(struct spill *s)
{
    if (s->records == 0) {
        ASSERT(s->head == s->tail);
        if (s->tail == 0)
            return;
        /* The offsets restart at 0 even if the cut fails: the old bytes
         * then lie past `tail`, where nothing reads them. */
        int rc;
        do {
            rc = ftruncate(s->fd, 0);
        } while (rc < 0 && errno == EINTR);
        s->head = 0;
        s->tail = 0;
        s->punched = 0;
        return;
    }
    uint64_t end = s->head & ~(SPILL_BLOCK - 1);
    if (s->punch_unsupported || end - s->punched < SPILL_PUNCH_BYTES)
        return;
    int rc;
    do {
        rc = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       (off_t)s->punched, (off_t)(end - s->punched));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
        s->punch_unsupported = true;
    /* On any other failure that range is left as it is: its blocks come
     * back when the FIFO empties. */
    s->punched = end;
}

/* Whether the next record, of len bytes, is taken by a read that has
 * taken `taken` records of `moved` bytes so far. */
static bool read_takes(uint64_t taken, size_t moved, uint32_t len,
                       size_t max)
{
    return taken == 0 || (moved < max && len <= max - moved);
}

/* One pread from the head of up to SPILL_READ_CHUNK bytes (and never
 * more than the payloads still wanted, plus a header), whose complete
 * records are compacted in place into out's writable room; when the
 * chunk's first record is taken but does not fit in it, that record is
 * read on its own. Adds to *taken and *moved; sets *done when the next
 * record is not taken. */
static int read_chunk(struct spill *s, struct buffer *out, size_t max,
                      uint64_t *taken, size_t *moved, bool *done)
{
    uint64_t pending = s->tail - s->head;
    size_t budget = max > *moved ? max - *moved : 0;
    if (budget > SPILL_READ_CHUNK)
        budget = SPILL_READ_CHUNK;
    size_t want = budget + SPILL_HEADER_SIZE;
    if (want > pending)
        want = (size_t)pending;
    if (buffer_ensure_writable(out, want) < 0)
        return -ENOMEM;
    char *base = buffer_begin_write(out);
    int rc = read_all(s->fd, base, want, s->head);
    if (rc < 0)
        return rc;
    size_t at = 0;    /* next header in base */
    size_t put = 0;   /* payload bytes compacted to the front of base */
    uint64_t got = 0; /* records compacted */
    struct spill_header h = {0, 0};
    while (at + SPILL_HEADER_SIZE <= want) {
        memcpy(&h, base + at, sizeof h);
        rc = check_header(s, &h, s->head + at);
        if (rc < 0)
            break;
        if (!read_takes(*taken + got, *moved + put, h.len, max)) {
            *done = true;
            break;
        }
        if (at + SPILL_HEADER_SIZE + h.len > want)
            break;
        memmove(base + put, base + at + SPILL_HEADER_SIZE, h.len);
        put += h.len;
        at += SPILL_HEADER_SIZE + h.len;
        got++;
    }
    buffer_has_written(out, put);
    s->head += at;
    s->records -= got;
    *taken += got;
    *moved += put;
    if (rc < 0 || got > 0 || *done)
        return rc;
    /* The chunk's first record is taken but larger than the chunk: h is
     * its header, checked above. */
    if (buffer_ensure_writable(out, h.len) < 0)
        return -ENOMEM;
    rc = read_all(s->fd, buffer_begin_write(out), h.len,
                  s->head + SPILL_HEADER_SIZE);
    if (rc < 0)
        return rc;
    buffer_has_written(out, h.len);
    s->head += SPILL_HEADER_SIZE + (uint64_t)h.len;
    s->records--;
    *taken += 1;
    *moved += h.len;
    return 0;
}

ssize_t spill_read(struct spill *s, struct buffer *out, size_t max)
{
    uint64_t taken = 0;
    size_t moved = 0;
    bool done = false;
    int rc = 0;
    while (s->records > 0 && !done && rc == 0 && (taken == 0 || moved < max))
        rc = read_chunk(s, out, max, &taken, &moved, &done);
    if (taken > 0)
        spill_reclaim(s);
    if (rc < 0 && taken == 0)
        return rc;
    return (ssize_t)moved;
}

int spill_drop_oldest(struct spill *s, uint64_t target_bytes,
                      uint64_t *records_dropped, uint64_t *bytes_dropped)
{
    char scan[SPILL_SCAN_BYTES];
    uint64_t scan_off = 0;
    uint64_t scan_len = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;
    int rc = 0;
    while (s->records > 0 && s->tail - s->head > target_bytes) {
        if (s->head + SPILL_HEADER_SIZE > scan_off + scan_len) {
            scan_off = s->head;
            scan_len = s->tail - s->head;
            if (scan_len > sizeof scan)
                scan_len = sizeof scan;
            rc = read_all(s->fd, scan, (size_t)scan_len, scan_off);
            if (rc < 0)
                break;
        }
        struct spill_header h;
        memcpy(&h, scan + (s->head - scan_off), sizeof h);
        rc = check_header(s, &h, s->head);
        if (rc < 0 || (h.flags & SPILL_DROPPABLE) == 0)
            break;
        s->head += SPILL_HEADER_SIZE + (uint64_t)h.len;
        s->records--;
        records++;
        bytes += SPILL_HEADER_SIZE + (uint64_t)h.len;
    }
    if (records > 0)
        spill_reclaim(s);
    *records_dropped += records;
    *bytes_dropped += bytes;
    return rc;
}

/* Whether the entry e of d is a regular file (not following a link). */
static bool is_regular_file(DIR *d, const struct dirent *e)
{
    if (e->d_type != DT_UNKNOWN)
        return e->d_type == DT_REG;
    struct stat st;
    return fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode);
}

int spill_remove_stale(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir); /* glibc opens it close-on-exec */
    if (d == NULL)
        return -errno;
    size_t prefix_len = strlen(prefix);
    size_t suffix_len = strlen(SPILL_SUFFIX);
    int removed = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        const struct dirent *e = readdir(d);
        if (e == NULL) {
            rc = -errno;
            break;
        }
        size_t len = strlen(e->d_name);
        if (len < prefix_len + suffix_len ||
            memcmp(e->d_name, prefix, prefix_len) != 0 ||
            memcmp(e->d_name + len - suffix_len, SPILL_SUFFIX, suffix_len) !=
                0 ||
            !is_regular_file(d, e))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
        } else if (errno != ENOENT) { /* ENOENT: someone else removed it */
            rc = -errno;
            break;
        }
    }
    closedir(d);
    return rc < 0 ? rc : removed;
}
