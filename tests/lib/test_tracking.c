/* Dirty-page trackers: randomized differential tests of every tracker this
 * process can use against a plain-memory model, plus kernel writes, user
 * protections, chains, fork, signal chaining and resource leaks. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "internal.h"
#include "linux/fault.h"
#include "linux/prim.h"
#include "../common.h"

#define PS 4096u

/* A test that waits forever (a writer no tracker thread wakes) fails by
 * name instead of holding up the whole binary until meson's timeout. */
TestSuite(tracking, .timeout = 120);

static const ms_tracker all_trackers[] = {MS_TRACKER_UFFD_THREAD, MS_TRACKER_UFFD_ASYNC,
					  MS_TRACKER_UFFD_SYNC, MS_TRACKER_MPROTECT};
#define N_TRACKERS (sizeof all_trackers / sizeof all_trackers[0])

/* Trackers that refuse kernel writes unless announced. */
static bool needs_prepare(ms_tracker t)
{
	return t == MS_TRACKER_UFFD_SYNC || t == MS_TRACKER_MPROTECT;
}

/* Trackers that record writes as they fault (hot pages apply to them). */
static bool fault_driven(ms_tracker t)
{
	return needs_prepare(t) || t == MS_TRACKER_UFFD_THREAD;
}

/* Whether the tracker is usable here; logs why not. */
static bool usable(ms_tracker t)
{
	int err = ms_tracker_probe(t);
	if (!err && needs_prepare(t) && ms_test_under_valgrind()) {
		/* Under valgrind, stores that fault and are resumed by a
		 * handler (SIGBUS from userfaultfd, SIGSEGV from mprotect)
		 * resume wrongly in multi-page copies; valgrind also does not
		 * know userfaultfd. These trackers run natively and under ASan. */
		cr_log_info("skipping tracker %s under valgrind", ms_tracker_name(t));
		return false;
	}
	if (err)
		cr_log_info("skipping tracker %s: %s", ms_tracker_name(t), ms_strerror(err));
	else
		cr_log_info("tracker %s", ms_tracker_name(t));
	return err == 0;
}

static uint64_t rnd_state = 88172645463325252u;
static uint64_t rnd(void)
{
	return ms_test_rnd(&rnd_state);
}

/* A view and what it must contain. */
typedef struct model {
	ms_tracker tracker;
	size_t np, size;
	ms_snapshot *snap;
	ms_view *v;
	uint8_t *base;	  /* the snapshot's content */
	uint8_t *want;	  /* the view's expected content */
	uint8_t *touched; /* per page: written since the last restore */
	bool hot;	  /* hot pages on: the dirty set may hold more pages */
} model;

static void model_from(model *m, ms_tracker t, ms_snapshot *snap, const uint8_t *content)
{
	m->tracker = t;
	m->size = ms_snapshot_size(snap);
	m->np = m->size / PS;
	m->snap = snap;
	m->base = malloc(m->size);
	m->want = malloc(m->size);
	m->touched = calloc(m->np, 1);
	m->hot = false;
	cr_assert(m->base && m->want && m->touched);
	memcpy(m->base, content, m->size);
	memcpy(m->want, content, m->size);
	int err = ms_view_new_tracked(snap, MS_VIEW_COW, t, &m->v);
	cr_assert_eq(err, 0, "view with %s: %s", ms_tracker_name(t), ms_strerror(err));
	cr_assert_eq(ms_view_tracker(m->v), t);
	/* Hot pages are on by default; the model checks exact dirty sets
	 * unless a test turns them on again (model_set_hot). */
	cr_assert_eq(ms_view_set_hot_pages(m->v, 0), 0);
}

static void model_init(model *m, ms_tracker t, size_t np)
{
	uint8_t *content = malloc(np * PS);
	for (size_t i = 0; i < np * PS; i++)
		content[i] = (i / PS) % 3 == 0 ? 0 : (uint8_t)rnd();
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(content, np * PS, &s), 0);
	model_from(m, t, s, content);
	free(content);
}

static void model_fini(model *m)
{
	ms_view_free(m->v);
	ms_snapshot_unref(m->snap);
	free(m->base);
	free(m->want);
	free(m->touched);
}

static uint8_t *data(model *m)
{
	return ms_view_data(m->v);
}

static void touch(model *m, size_t off, size_t len)
{
	for (size_t pg = off / PS; pg <= (off + len - 1) / PS; pg++)
		m->touched[pg] = 1;
}

static void write_bytes(model *m, size_t off, const uint8_t *src, size_t len)
{
	memcpy(data(m) + off, src, len);
	memcpy(m->want + off, src, len);
	touch(m, off, len);
}

/* Write `len` bytes at `off` with read(2) from a pipe: the kernel writes. */
static void write_by_kernel(model *m, size_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)len, 1);
	cr_assert_eq(write(p[1], buf, len), (ssize_t)len);
	if (needs_prepare(m->tracker))
		cr_assert_eq(ms_view_note_written(m->v, off, len), 0);
	cr_assert_eq(read(p[0], data(m) + off, len), (ssize_t)len, "read(2) into the view: %s",
		     strerror(errno));
	memcpy(m->want + off, buf, len);
	touch(m, off, len);
	close(p[0]);
	close(p[1]);
	free(buf);
}

