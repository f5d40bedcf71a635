#include "connect_faults.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

/* A mutex, not atomics: a fault is three values that change together. */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int fault_errno;
static int fault_count;
static bool fault_really;
static int calls;
static long long call_times[CONNECT_FAULTS_TIMES];

void connect_faults_arm(int err, int count, bool really_connect)
{
    pthread_mutex_lock(&mutex);
    fault_errno = err;
    fault_count = count;
    fault_really = really_connect;
    pthread_mutex_unlock(&mutex);
}

int connect_faults_pending(void)
{
    pthread_mutex_lock(&mutex);
    int count = fault_count;
    pthread_mutex_unlock(&mutex);
    return count;
}

void connect_faults_disarm(void)
{
    connect_faults_arm(0, 0, false);
}

void connect_faults_reset_calls(void)
{
    pthread_mutex_lock(&mutex);
    calls = 0;
    pthread_mutex_unlock(&mutex);
}

int connect_faults_call_count(void)
{
    pthread_mutex_lock(&mutex);
    int count = calls;
    pthread_mutex_unlock(&mutex);
    return count;
}

long long connect_faults_call_time(int i)
{
    pthread_mutex_lock(&mutex);
    long long t = i >= 0 && i < calls && i < CONNECT_FAULTS_TIMES
                      ? call_times[i]
                      : -1;
    pthread_mutex_unlock(&mutex);
    return t;
}

typedef int connect_syscall_fn(int, const struct sockaddr *, socklen_t);
static connect_syscall_fn *real_connect;
static pthread_once_t real_connect_once = PTHREAD_ONCE_INIT;

static void find_real_connect(void)
{
    real_connect = (connect_syscall_fn *)dlsym(RTLD_NEXT, "connect");
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    pthread_once(&real_connect_once, find_real_connect);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&mutex);
    if (calls < CONNECT_FAULTS_TIMES)
        call_times[calls] = now.tv_sec * 1000000LL + now.tv_nsec / 1000;
    calls++;
    int err = 0;
    bool really = true;
    if (fault_count > 0) {
        fault_count--;
        err = fault_errno;
        really = fault_really;
    }
    pthread_mutex_unlock(&mutex);
    if (err == 0)
        return real_connect(fd, addr, len);
    if (really)
        (void)real_connect(fd, addr, len);
    errno = err;
    return -1;
}
