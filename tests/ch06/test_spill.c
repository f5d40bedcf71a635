/* The broker's spill: records come back in order over every size and
 * every read limit, drop-oldest stops at a reply and counts what it
 * dropped, the file is cut to 0 when empty and punched at the head while
 * it is not, a write that fails half way leaves the earlier records
 * readable, and the files it creates and removes. Each test works in a
 * fresh directory under /tmp that it removes, which fails if anything was
 * left in it. */
#include "test_support.h"

#include "mom/spill.h"
#include "net/buffer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MiB ((size_t)1024 * 1024)
#define SCRATCH_BYTES (4 * MiB)
#define MODEL_CAP 16384

static char scratch[SCRATCH_BYTES];

/* --- a temporary directory per test ------------------------------------ */

static void dir_create(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/spill-test-XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* rmdir fails on a directory that is not empty: a file left behind. */
static void dir_remove(const char *dir)
{
    ck_assert_msg(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < cap);
}

static void touch(const char *dir, const char *name)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, name);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
    test_close(fd);
}

static bool exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* Bytes of disk the file holds, once its dirty pages are allocated. */
static uint64_t file_disk_bytes(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fsync(fd), 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    test_close(fd);
    return (uint64_t)st.st_blocks * 512;
}

/* --- payloads and a model of the FIFO ---------------------------------- */

static uint32_t rng_state;

static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* Record id's bytes: every record differs from its neighbours. */
static void fill(uint64_t id, char *buf, size_t len)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)(id * 131 + j * 7 + (j >> 8) * 13);
}

/* Sizes of every kind: empty, small, medium, larger than a read chunk. */
static size_t random_size(void)
{
    uint32_t r = rng() % 100;
    if (r < 10)
        return 0;
    if (r < 60)
        return rng() % 100;
    if (r < 92)
        return 100 + rng() % 5000;
    return 65 * 1024 + rng() % (200 * 1024);
}

static const size_t read_maxes[] = {0, 1, 100, 4096, 65536, 1 << 20,
                                    SIZE_MAX};
#define READ_MAXES (sizeof read_maxes / sizeof read_maxes[0])

/* What the spill should hold: record i has id i. */
struct model {
    size_t len[MODEL_CAP];
    bool droppable[MODEL_CAP];
    size_t head;
    size_t tail;
    uint64_t bytes;
};

static struct model model;

static void model_reset(void)
{
    memset(&model, 0, sizeof model);
}

static void append(struct spill *s, size_t len, bool droppable)
{
    ck_assert_uint_lt(model.tail, MODEL_CAP);
    ck_assert_uint_le(len, SCRATCH_BYTES);
    fill(model.tail, scratch, len);
    ck_assert_int_eq(spill_append(s, scratch, len, droppable), 0);
    model.len[model.tail] = len;
    model.droppable[model.tail] = droppable;
    model.tail++;
    model.bytes += SPILL_HEADER_SIZE + len;
}

static void check_counts(const struct spill *s)
{
    ck_assert_uint_eq(spill_bytes(s), model.bytes);
    ck_assert_uint_eq(spill_records(s), model.tail - model.head);
    ck_assert(spill_empty(s) == (model.head == model.tail));
}

/* One spill_read(max), checked against the rule: whole records while
 * their payloads stay within max, and the first one whatever its size. */
static void check_read(struct spill *s, size_t max)
{
    struct buffer out;
    buffer_init(&out);
    ck_assert_int_eq(buffer_append(&out, "x", 1), 0); /* kept in front */
    ssize_t n = spill_read(s, &out, max);
    size_t moved = 0;
    size_t taken = 0;
    const char *p = buffer_peek(&out) + 1;
    while (model.head < model.tail) {
        size_t len = model.len[model.head];
        if (taken > 0 && (moved >= max || len > max - moved))
            break;
        ck_assert_uint_le(moved + len, (size_t)(n < 0 ? 0 : n));
        fill(model.head, scratch, len);
        ck_assert_msg(memcmp(p + moved, scratch, len) == 0,
                      "record %zu differs", model.head);
        moved += len;
        taken++;
        model.bytes -= SPILL_HEADER_SIZE + len;
        model.head++;
    }
    ck_assert_int_eq(n, (ssize_t)moved);
    ck_assert_uint_eq(buffer_readable(&out), 1 + moved);
    ck_assert_int_eq(buffer_peek(&out)[0], 'x');
    buffer_destroy(&out);
    check_counts(s);
}