static void random_writes(model *m, int count)
{
	uint8_t buf[3 * PS];
	for (int i = 0; i < count; i++) {
		size_t off, len;
		switch (rnd() % 5) {
		case 0: /* one byte */
			off = rnd() % m->size;
			len = 1;
			break;
		case 1: /* a whole page */
			off = rnd() % m->np * PS;
			len = PS;
			break;
		case 2: /* a run across page boundaries */
			len = 1 + rnd() % (2 * PS);
			off = rnd() % (m->size - len + 1);
			break;
		case 3: /* by the kernel */
			len = 1 + rnd() % (2 * PS);
			off = rnd() % (m->size - len + 1);
			write_by_kernel(m, off, len);
			continue;
		default: /* a byte in an already written page */
			off = rnd() % m->size;
			if (!m->touched[off / PS])
				continue;
			len = 1;
			break;
		}
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rnd();
		write_bytes(m, off, buf, len);
	}
}

static void check_content(model *m, const char *when)
{
	const uint8_t *p = data(m);
	for (size_t pg = 0; pg < m->np; pg++)
		if (memcmp(p + pg * PS, m->want + pg * PS, PS) != 0)
			cr_assert_fail("%s, %s: page %zu differs", ms_tracker_name(m->tracker),
				       when, pg);
}

static void model_set_hot(model *m)
{
	cr_assert_eq(ms_view_set_hot_pages(m->v, 1), 0);
	m->hot = true;
}

/* The view's dirty ranges are exactly the pages written (with hot pages: at
 * least those). */
static void check_dirty(model *m)
{
	size_t cap = m->np;
	ms_range *r = calloc(cap, sizeof *r);
	long n = ms_view_dirty_ranges(m->v, r, cap);
	cr_assert_geq(n, 0);
	uint8_t *seen = calloc(m->np, 1);
	size_t pages = 0;
	for (long i = 0; i < n; i++) {
		cr_assert_eq(r[i].offset % PS, 0);
		cr_assert(i == 0 || r[i].offset > r[i - 1].offset + r[i - 1].len,
			  "runs sorted and merged");
		for (size_t pg = r[i].offset / PS; pg < (r[i].offset + r[i].len) / PS; pg++) {
			seen[pg] = 1;
			pages++;
		}
	}
	for (size_t pg = 0; pg < m->np; pg++)
		if (!m->hot || m->touched[pg])
			cr_assert_eq(seen[pg], m->touched[pg], "%s: page %zu dirty %d, written %d",
				     ms_tracker_name(m->tracker), pg, seen[pg], m->touched[pg]);
	cr_assert_eq(ms_view_dirty_count(m->v), (long)pages);
	cr_assert_eq(ms_view_verify(m->v, NULL, 0), 0, "no write missed");
	free(seen);
	free(r);
}

static void restore(model *m)
{
	cr_assert_geq(ms_view_restore(m->v), 0);
	memcpy(m->want, m->base, m->size);
	memset(m->touched, 0, m->np);
	check_content(m, "after restore");
	if (!m->hot)
		cr_assert_eq(ms_view_dirty_count(m->v), 0);
}

/* ---- Randomized differential tests ------------------------------------- */

Test(tracking, random_writes_and_restores_match_the_model, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 300);
		for (int round = 0; round < 60; round++) {
			random_writes(&m, (int)(rnd() % 40));
			check_content(&m, "after writes");
			check_dirty(&m);
			restore(&m);
		}
		ms_view_stats st;
		ms_view_get_stats(m.v, &st);
		cr_assert_eq(st.restores, 60);
		model_fini(&m);
	}
}

static void assert_snapshot_is(ms_snapshot *s, const uint8_t *want, size_t size);

/* Hot pages: a working set rewritten every round (bytes, whole pages, by the
 * kernel), random writes elsewhere, snapshots taken, checkpoints and
 * restore_to within the family; the view must match the model after every
 * step. */
Test(tracking, hot_pages_match_the_model, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 200);
		model_set_hot(&m);
		enum { K = 4 };
		ms_snapshot *cp[K] = {0};
		uint8_t *content[K] = {0};
		size_t ncp = 0;
		for (int round = 0; round < 300; round++) {
			/* Pages 10..17 every round, page 30 every third round,
			 * page 40 only in rounds 0..19. */
			for (size_t pg = 10; pg < 18; pg++) {
				uint8_t b[16];
				for (size_t k = 0; k < sizeof b; k++)
					b[k] = (uint8_t)rnd();
				if (pg == 12 && round % 5 == 0)
					write_by_kernel(&m, pg * PS, PS);
				else
					write_bytes(&m, pg * PS + rnd() % (PS - sizeof b), b,
						    (size_t)1 + rnd() % sizeof b);
			}
			uint8_t b = (uint8_t)(round + 1);
			if (round % 3 == 0)
				write_bytes(&m, 30 * PS + 7, &b, 1);
			if (round < 20)
				write_bytes(&m, 40 * PS + 9, &b, 1);
			random_writes(&m, (int)(rnd() % 8));
			check_content(&m, "after writes");
			check_dirty(&m);
			int op = (int)(rnd() % 16);
			if (op == 0 && ncp < K) {
				ms_snapshot *s;
				cr_assert_eq(ms_view_take_snapshot(m.v, &s), 0);
				assert_snapshot_is(s, m.want, m.size);
				cp[ncp] = s;
				content[ncp] = malloc(m.size);
				memcpy(content[ncp], m.want, m.size);
				ncp++;
				restore(&m);
			} else if (op == 1 && ncp > 0) {
				size_t k = rnd() % ncp;
				cr_assert_geq(ms_view_restore_to(m.v, cp[k]), 0);
				memcpy(m.base, content[k], m.size);
				memcpy(m.want, content[k], m.size);
				memset(m.touched, 0, m.np);
				check_content(&m, "after restore_to");
			} else {
				restore(&m);
			}
			cr_assert_eq(ms_view_verify(m.v, NULL, 0), 0);
		}
		for (size_t k = 0; k < ncp; k++) {
			ms_snapshot_unref(cp[k]);
			free(content[k]);
		}
		model_fini(&m);
	}
}

