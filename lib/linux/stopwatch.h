/*
 * A stopwatch cheap enough to run around every restore.
 *
 * Contract: ms__stopwatch_start() returns a reading, ms__stopwatch_ns() the
 * nanoseconds since a reading taken from the same stopwatch. Both are O(1),
 * never fail and make no system call once the stopwatch is calibrated. A
 * stopwatch belongs to one object (a view, an engine) and is used by one
 * thread at a time, as that object is; intervals must not overlap.
 *
 * Why: clock_gettime(CLOCK_MONOTONIC) costs ~22 ns through the vDSO, and a
 * restore of a few hot pages lasts ~0.6 µs, so the four clock readings of
 * the view and of the runtime (~90 ns) weighed on it (the runtime's views
 * now leave the timing to the engine: ms_view_set_restore_timing). Where
 * the kernel keeps time with the CPU's time-stamp counter (its
 * clocksource is "tsc": constant rate, synchronized across CPUs), a reading is one rdtsc instruction (~9 ns, no memory
 * access). Ticks become nanoseconds with a rate the stopwatch measures
 * itself: it reads both clocks when it is made, and the first interval that
 * ends at least 50 ms later reads them again and divides the two spans.
 * Until then, and for good where the counter cannot be trusted (another
 * clocksource, an architecture other than x86-64), readings are
 * clock_gettime's. Whether the kernel trusts the counter is read from sysfs
 * once per process, when the first stopwatch is made (never during a
 * restore); a kernel that later gives up the counter (it found it unstable)
 * is not noticed, and only the statistics would suffer.
 *
 * The code is compiled into libmemsnap and libmemsnap-uc alike (each keeps
 * its copy hidden).
 */
#ifndef MEMSNAP_LINUX_STOPWATCH_H
#define MEMSNAP_LINUX_STOPWATCH_H

#include <stdint.h>

typedef struct ms__stopwatch {
	int mode;	      /* ms__stopwatch_mode */
	uint64_t ns_per_tick; /* once calibrated: nanoseconds per tick << 32 */
	uint64_t tick0, ns0;  /* both clocks, read when the stopwatch was made */
} ms__stopwatch;

enum ms__stopwatch_mode {
	MS__STOPWATCH_CALIBRATING, /* clock_gettime readings; measuring the rate */
	MS__STOPWATCH_COUNTER,	   /* counter readings */
	MS__STOPWATCH_SYSTEM,	   /* clock_gettime readings for good */
};

/* Where Linux names the clocksource it keeps time with. */
#define MS__CLOCKSOURCE_PATH "/sys/devices/system/clocksource/clocksource0/current_clocksource"

/* 1 if the file at `clocksource_path` names "tsc" and this architecture
 * has the counter, else 0 (also when the file cannot be read). */
int ms__stopwatch_counter_trusted(const char *clocksource_path);

void ms__stopwatch_init(ms__stopwatch *w);
uint64_t ms__stopwatch_start(const ms__stopwatch *w);
uint64_t ms__stopwatch_ns(ms__stopwatch *w, uint64_t start);

#endif /* MEMSNAP_LINUX_STOPWATCH_H */
