/*
 * uffd-thread's scanning mode and the cost model that picks it.
 *
 * A loop that writes new pages every iteration pays a round trip to the
 * tracking thread for each; uffd-async resolves such writes in the kernel
 * but scans the page tables of the whole view on every restore. Which costs
 * less depends on the pages, the view's size and the machine, so the view
 * measures both and takes the cheaper. At each decision it times a round
 * trip (writes to protected pages of its own, below) and a scan, counts the
 * pages each restore protected again (each was a first write, which
 * faulted), and compares the round trips of those pages with as many scans
 * as restores; it moves to scanning only when most of the restores had new
 * pages (a loop settling on its pages has them in a few, and hot pages take
 * them next).
 *
 * Where the scans cost less, the view moves its registration to a second
 * userfaultfd in asynchronous mode and from then on works as uffd-async
 * does: collect scans, and hot pages are no longer fault-driven. Where the
 * round trips cost less again (a loop that settled on its pages, which hot
 * pages then take out of tracking), it moves back. A move is made inside a
 * restore, when no one writes to the view (memsnap.h): the kernel lifts the
 * old protection as the range leaves one userfaultfd, and the whole view is
 * protected anew with the other (O(size), as when tracking started). Hot
 * pages stay dirty, protected: their next write faults once more. Every
 * writer is seen in both modes.
 *
 * Restores between two decisions: DWELL_MIN at first; a decision to stay
 * doubles the wait up to DWELL_MAX, a move sets it to DWELL_MIN << moves so
 * far, so a view whose costs sit near the boundary does not flap; a
 * decision comes sooner (after DWELL_MIN restores) when the costs last
 * measured already favour the other mode. A move needs the other mode to
 * be cheaper by a quarter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../internal.h"
#include "prim.h"
#include "uffd.h"

enum { DWELL_MIN = 8, DWELL_MAX = 1024, FAULT_SAMPLES = 3, FAULT_BURST = 8 };

void ms__modes_init(ms__uffd_modes *m, const ms__tracker_ops *faulting,
		    const ms__tracker_ops *scanning)
{
	*m = (ms__uffd_modes){.auffd = -1, .dwell = DWELL_MIN};
	m->ops[0] = faulting;
	m->ops[1] = scanning;
}

void ms__modes_release(ms__uffd_modes *m)
{
	ms__os_close(m->auffd);
	if (m->scan)
		ms__os_close(m->scan->pagemap);
	free(m->scan);
	m->scan = NULL;
	m->auffd = -1;
}

/* The mode is the view's operations: no second record of it. */
static bool scanning(const ms_view *v, const ms__uffd_modes *m)
{
	return v->ops == m->ops[1];
}

