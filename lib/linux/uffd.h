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

#include "memsnap/memsnap.h"

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

#endif /* MEMSNAP_LINUX_UFFD_H */
