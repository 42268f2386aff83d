/*
 * The stopwatch of stopwatch.h: the CPU's time-stamp counter where the
 * kernel trusts it, clock_gettime elsewhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
 * microsecond or so between the two clocks' readings is noise. */
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
	int saved = errno;
	int fd = open(clocksource_path, O_RDONLY | O_CLOEXEC);
	char name[32] = {0};
	ssize_t n = fd >= 0 ? read(fd, name, sizeof name - 1) : -1;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return n > 0 && strcmp(name, "tsc\n") == 0;
}

/* Whether the kernel keeps time with the counter: read once per process,
 * when the first stopwatch is made (never during a restore). The one piece
 * of global state here, written once under pthread_once. */
static int counter_trusted;
static pthread_once_t counter_once = PTHREAD_ONCE_INIT;

static void counter_check(void)
{
	counter_trusted = ms__stopwatch_counter_trusted(MS__CLOCKSOURCE_PATH);
}

/* Both clocks at one instant: the counter read on either side of the
 * system clock, retried while something (preemption) came in between. */
static void read_both(uint64_t *ticks, uint64_t *ns)
{
	for (int attempt = 0;; attempt++) {
		uint64_t before = counter();
		*ns = system_ns();
		uint64_t after = counter();
		*ticks = before + (after - before) / 2;
		if (after - before < 20000 || attempt == 4)
			return;
	}
}

void ms__stopwatch_init(ms__stopwatch *w)
{
	pthread_once(&counter_once, counter_check);
	w->mode = counter_trusted ? MS__STOPWATCH_CALIBRATING : MS__STOPWATCH_SYSTEM;
	w->ns_per_tick = 0;
	read_both(&w->tick0, &w->ns0);
}

uint64_t ms__stopwatch_start(const ms__stopwatch *w)
{
	return w->mode == MS__STOPWATCH_COUNTER ? counter() : system_ns();
}

/* The counter takes over from the next interval. */
static void calibrate(ms__stopwatch *w)
{
	uint64_t ticks, ns;
	read_both(&ticks, &ns);
	ticks -= w->tick0;
	ns -= w->ns0;
	/* A rate in 32.32 fixed point: exact to a part in a billion for any
	 * counter of 1 MHz to 4 GHz, and one multiplication per interval. */
	uint64_t rate = ticks ? (uint64_t)((double)ns / (double)ticks * 4294967296.0) : 0;
	if (rate) {
		w->ns_per_tick = rate;
		w->mode = MS__STOPWATCH_COUNTER;
	} else {
		w->mode = MS__STOPWATCH_SYSTEM;
	}
}

uint64_t ms__stopwatch_ns(ms__stopwatch *w, uint64_t start)
{
#if HAVE_COUNTER
	if (w->mode == MS__STOPWATCH_COUNTER) {
		int64_t ticks = (int64_t)(counter() - start);
		if (ticks <= 0)
			return 0;
		return (uint64_t)(((unsigned __int128)(uint64_t)ticks * w->ns_per_tick) >> 32);
	}
#endif
	uint64_t now = system_ns();
	if (w->mode == MS__STOPWATCH_CALIBRATING && now - w->ns0 >= CALIBRATION_NS)
		calibrate(w);
	return now - start;
}
