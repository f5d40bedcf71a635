#include "disk_faults.h"

#include "test_support.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static _Atomic(const char *) fault_dir;
static atomic_bool slow;
static atomic_long room = -1;

void disk_faults_begin(const char *dir)
{
    atomic_store(&slow, false);
    atomic_store(&room, -1);
    atomic_store(&fault_dir, dir);
}

void disk_faults_set_slow(bool on)
{
    atomic_store(&slow, on);
}

void disk_faults_set_room(long bytes)
{
    atomic_store(&room, bytes);
}

void disk_faults_end(void)
{
    atomic_store(&fault_dir, NULL);
}

/* Whether fd is a file under dir. */
static bool under(int fd, const char *dir)
{
    char path[512];
    return test_fd_target(fd, path, sizeof path) &&
           strncmp(path, dir, strlen(dir)) == 0;
}

/* Takes up to @p want bytes of the room left; all of it when unlimited. */
static size_t take_room(size_t want)
{
    long left = atomic_load(&room);
    for (;;) {
        if (left < 0)
            return want;
        size_t got = (size_t)left < want ? (size_t)left : want;
        if (atomic_compare_exchange_weak(&room, &left, left - (long)got))
            return got;
    }
}

static ssize_t (*real_write)(int, const void *, size_t);
static pthread_once_t real_write_once = PTHREAD_ONCE_INIT;

static void find_real_write(void)
{
    real_write =
        (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

ssize_t write(int fd, const void *buf, size_t count)
{
    pthread_once(&real_write_once, find_real_write);
    const char *dir = atomic_load(&fault_dir);
    if (dir != NULL && under(fd, dir)) {
        if (atomic_load(&slow))
            usleep(20 * 1000);
        size_t allowed = take_room(count);
        if (allowed == 0 && count > 0) {
            errno = ENOSPC;
            return -1;
        }
        count = allowed;
    }
    return real_write(fd, buf, count);
}