/* Hot pages are on by default: a page that a default view's restores copy
 * back twice in a row stays dirty (writable, copied by every restore), and
 * turning them off makes the dirty set exact again. */
Test(tracking, hot_pages_are_on_by_default)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(16 * PS, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	uint8_t *p = ms_view_data(v);
	if (ms_view_tracker(v) == MS_TRACKER_NONE) {
		cr_log_info("no tracker here: nothing is hot");
	} else {
		for (int round = 1; round <= 3; round++) {
			p[3 * PS] = (uint8_t)round;
			cr_assert_geq(ms_view_restore(v), 0);
			cr_assert_eq(p[3 * PS], 0);
		}
		cr_assert_eq(ms_view_dirty_count(v), 1, "%s", ms_tracker_name(ms_view_tracker(v)));
		cr_assert_eq(ms_view_set_hot_pages(v, 0), 0);
		cr_assert_geq(ms_view_restore(v), 0);
		cr_assert_eq(ms_view_dirty_count(v), 0);
	}
	ms_view_free(v);
	ms_snapshot_unref(s);
}

/* Hot pages stop costing faults: a page rewritten every round stays in the
 * dirty set after restores (every tracker but none), a page left alone for a
 * while is tracked again, and turning hot pages off tracks everything again. */
Test(tracking, hot_pages_become_hot_and_cool_down)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 64);
		model_set_hot(&m);
		for (int round = 0; round < 4; round++) {
			uint8_t b = (uint8_t)(round + 1);
			write_bytes(&m, 5 * PS, &b, 1);
			write_bytes(&m, 6 * PS + 100, &b, 1);
			restore(&m);
		}
		/* Pages 5 and 6 are hot now: dirty, though equal to the snapshot. */
		cr_assert_eq(ms_view_dirty_count(m.v), 2, "%s", ms_tracker_name(m.tracker));
		uint8_t b = 0x5a;
		write_bytes(&m, 5 * PS + 1, &b, 1);
		write_bytes(&m, 20 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		/* 32 restores without writes: a check round (every 16th)
		 * cools them. */
		for (int round = 0; round < 32; round++)
			restore(&m);
		cr_assert_eq(ms_view_dirty_count(m.v), 0, "%s: hot pages never cooled",
			     ms_tracker_name(m.tracker));
		/* Tracked again: a write is recorded and restored. */
		write_bytes(&m, 6 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		/* Off: the hot pages of the next restore are protected again. */
		for (int round = 0; round < 3; round++) {
			write_bytes(&m, 7 * PS, &b, 1);
			restore(&m);
		}
		cr_assert_eq(ms_view_set_hot_pages(m.v, 0), 0);
		m.hot = false;
		write_bytes(&m, 7 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		cr_assert_eq(ms_view_dirty_count(m.v), 0);
		model_fini(&m);
	}
	cr_assert_eq(ms_view_set_hot_pages(NULL, 1), -EINVAL);
}

/* A page hot for a long streak is checked less and less often (the interval
 * doubles from 16 up to 256 restores), yet still cools down once the program
 * stops writing it, and stays exact all along. Streaks of different lengths
 * stop at different points of the check cycle: the quiet restores before
 * the page cools never exceed 256, and some exceed 16 (the backoff). */
Test(tracking, hot_pages_cool_down_after_a_long_streak, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]) || !fault_driven(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 16);
		model_set_hot(&m);
		int longest = 0;
		for (int trial = 0; trial < 16; trial++) {
			int loud = 600 + 17 * trial;
			for (int round = 0; round < loud; round++) {
				size_t off = 3 * PS + (size_t)round % PS;
				uint8_t b = (uint8_t)~m.base[off]; /* a change, always */
				write_bytes(&m, off, &b, 1);
				restore(&m);
			}
			cr_assert_eq(ms_view_dirty_count(m.v), 1, "%s: page 3 is hot",
				     ms_tracker_name(m.tracker));
			int quiet = 0;
			while (ms_view_dirty_count(m.v) != 0 && quiet < 1000) {
				restore(&m);
				quiet++;
			}
			cr_assert_leq(quiet, 256, "%s: cooled after %d quiet restores",
				      ms_tracker_name(m.tracker), quiet);
			longest = quiet > longest ? quiet : longest;
			uint8_t b = 7;
			write_bytes(&m, 3 * PS, &b, 1);
			check_dirty(&m);
			restore(&m);
		}
		cr_assert_gt(longest, 16, "%s: checks never backed off (longest wait %d)",
			     ms_tracker_name(m.tracker), longest);
		model_fini(&m);
	}
}

/* Bytes of private (anonymous) memory in the view's mappings. */
static size_t view_anon_bytes(model *m)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert(f);
	char line[512];
	uintptr_t b = (uintptr_t)data(m);
	bool inside = false;
	size_t kb = 0, total = 0;
	while (fgets(line, sizeof line, f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			inside = lo >= b && hi <= b + m->size;
		else if (inside && sscanf(line, "Anonymous: %zu kB", &kb) == 1)
			total += kb * 1024;
	}
	fclose(f);
	return total;
}

/* Restored pages are private copies; past a budget (256 pages here) the view
 * discards them. Writes to discarded pages must still be caught, pages a
 * stacked snapshot overrides must keep their content, and memory must
 * follow the budget, not every page ever written. */
