/*
 * userfaultfd write-protect and PAGEMAP_SCAN definitions. Older userspace
 * headers (Linux 6.1 UAPI) lack the asynchronous write-protect features and
 * the PAGEMAP_SCAN ioctl that Linux 6.7 added; they are copied here from the
 * kernel UAPI (include/uapi/linux/userfaultfd.h and include/uapi/linux/fs.h)
 * and guarded so that newer headers win.
 */
#ifndef MEMSNAP_LINUX_UFFD_H
#define MEMSNAP_LINUX_UFFD_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"

/* Helpers over the primitives of prim.h, shared by the userfaultfd
 * trackers. All return 0 (or a descriptor) or -errno. */

/* Whether this process can open a userfaultfd offering all of `features`
 * (UFFD_FEATURE_* bits), and with `kernel_faults` one that also receives
 * the faults the kernel takes while writing for the process: 0,
 * -EOPNOTSUPP when the kernel lacks a feature, or the error of opening one.
 * Costs one descriptor for a moment. */
int ms__uffd_probe(uint64_t features, bool kernel_faults);

/* A new userfaultfd with exactly `features` enabled (and kernel faults, as
 * for probe); -EOPNOTSUPP when the kernel refuses them. `*offered`, unless
 * NULL, gets every feature the kernel offers. */
int ms__uffd_new(uint64_t features, bool kernel_faults, uint64_t *offered);

/* Register [addr, addr+len) for write-protect tracking. -EOPNOTSUPP when the
 * kernel cannot write-protect that kind of memory in this mode (synchronous
 * write-protect of a private mapping of a regular file). */
int ms__uffd_register_wp(int uffd, void *addr, size_t len);

/* Write-protect (protect = true) or un-protect [addr, addr+len). */
int ms__uffd_wp(int uffd, void *addr, size_t len, bool protect);

/* Protect the whole of a freshly registered range: ms__uffd_wp, or -ENOMEM
 * when the page-table entries this makes for never-touched pages (8 bytes
 * a page) would take more than half the system's free memory. */
int ms__uffd_arm(int uffd, void *addr, size_t len);

/* The state every userfaultfd tracker keeps first in its own (its
 * v->tracker_state starts with one). */
typedef struct ms__uffd_state {
	int uffd;
	bool pending; /* not protected yet (ms__uffd_settle) */
} ms__uffd_state;

/* What sets one userfaultfd tracker apart when it attaches. */
typedef struct ms__uffd_kind {
	uint64_t features;  /* for ms__uffd_new */
	bool kernel_faults; /* likewise */
	size_t state_size;  /* of its state, which starts with ms__uffd_state */
	/* Give the fields that release() reads their "nothing yet" values;
	 * the state is zeroed before. NULL: zero is right. */
	void (*init)(void *state);
	/* Its own step between the registration and the start of tracking
	 * (a signal handler, a descriptor, a thread); NULL for none. */
	int (*prepare)(ms_view *v);
	/* Free the state, whatever part of attach was done. */
	void (*release)(ms_view *v);
} ms__uffd_kind;

/*
 * attach() of a userfaultfd tracker: a state of k->state_size bytes, a
 * userfaultfd with k's features, the view registered with it, k->prepare,
 * then the start of tracking; on failure k->release undoes what was done.
 *
 * Tracking starts when it is first needed. Protecting a whole view costs
 * O(size) (a marker in the page table of every page), which a view that is
 * made and then only read, or a loaded save state, need not pay up front.
 * So the start checks the memory the markers will take and, where the
 * kernel has PAGEMAP_SCAN (Linux 6.7), leaves the view unprotected and
 * `pending` set. Writes then make private copies silently. The tracker
 * calls ms__uffd_settle() before it first reports or re-protects pages
 * (collect, rearm): it protects the whole view, then adds to v->dirty every
 * page that has a private copy, i.e. every page written before, and lifts
 * the protection of every page in the set, as the contract wants. Writes
 * after the protection fault as usual; a page written on both sides is in
 * the set once. Without PAGEMAP_SCAN, or for a view that holds private
 * copies already (a stacked snapshot's pages), the start protects at once.
 */
int ms__uffd_attach(ms_view *v, const ms__uffd_kind *k);
int ms__uffd_settle(ms_view *v);

/* The rearm and unprotect of the trackers' contract (internal.h) for
 * trackers whose faults record every written page (their collect is
 * ms__uffd_settle: once protected, there is nothing else to collect):
 * settle, then protect every page of v->dirty again; lift the protection
 * of pages [first, first+n). */
