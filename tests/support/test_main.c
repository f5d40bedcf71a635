/* The main() of every test program: runs test_suite() and exits non-zero
 * when any test failed. CK_FORK=no (set by make memcheck) runs the tests
 * in this process, so that valgrind sees them. */
#include "test_support.h"

#include <stdlib.h>

int main(void)
{
    SRunner *runner = srunner_create(test_suite());
    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
