/* The id -> slot map under the timer queue, checked against a plain array
 * as the model, including deletions inside clusters (backward shift). */
#include "test_support.h"

#include "base/id_map.h"

#include <stdlib.h>
#include <string.h>

START_TEST(empty_map)
{
    struct id_map map;
    id_map_init(&map);
    uint32_t v;
    ck_assert(!id_map_get(&map, 1, &v));
    ck_assert(!id_map_get(&map, 0, &v));
    ck_assert(!id_map_remove(&map, 1));
    id_map_destroy(&map);
}
END_TEST

START_TEST(put_get_remove)
{
    struct id_map map;
    id_map_init(&map);
    for (uint64_t id = 1; id <= 1000; id++)
        ck_assert_int_eq(id_map_put(&map, id, (uint32_t)(id * 3)), 0);
    ck_assert_uint_eq(map.len, 1000);
    ck_assert_uint_ge(map.capacity, 1334); /* at most three quarters full */
    uint32_t v;
    for (uint64_t id = 1; id <= 1000; id++) {
        ck_assert(id_map_get(&map, id, &v));
        ck_assert_uint_eq(v, id * 3);
    }
    for (uint64_t id = 1; id <= 1000; id += 2)
        ck_assert(id_map_remove(&map, id));
    for (uint64_t id = 1; id <= 1000; id++)
        ck_assert(id_map_get(&map, id, &v) == (id % 2 == 0));
    ck_assert(!id_map_remove(&map, 1));
    ck_assert_uint_eq(map.len, 500);
    id_map_destroy(&map);
}
END_TEST

/* Random puts and removes over a small id range, so that clusters form
 * and deletions shift entries back; every answer is compared with the
 * model after every step. */
START_TEST(random_operations_match_a_model)
{
    enum { RANGE = 3000, STEPS = 200000 };
    static uint32_t model[RANGE + 1]; /* 0: absent, else value + 1 */
    memset(model, 0, sizeof model);
    struct id_map map;
    id_map_init(&map);
    unsigned seed = 7;
    size_t present = 0;
    for (int step = 0; step < STEPS; step++) {
        uint64_t id = 1 + (uint64_t)(rand_r(&seed) % RANGE);
        uint32_t v;
        if (rand_r(&seed) % 3 != 0 && model[id] == 0) {
            uint32_t value = (uint32_t)rand_r(&seed); /* < 2^31 */
            ck_assert_int_eq(id_map_put(&map, id, value), 0);
            model[id] = value + 1;
            present++;
        } else {
            ck_assert(id_map_remove(&map, id) == (model[id] != 0));
            present -= model[id] != 0;
            model[id] = 0;
        }
        ck_assert_uint_eq(map.len, present);
        if (step % 1000 == 0) /* full comparison now and then */
            for (uint64_t k = 1; k <= RANGE; k++) {
                bool found = id_map_get(&map, k, &v);
                ck_assert(found == (model[k] != 0));
                if (found)
                    ck_assert_uint_eq(v, model[k] - 1);
            }
    }
    id_map_destroy(&map);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch02 id map");
    TCase *tc = tcase_create("id_map");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, empty_map);
    tcase_add_test(tc, put_get_remove);
    tcase_add_test(tc, random_operations_match_a_model);
    suite_add_tcase(s, tc);
    return s;
}