int ms__uffd_rearm(ms_view *v);
int ms__uffd_unprotect(ms_view *v, size_t first, size_t n);

/* ms__uffd_wp over the pages list[0..n) (sorted) of the mapping at `base`,
 * one call per run of neighbouring pages. */
int ms__uffd_wp_pages(int uffd, uint8_t *base, const size_t *list, size_t n, bool protect);

/* Stop watching [addr, addr+len) with `uffd`; the kernel lifts every
 * protection it set there. */
int ms__uffd_unregister(int uffd, void *addr, size_t len);

/* Regions returned per PAGEMAP_SCAN call. Below 512: past that, the kernel
 * may report a stale walk_end. */
enum { MS__SCAN_VEC = 256 };

/* What reads a view's written pages back from its page tables: a
 * descriptor of /proc/self/pagemap (-1 when closed) and the vector the
 * kernel fills. */
typedef struct ms__uffd_scanner {
	int pagemap;
	struct page_region vec[MS__SCAN_VEC];
} ms__uffd_scanner;

/* What one pass of ms__uffd_scan_written does with the written pages. */
typedef enum ms__scan_mode {
	MS__SCAN_RECORD, /* add them to v->dirty */
	MS__SCAN_REARM,	 /* write-protect them again as they are reported */
	/* Only walk the page tables, as RECORD would (no result): the cost of
	 * a scan, also over a view registered in synchronous mode, where
	 * "written" means nothing. */
	MS__SCAN_WALK,
} ms__scan_mode;

/* One PAGEMAP_SCAN pass over pages [first, first+n) of v for the pages
 * written since they were write-protected in asynchronous mode. */
int ms__uffd_scan_written(ms__uffd_scanner *s, ms_view *v, size_t first, size_t n,
			  ms__scan_mode mode);

/* The rearm of asynchronous write-protect: protect the pages of v->dirty
 * again, run by run through `uffd`, or with one scan of their span where
 * the runs are many. */
int ms__uffd_rearm_written(ms__uffd_scanner *s, int uffd, ms_view *v);

/* uffd-thread's scanning mode and its cost model (uffd_modes.c), kept in
 * the tracker's state. */
typedef struct ms__uffd_modes {
	bool fixed;		       /* costs set by a test */
	const ms__tracker_ops *ops[2]; /* the tracker in each mode */
	int auffd;		       /* asynchronous userfaultfd, or -1 */
	ms__uffd_scanner *scan;	       /* made when first needed */
	/* One fault's round trip to the thread and one scan of the view (ns,
	 * 0 while unknown); since the last decision (at restore number
	 * `since`), the pages protected again and the time spent scanning. */
	uint64_t fault_ns, scan_ns;
	uint64_t since, new_pages, scan_sum_ns, scans;
	uint64_t active; /* restores since then that protected pages again */
	unsigned dwell, moves;
} ms__uffd_modes;

void ms__modes_init(ms__uffd_modes *m, const ms__tracker_ops *faulting,
		    const ms__tracker_ops *scanning);
void ms__modes_release(ms__uffd_modes *m);
/* The userfaultfd the view is registered with now. */
int ms__modes_uffd(const ms_view *v, const ms__uffd_modes *m, int sync_uffd);
/* collect() and rearm() in the scanning mode. */
int ms__modes_collect(ms_view *v, ms__uffd_modes *m);
int ms__modes_rearm(ms_view *v, ms__uffd_modes *m);
/* After a rearm of `rearmed` pages in either mode: account them, and when a
 * decision is due, move the view to the other mode if it costs less. */
void ms__modes_consider(ms_view *v, ms__uffd_modes *m, int sync_uffd, size_t rearmed);
/* Whether the mode other than the current one (`scanning` or not) costs
 * less, given a fault's round trip, the first writes (`new_pages`) of the
 * last `restores` restores, and one scan of the view. */
bool ms__uffd_switch_pays(bool scanning, uint64_t fault_ns, uint64_t new_pages, uint64_t scan_ns,
			  uint64_t restores);

/* The modes of a uffd-thread view, or NULL for a view of another tracker
 * (track_uffd_thread.c). For tests: whether it is in its scanning mode, and
 * costs that replace the measured ones (fault_ns 0: measure again). */
ms__uffd_modes *ms__uffd_thread_modes(const ms_view *v);
bool ms__uffd_thread_scanning(const ms_view *v);
void ms__uffd_thread_fix_costs(ms_view *v, uint64_t fault_ns, uint64_t scan_ns);

#endif /* MEMSNAP_LINUX_UFFD_H */
