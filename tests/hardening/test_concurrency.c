/* Concurrency: see concurrency_workload.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "concurrency_workload.h"

Test(concurrency, threads_with_own_views_write_restore_and_snapshot, .timeout = 600)
{
	cr_assert_eq(run_concurrency_workload(), 0);
}
