#include "base/current_thread.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 0 means "not cached yet": no thread has id 0. */
static __thread pid_t t_cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid_in_child(void)
{
    t_cached_tid = 0;
}

static void install_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, forget_tid_in_child);
}

pid_t current_thread_tid(void)
{
    if (__builtin_expect(t_cached_tid == 0, 0)) {
        (void)pthread_once(&atfork_once, install_atfork);
        t_cached_tid = (pid_t)syscall(SYS_gettid);
    }
    return t_cached_tid;
}
