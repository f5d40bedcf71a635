/**
 * @file assertion.h
 * @brief ASSERT: an invariant check that is never compiled out.
 *
 * Contract
 * - ASSERT(cond) evaluates @p cond once, in every build (NDEBUG has no
 *   effect). When it is false, the failed expression, the function, file and
 *   line go to the log at FATAL level, the sink is flushed and the process
 *   aborts.
 * - Use it only for broken invariants: programming errors such as a loop
 *   used from the wrong thread. Runtime errors (a full fd table, a peer that
 *   resets) are returned as negative errno values, never asserted.
 */
#ifndef MUDUO_BASE_ASSERTION_H
#define MUDUO_BASE_ASSERTION_H

#include "base/log.h"

/** @brief Aborts with a FATAL log line unless @p cond holds. */
#define ASSERT(cond)                                                           \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0))                                      \
            log_write_fatal(__FILE__, __LINE__, "assertion failed in %s: %s",  \
                            __func__, #cond);                                  \
    } while (0)

#endif /* MUDUO_BASE_ASSERTION_H */