Test(tracking, restored_pages_are_discarded_past_the_budget_and_stay_tracked, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 8192);
		for (int round = 0; round < 80; round++) {
			for (int k = 0; k < 24; k++) {
				uint8_t b = (uint8_t)rnd();
				size_t off = rnd() % m.size;
				if (rnd() % 4 == 0)
					write_by_kernel(&m, off - off % PS, PS);
				else
					write_bytes(&m, off, &b, 1);
			}
			check_content(&m, "after writes");
			check_dirty(&m);
			if (round == 40) {
				/* Go on from a stacked snapshot holding this
				 * round's pages: trimming must keep them. */
				ms_snapshot *s;
				cr_assert_eq(ms_view_checkpoint(m.v, &s), 0);
				cr_assert_gt(ms_snapshot_depth(s), 0);
				ms_snapshot_unref(m.snap);
				m.snap = s;
				memcpy(m.base, m.want, m.size);
				memset(m.touched, 0, m.np);
			}
			restore(&m);
		}
		/* 80 rounds wrote ~1,900 pages; at most the budget (256
		 * pages), the pages of the last round and those the checkpoint
		 * adopted stay private. */
		size_t anon = view_anon_bytes(&m);
		cr_log_info("%s: %zu pages private", ms_tracker_name(m.tracker), anon / PS);
		cr_assert_lt(anon, (size_t)400 * PS, "%s: %zu KiB private after trimming",
			     ms_tracker_name(m.tracker), anon / 1024);
		model_fini(&m);
	}
}

/* A working set rewritten again and again is not trimmed: the budget grows
 * to hold it (pages that stay private need no copy-on-write fault). */
Test(tracking, a_rewritten_working_set_stays_private)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 8192);
		for (int round = 0; round < 60; round++) {
			for (int k = 0; k < 40; k++) { /* 40 of the same 1,000 pages */
				uint8_t b = (uint8_t)rnd();
				write_bytes(&m, (rnd() % 1000) * 8 * PS + rnd() % PS, &b, 1);
			}
			check_content(&m, "after writes");
			restore(&m);
		}
		size_t anon = view_anon_bytes(&m);
		cr_log_info("%s: %zu pages private", ms_tracker_name(m.tracker), anon / PS);
		cr_assert_gt(anon, (size_t)600 * PS, "%s: the working set was trimmed (%zu KiB)",
			     ms_tracker_name(m.tracker), anon / 1024);
		model_fini(&m);
	}
}

Test(tracking, first_writes_to_untouched_pages_are_caught)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 64);
		/* Read some pages first: reads are not writes. */
		volatile uint8_t sink = 0;
		for (size_t pg = 0; pg < m.np; pg += 2)
			sink ^= data(&m)[pg * PS];
		(void)sink;
		cr_assert_eq(ms_view_dirty_count(m.v), 0, "%s: reads counted as writes",
			     ms_tracker_name(m.tracker));
		uint8_t b = 0x5a;
		write_bytes(&m, 1 * PS, &b, 1); /* read before */
		write_bytes(&m, 3 * PS, &b, 1); /* never touched */
		write_bytes(&m, 63 * PS + 4095, &b, 1);
		check_dirty(&m);
		restore(&m);
		write_bytes(&m, 3 * PS + 7, &b, 1); /* again after a restore */
		check_dirty(&m);
		restore(&m);
		model_fini(&m);
	}
}

struct thread_arg {
	model *m;
	size_t first, n;
	uint64_t seed;
};

static void *thread_writer(void *p)
{
	struct thread_arg *a = p;
	uint64_t s = a->seed;
	for (int i = 0; i < 400; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		size_t off = (a->first + (s >> 33) % a->n) * PS + (s >> 20) % PS;
		uint8_t b = (uint8_t)(s >> 8);
		data(a->m)[off] = b;
		a->m->want[off] = b;
		a->m->touched[off / PS] = 1;
	}
	return NULL;
}

Test(tracking, writes_from_several_threads_are_all_recorded)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 512);
		for (int round = 0; round < 10; round++) {
			pthread_t th[4];
			struct thread_arg a[4];
			for (int k = 0; k < 4; k++) {
				a[k] = (struct thread_arg){&m, (size_t)k * 128, 128, rnd()};
				pthread_create(&th[k], NULL, thread_writer, &a[k]);
			}
			for (int k = 0; k < 4; k++)
				pthread_join(th[k], NULL);
			check_content(&m, "after threads");
			check_dirty(&m);
			restore(&m);
		}
		model_fini(&m);
	}
}

/* ---- Kernel writes ----------------------------------------------------- */

Test(tracking, kernel_writes_need_note_written_on_fault_driven_trackers)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 16);
		/* Tracking starts when first needed (before, nothing is
		 * protected and every write goes through): make it start. */
		cr_assert_eq(ms_view_dirty_count(m.v), 0);
		int p[2];
		cr_assert_eq(pipe(p), 0);
		cr_assert_eq(write(p[1], "kernel", 6), 6);
		ssize_t got = read(p[0], data(&m) + 5 * PS, 6);
		if (needs_prepare(m.tracker)) {
			cr_assert_eq(got, -1, "%s: unannounced kernel write went through",
				     ms_tracker_name(m.tracker));
			cr_assert_eq(errno, EFAULT);
			cr_assert_eq(ms_view_dirty_count(m.v), 0);
		} else {
			cr_assert_eq(got, 6, "async sees kernel writes");
			memcpy(m.want + 5 * PS, "kernel", 6);
			m.touched[5] = 1;
			check_dirty(&m);
		}
		close(p[0]);
		close(p[1]);
		write_by_kernel(&m, 9 * PS - 3, 10); /* announced where needed */
		check_content(&m, "after read(2)");
		check_dirty(&m);
		restore(&m);
		model_fini(&m);
	}
}

