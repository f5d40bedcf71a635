#include "base/array.h"

#include "base/assertion.h"

#include <stdint.h>
#include <stdlib.h>

void *array_reserve(void *items, size_t *capacity, size_t need,
                    size_t item_size)
{
    ASSERT(need > 0 && item_size > 0);
    if (need <= *capacity)
        return items;
    size_t n = *capacity < ARRAY_MIN_CAPACITY ? ARRAY_MIN_CAPACITY : *capacity;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / item_size)
        return NULL;
    void *bigger = realloc(items, n * item_size);
    if (bigger != NULL)
        *capacity = n;
    return bigger;
}
