/*
 * Restoring a page by copying keeps it as a private copy of the snapshot's
 * content: fast to write again (no copy-on-write fault), but it is memory
 * the view would not need, and after many iterations that each write other
 * pages a view would hold a private copy of every page ever written. So the
 * view remembers the pages it restored by copying (`kept`); when they exceed
 * a budget, the restore discards them (ms__os_discard), and they read the
 * snapshot's shared pages again.
 *
 * The budget starts at the larger of 1/128 of the view and 256 pages, and is
 * at least 8x the pages of the restore. It adapts to the workload: when at
 * least a quarter of the pages a restore copies were already kept or were
 * discarded by the last trim, the program keeps writing the same pages (a
 * working set larger than the budget) and discarding them would only make
 * the next writes pay a copy-on-write fault, so the budget doubles (up to
 * the view's size). When the written pages keep changing (many new random
 * pages per iteration) few are kept twice, and memory stays within the
 * budget.
 *
 * Discarding is only done once every page is write-protected again (after
 * rearm): the kernel then keeps a write-protect marker in the emptied entry
 * (uffd trackers) or the mapping is read-only (mprotect), so the next write
 * is still caught; the noted tracker sees no write anyway. Pages a stacked
 * snapshot overrides hold content that the shared pages do not have: they
 * are kept.
 */
#include "internal.h"
#include "ptab.h"

/* Give back the memory of runs of clean, write-protected pages and map the
 * snapshot's shared pages there again right away: views are normally fully
 * populated, so reads then need no fault, and uffd-async's page-table scan
 * is slower over emptied entries (write-protect markers) than over present
 * ones (docs/tracking.md). A failure leaves private copies that hold the
 * right content, or empty entries that fault in on the next read: nothing
 * to report. */
static void discard(const ms__os_span *spans, size_t n)
{
	if (ms__os_discard_spans(spans, n) == 0)
		(void)ms__os_populate_spans(spans, n);
}

typedef struct trim_ctx {
	const ms_view *v;
	const ms__ptab *over; /* pages the view's snapshot overrides */
} trim_ctx;

/* A kept page may be discarded unless a stacked snapshot overrides it or it
 * is hot (writable: after a discard its next write would not be caught, and
 * would pay a copy-on-write fault). */
static bool discardable(const void *ctx, size_t pg)
{
	const trim_ctx *t = ctx;
	return !(t->over && ms__ptab_get(t->over, pg)) && !ms__dirty_has(&t->v->hot, pg);
}

/* The budget of kept pages after a restore that copied `restored` pages,
 * `rewritten` of them kept or discarded before. */
static size_t budget(ms_view *v, size_t kept, size_t restored, size_t rewritten)
{
	size_t b = v->kept_budget;
	if (b < v->npages / 128)
		b = v->npages / 128;
	if (b < 256)
		b = 256;
	if (b < 8 * restored)
		b = 8 * restored;
	if (4 * rewritten >= restored && restored > 0 && kept > b)
		b = 2 * b < v->npages ? 2 * b : v->npages;
	return b;
}

void ms__trim(ms_view *v, const ms_snapshot *src, const size_t *list, size_t n)
{
	size_t rewritten = 0;
	for (size_t i = 0; i < n; i++)
		rewritten += !ms__dirty_add_local(&v->kept, list[i]) ||
			     ms__dirty_has(&v->discarded, list[i]);
	size_t kept = atomic_load(&v->kept.n);
	v->kept_budget = budget(v, kept, n, rewritten);
	if (kept <= v->kept_budget)
		return;
	ms__dirty_clear(&v->discarded);
	ms__dirty_sort(&v->kept);
	unsigned shift = ms__page_shift();
	trim_ctx ctx = {v, src->ptab};
	enum { BATCH = 256 };
	ms__os_span spans[BATCH];
	size_t k = 0, i = 0;
	ms__page_run run, part;
	while (ms__next_run(v->kept.list, kept, &i, &run)) {
		size_t pg = run.first;
		while (ms__next_run_where(&pg, run.first + run.n, discardable, &ctx, &part)) {
			spans[k++] =
			    (ms__os_span){v->base + (part.first << shift), part.n << shift};
			ms__dirty_add_run(&v->discarded, part.first, part.n);
			if (k == BATCH) {
				discard(spans, k);
				k = 0;
			}
		}
	}
	if (k)
		discard(spans, k);
	ms__dirty_clear(&v->kept);
}