static void model_drop(uint64_t target, uint64_t *records, uint64_t *bytes)
{
    while (model.head < model.tail && model.bytes > target &&
           model.droppable[model.head]) {
        model.bytes -= SPILL_HEADER_SIZE + model.len[model.head];
        *bytes += SPILL_HEADER_SIZE + model.len[model.head];
        *records += 1;
        model.head++;
    }
}

static void check_drop(struct spill *s, uint64_t target)
{
    uint64_t records = 7, bytes = 11; /* added to, not set */
    uint64_t want_records = 7, want_bytes = 11;
    ck_assert_int_eq(spill_drop_oldest(s, target, &records, &bytes), 0);
    model_drop(target, &want_records, &want_bytes);
    ck_assert_uint_eq(records, want_records);
    ck_assert_uint_eq(bytes, want_bytes);
    check_counts(s);
}

static void drain(struct spill *s)
{
    while (model.head < model.tail)
        check_read(s, 1 << 20);
    check_read(s, 1 << 20);
    ck_assert(spill_empty(s));
}

static struct spill *open_ok(const char *dir, const char *name)
{
    int err = 0;
    struct spill *s = spill_open(dir, name, &err);
    ck_assert_msg(s != NULL, "spill_open: %s", strerror(-err));
    return s;
}

/* --- a faulty disk under one fd ---------------------------------------- */

/* pwritev() and pread() are defined here for the whole program (the
 * library is linked statically); on the fd a test names they fail, cut
 * and interrupt calls as a disk and signals would, and pass every other
 * call on. */
static struct {
    int fd;            /* -1: no faults */
    int write_eintr;   /* calls to fail with EINTR first */
    int read_eintr;
    size_t per_call;   /* most bytes one call moves; 0: no limit */
    long room;         /* bytes writable, then `err`; negative: no limit */
    int err;
} fault = {.fd = -1, .room = -1};

static void fault_clear(void)
{
    memset(&fault, 0, sizeof fault);
    fault.fd = -1;
    fault.room = -1;
}

static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    if (real_pwritev == NULL)
        real_pwritev = (ssize_t(*)(int, const struct iovec *, int,
                                   off_t))dlsym(RTLD_NEXT, "pwritev");
    if (fd != fault.fd || fault.fd < 0)
        return real_pwritev(fd, iov, iovcnt, offset);
    if (fault.write_eintr > 0) {
        fault.write_eintr--;
        errno = EINTR;
        return -1;
    }
    size_t allowed = SIZE_MAX;
    if (fault.per_call > 0)
        allowed = fault.per_call;
    if (fault.room >= 0 && (size_t)fault.room < allowed)
        allowed = (size_t)fault.room;
    if (allowed == 0) {
        errno = fault.err;
        return -1;
    }
    struct iovec cut[8];
    int n = 0;
    for (size_t left = allowed; n < iovcnt && n < 8 && left > 0; n++) {
        cut[n] = iov[n];
        if (cut[n].iov_len > left)
            cut[n].iov_len = left;
        left -= cut[n].iov_len;
    }
    ssize_t done = real_pwritev(fd, cut, n, offset);
    if (done > 0 && fault.room >= 0)
        fault.room -= done;
    return done;
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
    if (real_pread == NULL)
        real_pread = (ssize_t(*)(int, void *, size_t, off_t))dlsym(
            RTLD_NEXT, "pread");
    if (fd == fault.fd && fault.fd >= 0) {
        if (fault.read_eintr > 0) {
            fault.read_eintr--;
            errno = EINTR;
            return -1;
        }
        if (fault.per_call > 0 && count > fault.per_call)
            count = fault.per_call;
    }
    return real_pread(fd, buf, count, offset);
}