Test(tracking, pread_from_a_file_into_the_view)
{
	char path[256];
	uint8_t buf[3 * PS];
	memset(buf, 0xab, sizeof buf);
	ms_test_tmpfile(path, sizeof path, buf, sizeof buf);
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 32);
		int fd = open(path, O_RDONLY);
		cr_assert_geq(fd, 0);
		if (needs_prepare(m.tracker))
			cr_assert_eq(ms_view_note_written(m.v, 10 * PS + 100, sizeof buf), 0);
		cr_assert_eq(pread(fd, data(&m) + 10 * PS + 100, sizeof buf, 0),
			     (ssize_t)sizeof buf);
		close(fd);
		memcpy(m.want + 10 * PS + 100, buf, sizeof buf);
		touch(&m, 10 * PS + 100, sizeof buf);
		check_content(&m, "after pread");
		check_dirty(&m);
		restore(&m);
		model_fini(&m);
	}
	unlink(path);
}

/* A restore whose re-protection fails part way leaves some dirty pages
 * protected again; a write announced afterwards must still reach them (the
 * kernel's write through pread, here), and the next restore puts everything
 * back. */
Test(tracking, note_written_after_a_failed_rearm_lets_the_kernel_write)
{
	char path[256];
	uint8_t buf[PS];
	memset(buf, 0xcd, sizeof buf);
	ms_test_tmpfile(path, sizeof path, buf, sizeof buf);
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]) || !fault_driven(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 8);
		cr_assert_eq(ms_view_dirty_count(m.v), 0); /* start tracking */
		uint8_t b = 1;
		write_bytes(&m, 1 * PS, &b, 1);
		write_bytes(&m, 3 * PS, &b, 1);
		/* Re-protecting takes one call per run (pages 1 and 3): the
		 * second fails. */
		int sys = m.tracker == MS_TRACKER_MPROTECT ? MS__SYS_MPROTECT : MS__SYS_IOCTL;
		ms__fault_arm(sys, 2, EIO);
		cr_assert_eq(ms_view_restore(m.v), -EIO, "%s", ms_tracker_name(m.tracker));
		ms__fault_disarm();
		memcpy(m.want, m.base, m.size); /* the copies were made */
		memset(m.touched, 0, m.np);
		check_content(&m, "after the failed restore");
		int fd = open(path, O_RDONLY);
		cr_assert_geq(fd, 0);
		cr_assert_eq(ms_view_note_written(m.v, 1 * PS, PS), 0);
		cr_assert_eq(pread(fd, data(&m) + 1 * PS, PS, 0), (ssize_t)PS, "%s: %s",
			     ms_tracker_name(m.tracker), strerror(errno));
		close(fd);
		memcpy(m.want + 1 * PS, buf, PS);
		touch(&m, 1 * PS, PS);
		check_content(&m, "after pread");
		restore(&m);
		model_fini(&m);
	}
	unlink(path);
}

/* ---- Snapshots, checkpoints, chains ------------------------------------ */

/* A view of `s` must read as `want`. */
static void assert_snapshot_is(ms_snapshot *s, const uint8_t *want, size_t size)
{
	ms_view *w;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &w), 0);
	cr_assert_eq(memcmp(ms_view_data(w), want, size), 0);
	ms_view_free(w);
	uint8_t *copy = malloc(size);
	cr_assert_eq(ms_snapshot_read(s, 0, copy, size), 0);
	cr_assert_eq(memcmp(copy, want, size), 0);
	free(copy);
}

Test(tracking, take_snapshot_captures_exactly_the_view, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 128);
		for (int round = 0; round < 20; round++) {
			random_writes(&m, 20);
			ms_snapshot *s;
			cr_assert_eq(ms_view_take_snapshot(m.v, &s), 0);
			check_dirty(&m); /* taking a snapshot changes no tracking */
			assert_snapshot_is(s, m.want, m.size);
			/* A tracked view of the new snapshot works like any other. */
			model n;
			model_from(&n, m.tracker, ms_snapshot_ref(s), m.want);
			random_writes(&n, 10);
			check_content(&n, "view of a taken snapshot");
			check_dirty(&n);
			restore(&n);
			model_fini(&n);
			ms_snapshot_unref(s);
			random_writes(&m, 5);
			check_dirty(&m);
			restore(&m);
		}
		model_fini(&m);
	}
}

Test(tracking, checkpoints_and_restore_to_move_within_a_family, .timeout = 120)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 96);
		enum { K = 8 };
		ms_snapshot *cp[K];
		uint8_t *content[K];
		for (int k = 0; k < K; k++) {
			random_writes(&m, 15);
			cr_assert_eq(ms_view_checkpoint(m.v, &cp[k]), 0);
			cr_assert_eq(ms_view_snapshot(m.v), cp[k]);
			content[k] = malloc(m.size);
			memcpy(content[k], m.want, m.size);
			memcpy(m.base, m.want, m.size);
			memset(m.touched, 0, m.np);
			cr_assert_eq(ms_view_dirty_count(m.v), 0, "checkpoint restarts tracking");
			random_writes(&m, 10);
			check_dirty(&m);
			restore(&m); /* back to the checkpoint */
		}
		for (int i = 0; i < 40; i++) {
			int k = (int)(rnd() % K);
			random_writes(&m, 10);
			cr_assert_geq(ms_view_restore_to(m.v, cp[k]), 0);
			memcpy(m.base, content[k], m.size);
			memcpy(m.want, content[k], m.size);
			memset(m.touched, 0, m.np);
			check_content(&m, "after restore_to");
			check_dirty(&m);
			random_writes(&m, 10);
			check_content(&m, "writes after restore_to");
			check_dirty(&m);
		}
		for (int k = 0; k < K; k++) {
			ms_snapshot_unref(cp[k]);
			free(content[k]);
		}
		model_fini(&m);
	}
}

