/*
 * memsnap-bench-win: the restore of a view on Windows (run under Wine from
 * Linux: `make bench-windows`), against the two ways to reset memory
 * without memsnap's tracking. One run, medians, ratios:
 *
 *   restore D=16, tracked    16 pages written at random each iteration
 *                            (16 first-write faults), restored by copying
 *                            them back and protecting them again
 *   restore D=16, hot        the same 16 pages every iteration (hot pages:
 *                            left writable, restored by copying only)
 *   memcpy whole view        the view's size copied (a reset without
 *                            tracking)
 *   seed remap               the seed's restore: the view's one section
 *                            view unmapped and mapped again at its address
 *                            (and, apart, the faults of reading the whole
 *                            view afterwards, which a remap defers)
 *   memsnap remap            an untracked memsnap view's restore (the
 *                            fallback): its section views mapped again
 *
 * Usage: memsnap-bench-win [MiB=256] [D=16] [reps=300]
 * Prints a table, then the same figures as CSV lines starting with "csv,".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "memsnap/memsnap.h"

static double now_us(void)
{
	static LARGE_INTEGER f;
	if (!f.QuadPart)
		QueryPerformanceFrequency(&f);
	LARGE_INTEGER t;
	QueryPerformanceCounter(&t);
	return (double)t.QuadPart * 1e6 / (double)f.QuadPart;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "memsnap-bench-win: %s: %s\n", what, ms_strerror(err));
	exit(1);
}

/* What the run is on: Wine's version when under Wine, the CPU's name. */
static void print_machine(void)
{
	typedef const char *(*wine_version_fn)(void);
	wine_version_fn wv = (wine_version_fn)(void (*)(void))GetProcAddress(
	    GetModuleHandleW(L"ntdll.dll"), "wine_get_version");
	char cpu[49] = "unknown";
	unsigned r[12];
	for (unsigned i = 0; i < 3; i++)
		__asm__ volatile("cpuid"
				 : "=a"(r[i * 4]), "=b"(r[i * 4 + 1]), "=c"(r[i * 4 + 2]),
				   "=d"(r[i * 4 + 3])
				 : "a"(0x80000002u + i), "c"(0));
	memcpy(cpu, r, 48);
	printf("machine: %s; %s; memsnap %s; gcc %s (mingw-w64), -O2\n", wv ? "Wine" : "Windows",
	       cpu, ms_version(), __VERSION__);
	if (wv)
		printf("wine: %s\n", wv());
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	size_t d = argc > 2 ? strtoul(argv[2], NULL, 10) : 16;
	size_t reps = argc > 3 ? strtoul(argv[3], NULL, 10) : 300;
	size_t size = mib << 20, ps = ms_page_size(), npages = size / ps;
	if (!mib || !d || d > npages || reps < 3) {
		fprintf(stderr, "usage: memsnap-bench-win [MiB=256] [D=16] [reps=300]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	print_machine();
	printf("view: %zu MiB (%zu pages of %zu bytes), D=%zu, %zu repetitions\n", mib, npages, ps,
	       d, reps);

	uint8_t *content = malloc(size);
	uint8_t *copy = malloc(size);
	double *t = malloc(reps * sizeof *t);
	size_t *pages = malloc(d * sizeof *pages);
	if (!content || !copy || !t || !pages)
		die("malloc", -12);
	for (size_t i = 0; i < size; i += 8)
		*(uint64_t *)(content + i) = i * 0x9e3779b97f4a7c15u;
	memset(copy, 1, size);
	ms_snapshot *s;
	int err = ms_snapshot_from_buffer(content, size, &s);
	if (err)
		die("snapshot", err);

	/* Tracked, pages at random: every restore protects them again. */
	ms_view *v;
	if ((err = ms_view_new(s, MS_VIEW_COW, &v)))
		die("view", err);
	ms_view_set_hot_pages(v, 0);
	uint8_t *p = ms_view_data(v);
	for (size_t i = 0; i < size; i += ps)
		(void)*(volatile uint8_t *)(p + i); /* read in: no fault later */
	double *faults = malloc(reps * sizeof *faults);
	for (size_t r = 0; r < reps; r++) {
		double a = now_us();
		for (size_t i = 0; i < d; i++)
			p[(next_random() % npages) * ps + i] ^= 0xff;
		faults[r] = now_us() - a;
		a = now_us();
		int n = ms_view_restore(v);
		t[r] = now_us() - a;
		if (n < 0 || (size_t)n > d)
			die("restore", n < 0 ? n : -5);
	}
	if (memcmp(p, content, size) != 0)
		die("tracked restore left the view unlike its snapshot", -5);
	double tracked = median(t, reps), fault = median(faults, reps) / (double)d;

	/* Hot: the same pages every iteration. */
	ms_view_set_hot_pages(v, 1);
	for (size_t i = 0; i < d; i++)
		pages[i] = (next_random() % npages);
	for (size_t r = 0; r < reps + 20; r++) {
		for (size_t i = 0; i < d; i++)
			p[pages[i] * ps + r % ps] ^= 0xff;
		double a = now_us();
		int n = ms_view_restore(v);
		if (r >= 20)
			t[r - 20] = now_us() - a;
		if (n < 0)
			die("restore", n);
	}
	if (memcmp(p, content, size) != 0)
		die("hot restore left the view unlike its snapshot", -5);
	double hot = median(t, reps);
	ms_view_free(v);

	/* memcpy of the whole view. */
	size_t mreps = reps < 21 ? reps : 21;
	for (size_t r = 0; r < mreps; r++) {
		double a = now_us();
		memcpy(copy, content, size);
		t[r] = now_us() - a;
	}
	double whole = median(t, mreps);

	/* The seed's remap: one section view of the whole size, unmapped and
	 * mapped again at its address (the MapViewOfFileEx path; placeholders
	 * would not change the cost of the mapping itself). */
	HANDLE sec = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE,
					(DWORD)((uint64_t)size >> 32), (DWORD)size, NULL);
	uint8_t *src = sec ? MapViewOfFile(sec, FILE_MAP_WRITE, 0, 0, size) : NULL;
	if (!src)
		die("section", -12);
	memcpy(src, content, size);
	uint8_t *view = MapViewOfFile(sec, FILE_MAP_COPY, 0, 0, size);
	size_t rreps = reps < 101 ? reps : 101;
	for (size_t r = 0; r < rreps && view; r++) {
		for (size_t i = 0; i < d; i++)
			view[(next_random() % npages) * ps] ^= 0xff;
		double a = now_us();
		UnmapViewOfFile(view);
		uint8_t *again = MapViewOfFileEx(sec, FILE_MAP_COPY, 0, 0, size, view);
		t[r] = now_us() - a;
		view = again;
	}
	if (!view || memcmp(view, content, size) != 0)
		die("seed remap", -5);
	double seed = median(t, rreps);
	/* A remap is lazy: each page the program reads afterwards faults in
	 * once. The whole view read after a remap, as a program touching
	 * all its memory would. */
	for (size_t r = 0; r < mreps; r++) {
		UnmapViewOfFile(view);
		view = MapViewOfFileEx(sec, FILE_MAP_COPY, 0, 0, size, view);
		if (!view)
			die("seed remap", -12);
		double a = now_us();
		for (size_t i = 0; i < size; i += ps)
			(void)*(volatile uint8_t *)(view + i);
		t[r] = now_us() - a;
	}
	double seed_touch = median(t, mreps);
	/* The floor of a tracked restore: one protection change per page. */
	for (size_t r = 0; r < reps; r++) {
		DWORD old;
		uint8_t *pg = view + (next_random() % npages) * ps;
		double a = now_us();
		VirtualProtect(pg, ps, PAGE_READONLY, &old);
		t[r] = now_us() - a;
		VirtualProtect(pg, ps, PAGE_WRITECOPY, &old);
	}
	double protect = median(t, reps);
	UnmapViewOfFile(view);
	UnmapViewOfFile(src);
	CloseHandle(sec);

	/* memsnap's own fallback: an untracked view remaps its views. */
	if ((err = ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_NONE, &v)))
		die("untracked view", err);
	p = ms_view_data(v);
	for (size_t r = 0; r < rreps; r++) {
		for (size_t i = 0; i < d; i++)
			p[(next_random() % npages) * ps] ^= 0xff;
		double a = now_us();
		int n = ms_view_restore(v);
		t[r] = now_us() - a;
		if (n < 0)
			die("remap restore", n);
	}
	if (ms_view_data(v) != p || memcmp(p, content, size) != 0)
		die("remap restore", -5);
	double remap = median(t, rreps);
	ms_view_free(v);
	ms_snapshot_unref(s);

	printf("\n%-44s %12s %12s %12s\n", "", "median (us)", "x tracked", "x hot");
	printf("%-44s %12.1f %12s %12s\n", "restore D pages, tracked (fault + protect)", tracked,
	       "1", "");
	printf("%-44s %12.1f %12s %12s\n", "restore D pages, hot (copy only)", hot, "", "1");
	printf("%-44s %12.1f %12.0f %12.0f\n", "memcpy of the whole view", whole, whole / tracked,
	       whole / hot);
	printf("%-44s %12.1f %12.1f %12.0f\n", "seed remap (one view, unmap + map)", seed,
	       seed / tracked, seed / hot);
	printf("%-44s %12.1f %12.1f %12.0f\n", "  then reading every page of the view", seed_touch,
	       seed_touch / tracked, seed_touch / hot);
	printf("%-44s %12.1f %12.1f %12.0f\n", "memsnap remap (untracked view)", remap,
	       remap / tracked, remap / hot);
	printf("%-44s %12.2f\n", "first-write fault, per page", fault);
	printf("%-44s %12.2f\n", "VirtualProtect of one page", protect);
	printf("\ncsv,mib,d,reps,tracked_us,hot_us,memcpy_us,seed_remap_us,memsnap_remap_us,"
	       "fault_us,seed_remap_read_all_us,protect_page_us\n");
	printf("csv,%zu,%zu,%zu,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f\n", mib, d, reps, tracked,
	       hot, whole, seed, remap, fault, seed_touch, protect);
	free(pages);
	free(faults);
	free(t);
	free(copy);
	free(content);
	return 0;
}
