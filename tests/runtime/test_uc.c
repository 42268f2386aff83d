/* Regions and host access (runtime/uc.c): mapping, errors, pointers,
 * tracked reads and writes. */
#define _GNU_SOURCE
#include <errno.h>

#include "guest.h"

static uc_engine *uc;
static ms_uc *m;

static void setup(void)
{
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(uc, &m), 0);
}

static void teardown(void)
{
	ms_uc_free(m);
	uc_close(uc);
}

TestSuite(uc, .init = setup, .fini = teardown);

Test(uc, errors_map_to_the_unicorn_range)
{
	cr_assert_eq(ms_uc_error(UC_ERR_OK), 0);
	cr_assert_eq(ms_uc_error(UC_ERR_WRITE_UNMAPPED), MS_ERR_UC_BASE - UC_ERR_WRITE_UNMAPPED);
	cr_assert(ms_strerror(ms_uc_error(UC_ERR_MAP)) != NULL);
	cr_assert_eq(ms_uc_new(NULL, &m), -EINVAL);
	cr_assert_eq(ms_uc_engine(m), uc);
}

Test(uc, map_rejects_bad_arguments)
{
	cr_assert_eq(ms_uc_map_zeroed(m, 0x1000, 0, UC_PROT_ALL), -EINVAL);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x1000, 100, UC_PROT_ALL), -EINVAL);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x1800, 0x1000, UC_PROT_ALL), -EINVAL);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x1000, 0x1000, 0x100), -EINVAL);
	cr_assert_eq(ms_uc_map(m, 0x1000, NULL, UC_PROT_ALL), -EINVAL);
}

Test(uc, overlapping_regions_are_eexist)
{
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x4000, UC_PROT_ALL), 0);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x13000, 0x2000, UC_PROT_ALL), -EEXIST);
	cr_assert_eq(ms_uc_map_zeroed(m, 0xf000, 0x2000, UC_PROT_ALL), -EEXIST);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x8000, 0x10000, UC_PROT_ALL), -EEXIST);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x14000, 0x1000, UC_PROT_ALL), 0); /* adjacent */
	/* Memory mapped by the caller outside memsnap. */
	cr_assert_eq(uc_mem_map(uc, 0x100000, 0x1000, UC_PROT_ALL), UC_ERR_OK);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x100000, 0x1000, UC_PROT_ALL), -EEXIST);
}

Test(uc, unmap_needs_the_exact_region)
{
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x4000, UC_PROT_ALL), 0);
	cr_assert_eq(ms_uc_unmap(m, 0x20000, 0x1000), -ENOENT);
	cr_assert_eq(ms_uc_unmap(m, 0x11000, 0x1000), -ENOENT);
	cr_assert_eq(ms_uc_unmap(m, 0x10000, 0x1000), -EINVAL);
	cr_assert_eq(ms_uc_unmap(m, 0x10000, 0x4000), 0);
	cr_assert_null(ms_uc_host_ptr(m, 0x10000, NULL));
	uint8_t b;
	cr_assert_neq(uc_mem_read(uc, 0x10000, &b, 1), UC_ERR_OK);
}

Test(uc, protect_inside_one_region)
{
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x4000, UC_PROT_ALL), 0);
	cr_assert_eq(ms_uc_protect(m, 0x11000, 0x1000, UC_PROT_READ), 0);
	cr_assert_eq(ms_uc_protect(m, 0x11000, 0x800, UC_PROT_READ), -EINVAL);
	cr_assert_eq(ms_uc_protect(m, 0x13000, 0x2000, UC_PROT_READ), -EINVAL);
	cr_assert_eq(ms_uc_protect(m, 0x30000, 0x1000, UC_PROT_READ), -ENOENT);
	uc_mem_region *r;
	uint32_t n;
	cr_assert_eq(uc_mem_regions(uc, &r, &n), UC_ERR_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(r[1].perms, UC_PROT_READ);
	uc_free(r);
}

Test(uc, host_pointer_read_and_write)
{
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x2000, UC_PROT_ALL), 0);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x12000, 0x2000, UC_PROT_ALL), 0);
	size_t avail;
	uint8_t *p = ms_uc_host_ptr(m, 0x10100, &avail);
	cr_assert(p);
	cr_assert_eq(avail, 0x1f00);
	cr_assert_null(ms_uc_host_ptr(m, 0x14000, &avail));
	cr_assert_eq(avail, 0);
	/* A write across two adjacent regions. */
	char msg[] = "across the boundary";
	cr_assert_eq(ms_uc_write(m, 0x12000 - 6, msg, sizeof msg), 0);
	char back[sizeof msg];
	cr_assert_eq(uc_mem_read(uc, 0x12000 - 6, back, sizeof back), UC_ERR_OK);
	cr_assert_str_eq(back, msg);
	memset(back, 0, sizeof back);
	cr_assert_eq(ms_uc_read(m, 0x12000 - 6, back, sizeof back), 0);
	cr_assert_str_eq(back, msg);
	cr_assert_eq(ms_uc_write(m, 0x14000 - 2, msg, 4), -EFAULT);
	cr_assert_eq(ms_uc_read(m, 0x9000, back, 4), -EFAULT);
	cr_assert_eq(ms_uc_note_written(m, 0x13ff0, 0x20), -EFAULT);
	cr_assert_eq(ms_uc_note_written(m, 0x13ff0, 0x10), 0);
	cr_assert_eq(ms_uc_write(m, UINT64_MAX - 1, msg, 4), -EFAULT);
}