Test(tracking, chains_of_a_thousand_levels, .timeout = 300)
{
	if (ms_test_under_valgrind()) {
		cr_log_info("too slow under valgrind");
		return;
	}
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 64);
		ms_snapshot *keep[4] = {0};
		uint8_t *keep_content[4];
		for (int level = 0; level < 1000; level++) {
			random_writes(&m, 2);
			ms_snapshot *s;
			cr_assert_eq(ms_view_take_snapshot(m.v, &s), 0);
			if (level % 250 == 249) {
				keep[level / 250] = ms_snapshot_ref(s);
				keep_content[level / 250] = malloc(m.size);
				memcpy(keep_content[level / 250], m.want, m.size);
			}
			/* Next level: a fresh view of the snapshot just taken. */
			uint8_t *want = malloc(m.size);
			memcpy(want, m.want, m.size);
			model_fini(&m);
			model_from(&m, all_trackers[t], s, want);
			free(want);
		}
		cr_assert_geq(ms_snapshot_depth(m.snap), 900);
		check_content(&m, "top of the chain");
		for (int k = 0; k < 4; k++) {
			assert_snapshot_is(keep[k], keep_content[k], m.size);
			ms_snapshot_unref(keep[k]);
			free(keep_content[k]);
		}
		model_fini(&m);
	}
}

Test(tracking, file_backed_snapshots)
{
	size_t np = 40, size = np * PS;
	uint8_t *content = malloc(size);
	for (size_t i = 0; i < size; i++)
		content[i] = (uint8_t)rnd();
	char path[256];
	ms_test_tmpfile(path, sizeof path, content, size);
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		ms_snapshot *s;
		cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
		ms_view *v;
		int err = ms_view_new_tracked(s, MS_VIEW_COW, all_trackers[t], &v);
		if (all_trackers[t] == MS_TRACKER_UFFD_SYNC ||
		    all_trackers[t] == MS_TRACKER_UFFD_THREAD) {
			/* Synchronous write-protect cannot watch regular files. */
			cr_assert_eq(err, -EOPNOTSUPP);
			ms_snapshot_unref(s);
			continue;
		}
		cr_assert_eq(err, 0);
		ms_view_free(v);
		model m;
		model_from(&m, all_trackers[t], s, content);
		for (int round = 0; round < 20; round++) {
			random_writes(&m, 20);
			check_content(&m, "file-backed");
			check_dirty(&m);
			restore(&m);
		}
		model_fini(&m);
	}
	/* MEMSNAP_TRACKER=uffd-sync (not an explicit request) falls back. */
	if (ms_tracker_probe(MS_TRACKER_UFFD_SYNC) == 0) {
		ms_snapshot *s;
		cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
		setenv("MEMSNAP_TRACKER", "uffd-sync", 1);
		ms__options_reload();
		ms_view *v;
		cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
		unsetenv("MEMSNAP_TRACKER");
		ms__options_reload();
		cr_assert_neq(ms_view_tracker(v), MS_TRACKER_UFFD_SYNC);
		((uint8_t *)ms_view_data(v))[5] ^= 1;
		cr_assert_geq(ms_view_restore(v), 0);
		cr_assert_eq(memcmp(ms_view_data(v), content, size), 0);
		ms_view_free(v);
		ms_snapshot_unref(s);
	}
	unlink(path);
	free(content);
}

/* ---- Protection, note_written, verify ---------------------------------- */

Test(tracking, protections_coexist_with_tracking)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 32);
		uint8_t b = 1;
		write_bytes(&m, 2 * PS, &b, 1);
		cr_assert_eq(ms_view_protect(m.v, 0, 8 * PS, MS_ACCESS_READ), 0);
		cr_assert_eq(ms_view_protect(m.v, 4 * PS, 2 * PS, MS_ACCESS_WRITE), 0);
		write_bytes(&m, 4 * PS + 9, &b, 1);
		write_bytes(&m, 20 * PS, &b, 1);
		check_content(&m, "with protections");
		cr_assert_geq(ms_view_dirty_count(m.v), 3);
		restore(&m);
		/* Protections are gone and tracking still works. */
		write_bytes(&m, 1 * PS, &b, 1);
		write_bytes(&m, 5 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		/* A checkpoint keeps user protections in place. */
		write_bytes(&m, 6 * PS, &b, 1);
		cr_assert_eq(ms_view_protect(m.v, 6 * PS, PS, MS_ACCESS_READ), 0);
		ms_snapshot *cp;
		cr_assert_eq(ms_view_checkpoint(m.v, &cp), 0);
		memcpy(m.base, m.want, m.size);
		memset(m.touched, 0, m.np);
		restore(&m);
		ms_snapshot_unref(cp);
		model_fini(&m);
	}
}

static sigjmp_buf jump;
static volatile sig_atomic_t user_faults;

static void user_handler(int sig)
{
	(void)sig;
	user_faults++;
	siglongjmp(jump, 1);
}

