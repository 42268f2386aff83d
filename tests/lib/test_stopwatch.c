/* The stopwatch that times restores: it agrees with the system clock before
 * and after it switches to the CPU's counter, and trusts the counter only
 * where the kernel does. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "linux/stopwatch.h"
#include "../common.h"

static uint64_t system_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Time a sleep of `us` with the stopwatch, inside two system clock
 * readings; the stopwatch must not measure more than the outer span (plus
 * a rounding margin), nor much less. */
static void assert_agrees(ms__stopwatch *w, unsigned us)
{
	uint64_t outer0 = system_ns();
	uint64_t start = ms__stopwatch_start(w);
	usleep(us);
	uint64_t got = ms__stopwatch_ns(w, start);
	uint64_t outer = system_ns() - outer0;
	cr_assert_geq(got, (uint64_t)us * 1000u * 99 / 100, "measured %llu ns of a %u us sleep",
		      (unsigned long long)got, us);
	cr_assert_leq(got, outer + outer / 100 + 1000, "measured %llu ns within %llu ns",
		      (unsigned long long)got, (unsigned long long)outer);
}

Test(stopwatch, agrees_with_the_system_clock_before_and_after_calibration)
{
	ms__stopwatch w;
	ms__stopwatch_init(&w);
	int trusted = ms__stopwatch_counter_trusted(MS__CLOCKSOURCE_PATH);
	uint64_t t0 = system_ns();
	while (system_ns() - t0 < 80000000u) /* past the 50 ms calibration */
		assert_agrees(&w, 5000);
	cr_assert_eq(w.mode, trusted ? MS__STOPWATCH_COUNTER : MS__STOPWATCH_SYSTEM,
		     "mode %d, counter trusted %d", w.mode, trusted);
	cr_log_info("stopwatch mode %d (%s)", w.mode, trusted ? "counter" : "system clock");
	for (int i = 0; i < 5; i++)
		assert_agrees(&w, 20000);
}

Test(stopwatch, system_mode_stays_on_the_system_clock)
{
	ms__stopwatch w;
	ms__stopwatch_init(&w);
	w.mode = MS__STOPWATCH_SYSTEM;
	uint64_t t0 = system_ns();
	while (system_ns() - t0 < 80000000u)
		assert_agrees(&w, 10000);
	cr_assert_eq(w.mode, MS__STOPWATCH_SYSTEM);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert(f);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
}

Test(stopwatch, counter_is_trusted_only_when_the_kernel_keeps_time_with_it)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/clocksource-%d", ms_test_tmpdir(), (int)getpid());
	write_file(path, "kvm-clock\n");
	cr_assert_eq(ms__stopwatch_counter_trusted(path), 0);
	write_file(path, "tsc\n");
#if defined(__x86_64__)
	cr_assert_eq(ms__stopwatch_counter_trusted(path), 1);
#else
	cr_assert_eq(ms__stopwatch_counter_trusted(path), 0);
#endif
	write_file(path, "tsc-early\n");
	cr_assert_eq(ms__stopwatch_counter_trusted(path), 0);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(ms__stopwatch_counter_trusted(path), 0, "a missing file");
}