/* The fd that the spill at path writes to. */
static int spill_fd(const char *path)
{
    char target[PATH_MAX];
    for (int fd = 3; fd < 1024; fd++) {
        if (test_fd_target(fd, target, sizeof target) &&
            strcmp(target, path) == 0)
            return fd;
    }
    ck_abort_msg("no fd open on %s", path);
    return -1;
}

/* --- tests ------------------------------------------------------------- */

START_TEST(fifo_order_over_many_sizes)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    rng_state = 1;
    struct spill *s = open_ok(dir, "order" SPILL_SUFFIX);
    check_read(s, 100); /* empty: 0 */
    append(s, 0, true);
    append(s, 300 * 1024, false); /* larger than every max but two */
    for (int i = 0; i < 600; i++) {
        append(s, random_size(), (rng() & 1) != 0);
        check_counts(s);
    }
    for (size_t i = 0; model.head < model.tail; i++)
        check_read(s, read_maxes[i % READ_MAXES]);
    check_read(s, SIZE_MAX);
    ck_assert_int_eq(file_size(spill_path(s)), 0);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

START_TEST(interleaved_append_read_drop)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    rng_state = 7;
    struct spill *s = open_ok(dir, "mixed" SPILL_SUFFIX);
    for (int step = 0; step < 3000; step++) {
        uint32_t r = rng() % 10;
        if (r < 5) {
            for (uint32_t k = 1 + rng() % 4; k > 0; k--)
                append(s, random_size(), rng() % 4 != 0);
            check_counts(s);
        } else if (r < 9) {
            check_read(s, read_maxes[rng() % READ_MAXES]);
        } else {
            check_drop(s, model.bytes * (rng() % 4) / 4);
        }
    }
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* A limit of 0 moves one record a call, of any size; a small limit
 * takes what fits after the first. */
START_TEST(small_max_moves_whole_records)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    struct spill *s = open_ok(dir, "small" SPILL_SUFFIX);
    static const size_t sizes[] = {5, 0, 0, 3, 1, 10, 70000, 2};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        append(s, sizes[i], i % 2 == 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t before = spill_records(s);
        check_read(s, 0);
        ck_assert_uint_eq(spill_records(s), before - 1);
    }
    ck_assert(spill_empty(s));
    /* Limit 1: the 1 fills it; then the 0 and the 1; then the 2, alone. */
    append(s, 1, true);
    append(s, 0, true);
    append(s, 1, true);
    append(s, 2, true);
    check_read(s, 1);
    ck_assert_uint_eq(spill_records(s), 3);
    check_read(s, 1);
    ck_assert_uint_eq(spill_records(s), 1);
    check_read(s, 1);
    ck_assert(spill_empty(s));
    /* Limit 8: 5, 0 and 3; the 4 waits. */
    append(s, 5, true);
    append(s, 0, true);
    append(s, 3, true);
    append(s, 4, true);
    check_read(s, 8);
    ck_assert_uint_eq(spill_records(s), 1);
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

START_TEST(drop_oldest_stops_at_a_reply)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    struct spill *s = open_ok(dir, "drop" SPILL_SUFFIX);
    append(s, 100, true);
    append(s, 200, true);
    append(s, 0, true);
    append(s, 50, false); /* a reply */
    append(s, 400, true);
    uint64_t records = 0, bytes = 0;
    /* Dropping the first is enough for this target. */
    uint64_t target = spill_bytes(s) - SPILL_HEADER_SIZE - 100;
    ck_assert_int_eq(spill_drop_oldest(s, target, &records, &bytes), 0);
    ck_assert_uint_eq(records, 1);
    ck_assert_uint_eq(bytes, SPILL_HEADER_SIZE + 100);
    ck_assert_uint_eq(spill_bytes(s), target);
    /* At the target already: nothing more. */
    ck_assert_int_eq(spill_drop_oldest(s, target, &records, &bytes), 0);
    ck_assert_uint_eq(records, 1);
    /* Down to 0 is not reached: the reply stops it, and what was dropped
     * is added to the counts. */
    ck_assert_int_eq(spill_drop_oldest(s, 0, &records, &bytes), 0);
    ck_assert_uint_eq(records, 3);
    ck_assert_uint_eq(bytes, 3 * SPILL_HEADER_SIZE + 300);
    ck_assert_uint_eq(spill_records(s), 2);
    ck_assert_uint_eq(spill_bytes(s), 2 * SPILL_HEADER_SIZE + 450);
    ck_assert_int_eq(spill_drop_oldest(s, 0, &records, &bytes), 0);
    ck_assert_uint_eq(records, 3);
    ck_assert_uint_eq(spill_records(s), 2);
    /* The reply and what follows it come out whole, in order. */
    model.head += records;
    model.bytes -= bytes;
    check_read(s, 50);
    check_read(s, 0);
    /* A FIFO of droppable records only is dropped to empty, and cut. */
    append(s, 1000, true);
    append(s, 2000, true);
    check_drop(s, 0);
    ck_assert(spill_empty(s));
    ck_assert_int_eq(file_size(spill_path(s)), 0);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