Test(uc, tracking_is_chosen_before_mapping)
{
	cr_assert_eq(ms_uc_set_tracking(m, MS_UC_TRACK_HOOK, MS_TRACKER_AUTO), 0);
	cr_assert_eq(ms_uc_get_tracking(m), MS_UC_TRACK_HOOK);
	cr_assert_eq(ms_uc_set_tracking(m, 7, MS_TRACKER_AUTO), -EINVAL);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x1000, UC_PROT_ALL), 0);
	cr_assert_eq(ms_uc_set_tracking(m, MS_UC_TRACK_EXACT, MS_TRACKER_AUTO), -EBUSY);
}

Test(uc, free_accepts_null)
{
	ms_uc_free(NULL);
	ms_uc_checkpoint_free(NULL);
}

/* A region that ends exactly at 2^64: every call finds it, and no address
 * arithmetic wraps. */
Test(uc, a_region_may_end_at_the_top_of_the_address_space)
{
	const uint64_t top = UINT64_MAX - 0x10000 + 1; /* 64 KiB up to 2^64 */
	cr_assert_eq(ms_uc_map_zeroed(m, top, 0x10000, UC_PROT_READ | UC_PROT_WRITE), 0);
	cr_assert_eq(ms_uc_map_zeroed(m, top - 0x1000, 0x2000, UC_PROT_ALL), -EEXIST);
	cr_assert_eq(ms_uc_map_zeroed(m, top - 0x1000, 0x1000, UC_PROT_ALL), 0); /* adjacent */
	size_t avail;
	uint8_t *p = ms_uc_host_ptr(m, UINT64_MAX - 15, &avail);
	cr_assert_not_null(p);
	cr_assert_eq(avail, 16);
	cr_assert_not_null(ms_uc_host_ptr(m, top, &avail));
	cr_assert_eq(avail, 0x10000);
	char msg[16] = "the last bytes.";
	cr_assert_eq(ms_uc_write(m, UINT64_MAX - 15, msg, sizeof msg), 0);
	char back[16] = {0};
	cr_assert_eq(ms_uc_read(m, UINT64_MAX - 15, back, sizeof back), 0);
	cr_assert_str_eq(back, msg);
	cr_assert_eq(uc_mem_read(uc, UINT64_MAX - 15, back, sizeof back), UC_ERR_OK);
	cr_assert_str_eq(back, msg);
	/* Across the lower neighbour into the top region. */
	cr_assert_eq(ms_uc_write(m, top - 4, msg, 8), 0);
	cr_assert_eq(ms_uc_note_written(m, UINT64_MAX, 1), 0);
	/* Past the top wraps: refused. */
	cr_assert_eq(ms_uc_write(m, UINT64_MAX - 1, msg, 4), -EFAULT);
	cr_assert_eq(ms_uc_read(m, UINT64_MAX, back, 2), -EFAULT);
	cr_assert_eq(ms_uc_note_written(m, UINT64_MAX - 1, 3), -EFAULT);
	/* (Unicorn 2.0.1 refuses to protect the very last page itself.) */
	cr_assert_eq(ms_uc_protect(m, top, 0x1000, UC_PROT_READ), 0);
	cr_assert_eq(ms_uc_protect(m, UINT64_MAX - 0xfff, 0x2000, UC_PROT_READ), -EINVAL);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(m, &cp), 0);
	uc_mem_region r[4];
	cr_assert_eq(ms_uc_checkpoint_regions(cp, r, 4), 3);
	cr_assert_eq(r[2].end, UINT64_MAX);
	cr_assert_eq(ms_uc_write(m, UINT64_MAX - 0x1fff, msg, sizeof msg), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(m, cp), 0);
	cr_assert_eq(ms_uc_read(m, UINT64_MAX - 0x1fff, back, sizeof back), 0);
	cr_assert_eq(back[0], 0);
	ms_uc_checkpoint_free(cp);
	cr_assert_eq(ms_uc_unmap(m, top, 0x10000), 0);
	cr_assert_null(ms_uc_host_ptr(m, UINT64_MAX, NULL));
	cr_assert_eq(ms_uc_map_zeroed(m, top, 0x10000, UC_PROT_ALL), 0);
	/* teardown frees it */
}