Test(tracking, faults_on_user_protected_pages_reach_the_previous_handler)
{
	if (ms_test_under_valgrind()) {
		cr_log_info("see usable()");
		return;
	}
	struct sigaction sa = {0};
	sa.sa_handler = user_handler;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 8);
		cr_assert_eq(ms_view_protect(m.v, PS, PS, MS_ACCESS_READ), 0);
		volatile uint8_t *p = data(&m);
		int before = user_faults;
		if (sigsetjmp(jump, 1) == 0)
			p[PS] = 1;
		cr_assert_eq(user_faults, before + 1, "%s swallowed a user fault",
			     ms_tracker_name(m.tracker));
		p[0] = 2; /* tracked writes still work */
		m.want[0] = 2;
		cr_assert_geq(ms_view_restore(m.v), 0);
		memcpy(m.want, m.base, m.size);
		check_content(&m, "after a user fault");
		model_fini(&m);
	}
}

Test(tracking, genuine_sigsegv_still_kills, .signal = SIGSEGV)
{
	if (ms_test_under_valgrind())
		raise(SIGSEGV); /* see usable() */
	model m;
	model_init(&m, MS_TRACKER_MPROTECT, 4);
	data(&m)[0] = 1; /* the handler is installed and works */
	volatile uint8_t *bad = mmap(NULL, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bad[0] = 1;
}

Test(tracking, genuine_sigbus_still_kills, .signal = SIGBUS)
{
	if (ms_tracker_probe(MS_TRACKER_UFFD_SYNC) != 0 || ms_test_under_valgrind())
		raise(SIGBUS); /* nothing to test here */
	model m;
	model_init(&m, MS_TRACKER_UFFD_SYNC, 4);
	data(&m)[0] = 1;
	int fd = memfd_create("short", 0);
	cr_assert_eq(ftruncate(fd, PS), 0);
	volatile uint8_t *p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	p[PS] = 1; /* beyond the end of the file */
}

Test(tracking, note_written_marks_and_restores_pages)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 16);
		cr_assert_eq(ms_view_note_written(m.v, 3 * PS + 10, PS), 0);
		m.touched[3] = m.touched[4] = 1;
		uint8_t b = 9;
		write_bytes(&m, 4 * PS, &b, 1); /* noted, then written */
		write_bytes(&m, 7 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		cr_assert_eq(ms_view_note_written(m.v, 0, 0), 0);
		cr_assert_eq(ms_view_note_written(m.v, 16 * PS, 1), -EINVAL);
		model_fini(&m);
	}
}

Test(tracking, verify_finds_a_write_the_tracker_missed)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 16);
		uint8_t b = 0x77;
		write_bytes(&m, 2 * PS, &b, 1);
		cr_assert_eq(ms_view_verify(m.v, NULL, 0), 0);
		/* Write page 6 while nothing watches, then watch again: the
		 * tracker never saw that write. */
		ms_view *v = m.v;
		v->ops->detach(v);
		cr_assert_eq(mprotect(v->base, v->size, PROT_READ | PROT_WRITE), 0);
		v->base[6 * PS + 1] ^= 0xff;
		cr_assert_eq(v->ops->attach(v), 0);
		size_t missed[4];
		cr_assert_eq(ms_view_verify(v, missed, 4), 1, "%s", ms_tracker_name(m.tracker));
		cr_assert_eq(missed[0], 6 * PS);
		/* Announcing it makes restore repair it. */
		cr_assert_eq(ms_view_note_written(v, 6 * PS + 1, 1), 0);
		cr_assert_eq(ms_view_verify(v, NULL, 0), 0);
		restore(&m);
		model_fini(&m);
	}
}

/* ---- Fork -------------------------------------------------------------- */

/* A child made by fork(), or by the raw system call, which runs no fork
 * handlers: memsnap must notice either way. */
static pid_t fork_by(int how)
{
#ifdef SYS_fork
	if (how == 1)
		return (pid_t)syscall(SYS_fork);
#endif
	(void)how;
	return fork();
}

static void fork_case(int how)
{
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 32);
		uint8_t b = 3;
		/* Tracking started and a write served: a tracking thread is past
		 * its start-up. The raw system call runs no fork handlers, so a
		 * lock that the thread library or a sanitizer held in a thread
		 * still starting would stay locked in the child, and the child's
		 * own tracking thread would wait on it forever. */
		cr_assert_geq(ms_view_dirty_count(m.v), 0);
		write_bytes(&m, 1 * PS, &b, 1);
		pid_t pid = fork_by(how);
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			int bad = 0;
			uint8_t *p = data(&m);
			p[5 * PS] = 4; /* the child's own write */
			bad |= ms_view_dirty_count(m.v) != -EOPNOTSUPP;
			bad |= ms_view_note_written(m.v, 0, 1) != 0;
			bad |= (ms_view_restore(m.v) < 0) << 1;
			bad |= (memcmp(p, m.base, m.size) != 0) << 2;
			p[9 * PS] = 5; /* tracked again in the child */
			p[10 * PS] = 5;
			bad |= (ms_view_dirty_count(m.v) != 2) << 3;
			bad |= (ms_view_restore(m.v) < 0) << 4;
			bad |= (memcmp(p, m.base, m.size) != 0) << 5;
			ms_view_free(m.v);
			_exit(bad);
		}
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "%s: child failed (status %#x)", ms_tracker_name(m.tracker), status);
		/* The parent's view is untouched and still tracked (the child's
		 * note_written of page 0 must not have unprotected it). */
		check_content(&m, "parent after the child");
		check_dirty(&m);
		write_bytes(&m, 0, &b, 1);
		write_bytes(&m, 20 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		write_bytes(&m, 21 * PS, &b, 1);
		check_dirty(&m);
		restore(&m);
		model_fini(&m);
	}
}