START_TEST(empty_fifo_cuts_the_file)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    struct spill *s = open_ok(dir, "cut" SPILL_SUFFIX);
    append(s, 1000, true);
    append(s, 0, false);
    append(s, 3000, true);
    ck_assert_int_eq(file_size(spill_path(s)), 3 * SPILL_HEADER_SIZE + 4000);
    check_read(s, 1000);
    ck_assert_int_eq(file_size(spill_path(s)), 3 * SPILL_HEADER_SIZE + 4000);
    check_read(s, SIZE_MAX);
    ck_assert(spill_empty(s));
    ck_assert_int_eq(file_size(spill_path(s)), 0);
    /* Writing starts over at offset 0. */
    append(s, 10, false);
    ck_assert_int_eq(file_size(spill_path(s)), SPILL_HEADER_SIZE + 10);
    check_read(s, 10);
    ck_assert_int_eq(file_size(spill_path(s)), 0);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* Whether punching a hole in a file of dir frees its blocks. */
static bool punch_frees_blocks(const char *dir)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, "probe");
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    memset(scratch, 'p', 2 * MiB);
    test_write_all(fd, scratch, 2 * MiB);
    ck_assert_int_eq(fsync(fd), 0);
    struct stat before, after;
    ck_assert_int_eq(fstat(fd, &before), 0);
    int rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                       (off_t)MiB);
    ck_assert_int_eq(fstat(fd, &after), 0);
    test_close(fd);
    ck_assert_int_eq(unlink(path), 0);
    return rc == 0 && after.st_blocks < before.st_blocks;
}

START_TEST(consumed_head_is_punched)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    bool supported = punch_frees_blocks(dir);
    model_reset();
    struct spill *s = open_ok(dir, "punch" SPILL_SUFFIX);
    for (int i = 0; i < 64; i++)
        append(s, 64 * 1024, true);
    uint64_t before = file_disk_bytes(spill_path(s));
    check_read(s, 3 * MiB);
    ck_assert(!spill_empty(s));
    uint64_t after = file_disk_bytes(spill_path(s));
    if (supported) {
        ck_assert_msg(before - after >= 2 * MiB,
                      "disk bytes %llu -> %llu", (unsigned long long)before,
                      (unsigned long long)after);
    }
    /* The size is kept, and the records after the hole are intact. */
    ck_assert_int_eq(file_size(spill_path(s)),
                     64 * (SPILL_HEADER_SIZE + 64 * 1024));
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* Under drop-oldest, a spill that never drains stays near its logical
 * size on disk. */