int ms__modes_uffd(const ms_view *v, const ms__uffd_modes *m, int sync_uffd)
{
	return scanning(v, m) ? m->auffd : sync_uffd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* What one first write costs in the synchronous mode, from FAULT_SAMPLES
 * bursts of FAULT_BURST writes to protected pages of a scratch mapping
 * registered with the synchronous userfaultfd, whose thread serves them as
 * it serves the view: the median burst's time a write; 0 if it cannot be
 * measured. Bursts, as a loop writes its new pages: a writer woken while
 * the thread still runs on its CPU may be moved to another one, and the
 * next round trips then cost more than a lone one does. */
static uint64_t fault_cost(int uffd)
{
	size_t page = (size_t)1 << ms__page_shift(), len = FAULT_BURST * page;
	void *p;
	if (ms__map(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &p))
		return 0;
	volatile uint8_t *b = p;
	for (size_t i = 0; i < FAULT_BURST; i++)
		b[i * page] = 1; /* present: the timed writes fault only for the protection */
	uint64_t t[FAULT_SAMPLES];
	size_t n = 0;
	if (ms__uffd_register_wp(uffd, p, len) == 0) {
		for (; n < FAULT_SAMPLES && ms__uffd_wp(uffd, p, len, true) == 0; n++) {
			uint64_t t0 = ms__now_ns();
			for (size_t i = 0; i < FAULT_BURST; i++)
				b[i * page] = (uint8_t)n;
			t[n] = (ms__now_ns() - t0) / FAULT_BURST;
		}
		(void)ms__uffd_unregister(uffd, p, len);
	}
	munmap(p, len);
	if (n < FAULT_SAMPLES)
		return 0;
	qsort(t, n, sizeof t[0], cmp_u64);
	return t[n / 2] ? t[n / 2] : 1;
}

/* The scanner, made when first needed. */
static int scanner(ms__uffd_modes *m)
{
	if (m->scan)
		return 0;
	ms__uffd_scanner *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	s->pagemap = ms__open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (s->pagemap < 0) {
		int err = s->pagemap;
		free(s);
		return err;
	}
	m->scan = s;
	return 0;
}

/* A scan of the whole view, timed: added to the sums in the scanning mode
 * (where it is the collection); the estimate in the faulting mode (a walk
 * of the same page tables, which finds nothing there). */
static int timed_scan(ms_view *v, ms__uffd_modes *m, ms__scan_mode mode)
{
	uint64_t t0 = ms__now_ns();
	int err = ms__uffd_scan_written(m->scan, v, 0, v->npages, mode);
	uint64_t t = ms__now_ns() - t0;
	if (err)
		return err;
	if (mode == MS__SCAN_WALK) {
		m->scan_ns = t ? t : 1;
	} else {
		m->scan_sum_ns += t;
		m->scans++;
	}
	return 0;
}

int ms__modes_collect(ms_view *v, ms__uffd_modes *m)
{
	return timed_scan(v, m, MS__SCAN_RECORD);
}

int ms__modes_rearm(ms_view *v, ms__uffd_modes *m)
{
	return ms__uffd_rearm_written(m->scan, m->auffd, v);
}

/* Move the view's registration to the other mode's userfaultfd and protect
 * it whole there. On failure the view stays in its mode, protected whole
 * again, or, if even that fails, untracked until its next restore maps it
 * again (restore.c); the restore that called this has succeeded either
 * way. */
static void move(ms_view *v, ms__uffd_modes *m, int sync_uffd)
{
	bool from_scanning = scanning(v, m);
	if (!from_scanning && m->auffd < 0) {
		int fd = ms__uffd_new(UFFD_FEATURE_WP_ASYNC, false, NULL);
		if (fd < 0)
			return;
		m->auffd = fd;
	}
	int from = from_scanning ? m->auffd : sync_uffd;
	int to = from_scanning ? sync_uffd : m->auffd;
	if (ms__uffd_unregister(from, v->base, v->size) != 0)
		return;
	if (ms__uffd_register_wp(to, v->base, v->size) == 0) {
		if (ms__uffd_arm(to, v->base, v->size) == 0) {
			v->ops = m->ops[!from_scanning];
			return;
		}
		(void)ms__uffd_unregister(to, v->base, v->size);
	}
	if (ms__uffd_register_wp(from, v->base, v->size) != 0 ||
	    ms__uffd_arm(from, v->base, v->size) != 0)
		v->pid = 0;
}

bool ms__uffd_switch_pays(bool scanning, uint64_t fault_ns, uint64_t new_pages, uint64_t scan_ns,
			  uint64_t restores)
{
	/* What the first writes of the last `restores` restores cost in round
	 * trips, against as many scans. */
	double faults = (double)fault_ns * (double)new_pages;
	double scans = (double)scan_ns * (double)restores;
	return scanning ? faults * 1.25 < scans : faults > scans * 1.25;
}

/* Whether the other mode costs less, from what was seen since the last
 * decision over `restores` restores. */
static bool other_pays(ms_view *v, ms__uffd_modes *m, int sync_uffd, uint64_t restores)
{
	if (m->new_pages == 0)
		return scanning(v, m); /* no first write: faulting costs nothing */
	/* New pages in a few restores only are a loop settling on its pages
	 * (hot pages take them next), not a loop that writes new ones. */
	if (!scanning(v, m) && m->active * 2 < restores)
		return false;
	if (scanner(m) != 0)
		return false;
	/* Both costs are measured afresh at each decision (unless a test set
	 * them): one measurement taken while the machine was busy must not
	 * hold a view in the wrong mode. */
	if (!m->fixed) {
		m->fault_ns = fault_cost(sync_uffd);
		if (scanning(v, m))
			m->scan_ns = m->scans ? m->scan_sum_ns / m->scans : 0;
		else
			(void)timed_scan(v, m, MS__SCAN_WALK);
	}
	return m->fault_ns && m->scan_ns &&
	       ms__uffd_switch_pays(scanning(v, m), m->fault_ns, m->new_pages, m->scan_ns,
				    restores);
}

void ms__modes_consider(ms_view *v, ms__uffd_modes *m, int sync_uffd, size_t rearmed)
{
	m->new_pages += rearmed;
	m->active += rearmed > 0;
	uint64_t now = v->stats.restores + 1; /* this restore's number */
	uint64_t restores = now - m->since;
	/* Due every `dwell` restores, or sooner when the costs known from the
	 * last decision already favour the other mode (a loop that changed
	 * its ways need not wait out a long dwell). */
	bool due =
	    restores >= m->dwell ||
	    (restores >= DWELL_MIN && m->fault_ns && m->scan_ns &&
	     ms__uffd_switch_pays(scanning(v, m), m->fault_ns, m->new_pages, m->scan_ns, restores));
	if (!due)
		return;
	bool pays = other_pays(v, m, sync_uffd, restores);
	m->since = now;
	m->new_pages = m->scan_sum_ns = m->scans = m->active = 0;
	if (!pays) {
		m->dwell = m->dwell < DWELL_MAX / 2 ? m->dwell * 2 : DWELL_MAX;
		return;
	}
	m->moves++;
	m->dwell = m->moves < 7 ? DWELL_MIN << m->moves : DWELL_MAX;
	move(v, m, sync_uffd);
}

bool ms__uffd_thread_scanning(const ms_view *v)
{
	const ms__uffd_modes *m = ms__uffd_thread_modes(v);
	return m && scanning(v, m);
}

void ms__uffd_thread_fix_costs(ms_view *v, uint64_t fault_ns, uint64_t scan_ns)
{
	ms__uffd_modes *m = ms__uffd_thread_modes(v);
	if (!m)
		return;
	m->fixed = fault_ns != 0;
	m->fault_ns = fault_ns;
	m->scan_ns = scan_ns;
}
