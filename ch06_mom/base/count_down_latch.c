#include "base/count_down_latch.h"

void count_down_latch_init(struct count_down_latch *latch, int count)
{
    pthread_mutex_init(&latch->mutex, NULL);
    pthread_cond_init(&latch->zero, NULL);
    latch->count = count;
}

void count_down_latch_destroy(struct count_down_latch *latch)
{
    pthread_cond_destroy(&latch->zero);
    pthread_mutex_destroy(&latch->mutex);
}

void count_down_latch_count_down(struct count_down_latch *latch)
{
    pthread_mutex_lock(&latch->mutex);
    if (latch->count > 0 && --latch->count == 0)
        pthread_cond_broadcast(&latch->zero);
    pthread_mutex_unlock(&latch->mutex);
}

void count_down_latch_wait(struct count_down_latch *latch)
{
    pthread_mutex_lock(&latch->mutex);
    while (latch->count > 0) /* a loop: wake-ups may be spurious */
        pthread_cond_wait(&latch->zero, &latch->mutex);
    pthread_mutex_unlock(&latch->mutex);
}

int count_down_latch_count(struct count_down_latch *latch)
{
    pthread_mutex_lock(&latch->mutex);
    int count = latch->count;
    pthread_mutex_unlock(&latch->mutex);
    return count;
}