START_TEST(drop_oldest_keeps_the_disk_bounded)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    bool supported = punch_frees_blocks(dir);
    model_reset();
    struct spill *s = open_ok(dir, "bounded" SPILL_SUFFIX);
    uint64_t records = 0, bytes = 0;
    for (int i = 0; i < 200; i++) {
        append(s, 64 * 1024, true);
        if (spill_bytes(s) > 3 * MiB / 2) {
            ck_assert_int_eq(spill_drop_oldest(s, MiB, &records, &bytes), 0);
            model_drop(MiB, &(uint64_t){0}, &(uint64_t){0});
            check_counts(s);
        }
    }
    ck_assert_uint_gt(records, 150);
    ck_assert_uint_eq(bytes, records * (SPILL_HEADER_SIZE + 64 * 1024));
    uint64_t disk = file_disk_bytes(spill_path(s));
    if (supported) {
        ck_assert_msg(disk <= spill_bytes(s) + SPILL_PUNCH_BYTES + 64 * 1024,
                      "%llu bytes on disk for %llu pending",
                      (unsigned long long)disk,
                      (unsigned long long)spill_bytes(s));
    }
    ck_assert_uint_gt(disk, 0);
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* A file size limit makes the disk refuse a write (EFBIG, as a full disk
 * would with ENOSPC), once half way through a record and once at its
 * first byte: each append fails, the FIFO holds exactly what it held,
 * readable, and takes further appends. */
START_TEST(failed_append_leaves_the_fifo_intact)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    struct spill *s = open_ok(dir, "full" SPILL_SUFFIX);
    append(s, 1000, true);
    append(s, 0, false);
    append(s, 5000, true);
    off_t size = file_size(spill_path(s));
    uint64_t bytes = spill_bytes(s);

    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_action;
    ck_assert_int_eq(sigaction(SIGXFSZ, &ignore, &old_action), 0);
    struct rlimit old_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = 64 * 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    fill(999, scratch, 100 * 1024);
    int half_way = spill_append(s, scratch, 100 * 1024, true);
    off_t size_after_half_way = file_size(spill_path(s));
    uint64_t bytes_after_half_way = spill_bytes(s);
    fill(model.tail, scratch, 200);
    int fits = spill_append(s, scratch, 200, false);
    off_t size_after_fits = file_size(spill_path(s));
    limit.rlim_cur = (rlim_t)size_after_fits;
    int limit_rc = setrlimit(RLIMIT_FSIZE, &limit);
    int at_end = spill_append(s, "", 0, true);
    off_t size_after_at_end = file_size(spill_path(s));
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    ck_assert_int_eq(sigaction(SIGXFSZ, &old_action, NULL), 0);

    ck_assert_int_eq(half_way, -EFBIG);
    ck_assert_int_eq(size_after_half_way, size);
    ck_assert_uint_eq(bytes_after_half_way, bytes);
    ck_assert_int_eq(fits, 0);
    ck_assert_int_eq(size_after_fits, size + SPILL_HEADER_SIZE + 200);
    ck_assert_int_eq(limit_rc, 0);
    ck_assert_int_eq(at_end, -EFBIG);
    ck_assert_int_eq(size_after_at_end, size_after_fits);
    model.len[model.tail] = 200;
    model.droppable[model.tail] = false;
    model.tail++;
    model.bytes += SPILL_HEADER_SIZE + 200;
    check_counts(s);
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* Interrupted calls are retried, short writes and reads are finished
 * (a record cut anywhere, header or payload), and a disk that fails half
 * way through a record (ENOSPC) or at once (EIO) leaves the FIFO as it
 * was. */
START_TEST(faulty_disk)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    model_reset();
    rng_state = 3;
    struct spill *s = open_ok(dir, "faulty" SPILL_SUFFIX);
    append(s, 300, true);
    fault_clear();
    fault.fd = spill_fd(spill_path(s));
    fault.write_eintr = 3;
    fault.read_eintr = 2;
    append(s, 1000, false);
    check_read(s, 0);
    ck_assert_int_eq(fault.write_eintr, 0);
    ck_assert_int_eq(fault.read_eintr, 0);

    static const size_t cuts[] = {1, 3, 7, 8, 9, 1000};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        fault.per_call = cuts[i];
        for (int k = 0; k < 20; k++)
            append(s, random_size() % 3000, k % 3 != 0);
        check_read(s, 4096);
        check_drop(s, model.bytes - model.bytes / 4);
    }
    fault.per_call = 0;

    off_t size = file_size(spill_path(s));
    fault.room = 20; /* the header and 12 payload bytes */
    fault.err = ENOSPC;
    ck_assert_int_eq(spill_append(s, scratch, 100, true), -ENOSPC);
    ck_assert_int_eq(file_size(spill_path(s)), size);
    fault.room = 0;
    fault.err = EIO;
    ck_assert_int_eq(spill_append(s, scratch, 0, false), -EIO);
    ck_assert_int_eq(file_size(spill_path(s)), size);
    check_counts(s);
    fault_clear();
    append(s, 10, true);
    drain(s);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

