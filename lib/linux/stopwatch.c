/*
 * The stopwatch of stopwatch.h: the CPU's time-stamp counter where the
 * kernel trusts it, clock_gettime elsewhere.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stopwatch.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_COUNTER 1
static inline uint64_t counter(void)
{
	return __rdtsc();
}
#else
#define HAVE_COUNTER 0
static inline uint64_t counter(void)
{
	return 0;
}
#endif

/* The span over which the counter's rate is measured: long enough that the
 * few tens of nanoseconds between the two clocks' readings are noise. */
#define CALIBRATION_NS 50000000u

static uint64_t system_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ms__stopwatch_counter_trusted(const char *clocksource_path)
{
	if (!HAVE_COUNTER)
		return 0;
	int fd = open(clocksource_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char name[32] = {0};
	ssize_t n = read(fd, name, sizeof name - 1);
	close(fd);
	return n > 0 && strcmp(name, "tsc\n") == 0;
}

void ms__stopwatch_init(ms__stopwatch *w)
{
	w->mode = HAVE_COUNTER ? MS__STOPWATCH_CALIBRATING : MS__STOPWATCH_SYSTEM;
	w->ns_per_tick = 0;
	w->ns0 = system_ns();
	w->tick0 = counter();
}

uint64_t ms__stopwatch_start(const ms__stopwatch *w)
{
	return w->mode == MS__STOPWATCH_COUNTER ? counter() : system_ns();
}

/* Decide, once, whether the counter takes over (from the next interval). */
static void calibrate(ms__stopwatch *w, uint64_t now_ns)
{
	uint64_t ticks = counter() - w->tick0;
	uint64_t span = now_ns - w->ns0;
	/* A rate in 32.32 fixed point: exact to a part in a billion for any
	 * counter of 1 MHz to 4 GHz, and one multiplication per interval. */
	uint64_t rate = ticks ? (uint64_t)((double)span / (double)ticks * 4294967296.0) : 0;
	if (rate && ms__stopwatch_counter_trusted(MS__CLOCKSOURCE_PATH)) {
		w->ns_per_tick = rate;
		w->mode = MS__STOPWATCH_COUNTER;
	} else {
		w->mode = MS__STOPWATCH_SYSTEM;
	}
}

uint64_t ms__stopwatch_ns(ms__stopwatch *w, uint64_t start)
{
	if (w->mode == MS__STOPWATCH_COUNTER) {
		int64_t ticks = (int64_t)(counter() - start);
		if (ticks <= 0)
			return 0;
		return (uint64_t)(((unsigned __int128)(uint64_t)ticks * w->ns_per_tick) >> 32);
	}
	uint64_t now = system_ns();
	if (w->mode == MS__STOPWATCH_CALIBRATING && now - w->ns0 >= CALIBRATION_NS)
		calibrate(w, now);
	return now - start;
}