Test(tracking, fork_child_restores_without_disturbing_the_parent)
{
	fork_case(0);
}

Test(tracking, raw_fork_child_is_noticed_too)
{
	fork_case(1);
}

/* ---- Resources --------------------------------------------------------- */

Test(tracking, ten_thousand_snapshot_cycles_leak_nothing, .timeout = 300)
{
	if (ms_test_counts_unreliable()) {
		cr_log_info("descriptor counts are the sanitizer's or valgrind's own");
		return;
	}
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		model m;
		model_init(&m, all_trackers[t], 16);
		int fds = 0, maps = 0;
		for (int i = 0; i < 10000; i++) {
			if (i == 10) {
				fds = ms_test_count_fds();
				maps = ms_test_count_maps();
			}
			data(&m)[(size_t)(i % 16) * PS] = (uint8_t)i;
			ms_snapshot *s;
			cr_assert_eq(ms_view_take_snapshot(m.v, &s), 0);
			if (i % 10 == 0) {
				ms_view *w;
				cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, m.tracker, &w), 0);
				cr_assert_eq(((uint8_t *)ms_view_data(w))[(size_t)(i % 16) * PS],
					     (uint8_t)i);
				ms_view_free(w);
			}
			ms_snapshot_unref(s);
			cr_assert_geq(ms_view_restore(m.v), 0);
		}
		cr_assert_eq(ms_test_count_fds(), fds, "%s leaks descriptors",
			     ms_tracker_name(m.tracker));
		cr_assert_eq(ms_test_count_maps(), maps, "%s leaks mappings",
			     ms_tracker_name(m.tracker));
		model_fini(&m);
	}
}

Test(tracking, many_views_at_once_and_registry_reuse, .timeout = 120)
{
	if (ms_test_under_valgrind()) {
		cr_log_info("too slow under valgrind");
		return;
	}
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(4 * PS, &s), 0);
	for (size_t t = 0; t < N_TRACKERS; t++) {
		if (!usable(all_trackers[t]))
			continue;
		enum { N = 200 };
		ms_view *v[N];
		for (int round = 0; round < 30; round++) {
			for (int i = 0; i < N; i++)
				cr_assert_eq(
				    ms_view_new_tracked(s, MS_VIEW_COW, all_trackers[t], &v[i]), 0);
			for (int i = 0; i < N; i++)
				((uint8_t *)ms_view_data(v[i]))[(size_t)(i % 4) * PS] = (uint8_t)i;
			for (int i = 0; i < N; i++) {
				cr_assert_eq(ms_view_dirty_count(v[i]), 1);
				ms_view_free(v[i]);
			}
		}
	}
	ms_snapshot_unref(s);
}

Test(tracking, auto_resolves_to_a_usable_tracker)
{
	ms_tracker t = ms_tracker_resolve(MS_TRACKER_AUTO);
	cr_assert_eq(ms_tracker_probe(t), 0);
	if (ms_tracker_probe(MS_TRACKER_UFFD_THREAD) == 0)
		cr_assert_eq(t, MS_TRACKER_UFFD_THREAD);
	else if (ms_tracker_probe(MS_TRACKER_UFFD_ASYNC) == 0)
		cr_assert_eq(t, MS_TRACKER_UFFD_ASYNC);
	cr_assert_eq(ms_tracker_resolve((ms_tracker)99), MS_TRACKER_NONE);
	/* AUTO resolves to what a view would get, MEMSNAP_TRACKER included. */
	if (ms_tracker_probe(MS_TRACKER_UFFD_SYNC) == 0) {
		setenv("MEMSNAP_TRACKER", "uffd-sync", 1);
		ms__options_reload();
		cr_assert_eq(ms_tracker_resolve(MS_TRACKER_AUTO), MS_TRACKER_UFFD_SYNC);
		unsetenv("MEMSNAP_TRACKER");
		ms__options_reload();
	}
	cr_assert_eq(ms_tracker_probe(MS_TRACKER_MPROTECT), 0, "mprotect works everywhere");
}

/* Out of descriptors, a default view is refused with -EMFILE rather than
 * made with a slower tracker or none (whose every restore is O(size)), and
 * works again once descriptors are free. In a child, so the limit stays
 * there. */
Test(tracking, default_view_out_of_descriptors_is_refused_not_degraded)
{
	if (ms_test_under_valgrind())
		cr_skip_test("valgrind keeps descriptors and a descriptor limit of its own");
	if (ms_tracker_resolve(MS_TRACKER_AUTO) == MS_TRACKER_NONE)
		cr_skip_test("no tracker here to run out of");
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(16 * PS, &s), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int bad = 0;
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		/* Fill every descriptor below a low limit. */
		rl.rlim_cur = 64;
		bad |= setrlimit(RLIMIT_NOFILE, &rl) != 0;
		int fds[64], n = 0;
		for (int fd; n < 64 && (fd = dup(0)) >= 0;)
			fds[n++] = fd;
		ms_view *v = NULL;
		int err = ms_view_new(s, MS_VIEW_COW, &v);
		bad |= (err != -EMFILE) << 1;
		bad |= (v != NULL) << 2;
		for (int i = 0; i < n; i++)
			close(fds[i]);
		err = ms_view_new(s, MS_VIEW_COW, &v);
		bad |= (err != 0) << 3;
		if (!err) {
			bad |= (ms_view_tracker(v) != ms_tracker_resolve(MS_TRACKER_AUTO)) << 4;
			ms_view_free(v);
		}
		ms_snapshot_unref(s);
		_exit(bad);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)",
		  status);
	ms_snapshot_unref(s);
}