/* The file cut behind the spill's back: a read says -EIO. */
START_TEST(missing_bytes_read_as_eio)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    struct spill *s = open_ok(dir, "cut" SPILL_SUFFIX);
    memset(scratch, 'a', 100);
    ck_assert_int_eq(spill_append(s, scratch, 100, true), 0);
    ck_assert_int_eq(spill_append(s, scratch, 100, true), 0);
    ck_assert_int_eq(truncate(spill_path(s), SPILL_HEADER_SIZE + 50), 0);
    struct buffer out;
    buffer_init(&out);
    ck_assert_int_eq(spill_read(s, &out, SIZE_MAX), -EIO);
    ck_assert_uint_eq(buffer_readable(&out), 0);
    ck_assert_uint_eq(spill_records(s), 2);
    uint64_t records = 0, bytes = 0;
    ck_assert_int_eq(spill_drop_oldest(s, 0, &records, &bytes), -EIO);
    ck_assert_uint_eq(records, 0);
    buffer_destroy(&out);
    spill_close(s);
    dir_remove(dir);
}
END_TEST

START_TEST(open_creates_and_close_removes)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    struct spill *s = open_ok(dir, "a" SPILL_SUFFIX);
    char path[PATH_MAX];
    join(path, sizeof path, dir, "a" SPILL_SUFFIX);
    ck_assert_str_eq(spill_path(s), path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_ne(fcntl(spill_fd(path), F_GETFD) & FD_CLOEXEC, 0);
    ck_assert(spill_empty(s));
    ck_assert_uint_eq(spill_bytes(s), 0);
    spill_close(s);
    ck_assert(!exists(dir, "a" SPILL_SUFFIX));
    spill_close(NULL);
    dir_remove(dir);
}
END_TEST

static void check_open_fails(const char *dir, const char *name, int want)
{
    int err = 0;
    ck_assert_ptr_null(spill_open(dir, name, &err));
    ck_assert_msg(err == want, "%s/%s: %s, not %s", dir, name,
                  strerror(-err), strerror(-want));
}

START_TEST(open_failures)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    char missing[PATH_MAX];
    join(missing, sizeof missing, dir, "nowhere");
    check_open_fails(missing, "x" SPILL_SUFFIX, -ENOENT);
    check_open_fails("", "x" SPILL_SUFFIX, -ENOENT);

    /* A name in use is refused and its file left alone. */
    char path[PATH_MAX];
    join(path, sizeof path, dir, "taken" SPILL_SUFFIX);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    test_write_all(fd, "keep", 4);
    test_close(fd);
    check_open_fails(dir, "taken" SPILL_SUFFIX, -EEXIST);
    ck_assert_int_eq(file_size(path), 4);
    ck_assert_int_eq(unlink(path), 0);
    struct spill *s = open_ok(dir, "live" SPILL_SUFFIX);
    check_open_fails(dir, "live" SPILL_SUFFIX, -EEXIST);
    spill_close(s);

    check_open_fails(dir, "", -EINVAL);
    check_open_fails(dir, ".", -EINVAL);
    check_open_fails(dir, "..", -EINVAL);
    check_open_fails(dir, "a/b" SPILL_SUFFIX, -EINVAL);

    /* Longer than a name can be; then a path longer than PATH_MAX. */
    char name[NAME_MAX + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    check_open_fails(dir, name, -ENAMETOOLONG);
    name[NAME_MAX] = '\0';
    s = open_ok(dir, name); /* exactly NAME_MAX: allowed */
    spill_close(s);
    static char long_dir[PATH_MAX + 1];
    memset(long_dir, 'd', PATH_MAX);
    long_dir[0] = '/';
    long_dir[PATH_MAX] = '\0';
    check_open_fails(long_dir, "x" SPILL_SUFFIX, -ENAMETOOLONG);
    dir_remove(dir);
}
END_TEST

