/**
 * @file array.h
 * @brief Growing a heap array by doubling: the one helper behind every
 * growable array in the library.
 *
 * Contract
 * - A growable array is a pointer to its first item and a capacity in
 *   items, which the caller keeps next to its own length. array_reserve()
 *   is the only thing that grows it; the caller frees it with free().
 * - The capacity doubles, starting at ARRAY_MIN_CAPACITY, so appending n
 *   items one by one costs O(n) copying in total.
 * - A failure changes nothing: the old array and capacity stay as they
 *   were, so the caller can report -ENOMEM with its state intact.
 * - Not thread-safe: the caller guards the array like the rest of its
 *   state.
 */
#ifndef MUDUO_BASE_ARRAY_H
#define MUDUO_BASE_ARRAY_H

#include <stddef.h>

/** @brief The capacity of an array's first allocation, in items. */
#define ARRAY_MIN_CAPACITY 16

/**
 * @brief Makes room for at least @p need (> 0) items of @p item_size bytes.
 *
 * Use it as `p = array_reserve(a, &cap, len + 1, sizeof *a); if (p == NULL)
 * return -ENOMEM; a = p;`: the array may move, so pointers into it are
 * stale afterwards.
 * @return @p items when it already had room; otherwise a larger array with
 * the same contents, and @p *capacity updated; or NULL when memory ran out
 * or the size would overflow, with @p items and @p *capacity unchanged.
 */
void *array_reserve(void *items, size_t *capacity, size_t need,
                    size_t item_size);

#endif /* MUDUO_BASE_ARRAY_H */
