/**
 * @file count_down_latch.h
 * @brief A count-down latch: threads wait until the count reaches zero.
 *
 * Contract
 * - Embedded (count_down_latch_init/destroy). Thread-safe: any thread may
 *   count down or wait. Once zero, it stays zero and waits return at once.
 * - Used where one thread must not go on before others are ready: a loop
 *   thread's start waits until the new thread has created its loop.
 */
#ifndef MUDUO_BASE_COUNT_DOWN_LATCH_H
#define MUDUO_BASE_COUNT_DOWN_LATCH_H

#include <pthread.h>

/** @brief The latch; fields are private. */
struct count_down_latch {
    pthread_mutex_t mutex; /**< Guards count. */
    pthread_cond_t zero;   /**< Signalled when count reaches 0. */
    int count;             /**< Guarded by mutex. */
};

/** @brief Starts the latch at @p count (>= 0). */
void count_down_latch_init(struct count_down_latch *latch, int count);
/** @brief Releases its resources; nobody may be waiting. */
void count_down_latch_destroy(struct count_down_latch *latch);
/** @brief Decrements the count (not below zero); at zero, wakes all. */
void count_down_latch_count_down(struct count_down_latch *latch);
/** @brief Blocks until the count is zero. */
void count_down_latch_wait(struct count_down_latch *latch);
/** @brief The current count. */
int count_down_latch_count(struct count_down_latch *latch);

#endif /* MUDUO_BASE_COUNT_DOWN_LATCH_H */