START_TEST(remove_stale_removes_only_spills_of_the_prefix)
{
    char dir[64];
    dir_create(dir, sizeof dir);
    touch(dir, "momd-1" SPILL_SUFFIX);
    touch(dir, "momd-22" SPILL_SUFFIX);
    touch(dir, "momd-" SPILL_SUFFIX); /* nothing between: still the form */
    touch(dir, "other-1" SPILL_SUFFIX);
    touch(dir, "momd-3" SPILL_SUFFIX ".tmp");
    touch(dir, "momd-4.spil");
    touch(dir, "xmomd-5" SPILL_SUFFIX);
    touch(dir, "momd.spill");
    char path[PATH_MAX];
    join(path, sizeof path, dir, "momd-dir" SPILL_SUFFIX);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    join(path, sizeof path, dir, "momd-link" SPILL_SUFFIX);
    ck_assert_int_eq(symlink("other-1" SPILL_SUFFIX, path), 0);

    ck_assert_int_eq(spill_remove_stale(dir, "momd-"), 3);
    ck_assert(!exists(dir, "momd-1" SPILL_SUFFIX));
    ck_assert(!exists(dir, "momd-22" SPILL_SUFFIX));
    ck_assert(!exists(dir, "momd-" SPILL_SUFFIX));
    static const char *const kept[] = {
        "other-1" SPILL_SUFFIX, "momd-3" SPILL_SUFFIX ".tmp", "momd-4.spil",
        "xmomd-5" SPILL_SUFFIX, "momd.spill", "momd-dir" SPILL_SUFFIX,
        "momd-link" SPILL_SUFFIX,
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        ck_assert_msg(exists(dir, kept[i]), "%s was removed", kept[i]);
    ck_assert_int_eq(spill_remove_stale(dir, "momd-"), 0);

    /* The empty prefix: every regular *.spill. */
    ck_assert_int_eq(spill_remove_stale(dir, ""), 3);
    ck_assert(exists(dir, "momd-link" SPILL_SUFFIX));
    join(path, sizeof path, dir, "momd-link" SPILL_SUFFIX);
    ck_assert_int_eq(unlink(path), 0);
    join(path, sizeof path, dir, "momd-dir" SPILL_SUFFIX);
    ck_assert_int_eq(rmdir(path), 0);
    join(path, sizeof path, dir, "momd-3" SPILL_SUFFIX ".tmp");
    ck_assert_int_eq(unlink(path), 0);
    join(path, sizeof path, dir, "momd-4.spil");
    ck_assert_int_eq(unlink(path), 0);

    char missing[PATH_MAX];
    join(missing, sizeof missing, dir, "nowhere");
    ck_assert_int_eq(spill_remove_stale(missing, "momd-"), -ENOENT);
    dir_remove(dir);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 spill");
    TCase *tc = tcase_create("spill");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, fifo_order_over_many_sizes);
    tcase_add_test(tc, interleaved_append_read_drop);
    tcase_add_test(tc, small_max_moves_whole_records);
    tcase_add_test(tc, drop_oldest_stops_at_a_reply);
    tcase_add_test(tc, empty_fifo_cuts_the_file);
    tcase_add_test(tc, consumed_head_is_punched);
    tcase_add_test(tc, drop_oldest_keeps_the_disk_bounded);
    tcase_add_test(tc, failed_append_leaves_the_fifo_intact);
    tcase_add_test(tc, faulty_disk);
    tcase_add_test(tc, missing_bytes_read_as_eio);
    tcase_add_test(tc, open_creates_and_close_removes);
    tcase_add_test(tc, open_failures);
    tcase_add_test(tc, remove_stale_removes_only_spills_of_the_prefix);
    suite_add_tcase(s, tc);
    return s;
}
