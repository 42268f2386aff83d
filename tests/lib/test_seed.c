/*
 * The test suite of the seed, memsnap 0.1 (../shared/seed/), ported to the
 * C API one test per seed test, in the seed's order; a seed test that
 * checks two crashes is two tests here (one crash per test process). It
 * uses standard C only, so it runs on Linux and on Windows (under Wine).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "../portable.h"
#include "memsnap/memsnap.h"

/* Compiler barrier: the access must happen (the seed's black_box). */
static void touch(volatile const char *p)
{
	(void)*p;
}

Test(seed, empty_snapshot)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_buffer("", 0, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_size(v), 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(seed, empty_file)
{
	char path[512];
	pt_path(path, sizeof path, "empty");
	cr_assert(pt_write_file(path, "", 0));
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_size(v), 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
	remove(path);
}

Test(seed, zeroed)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_zeroed(1, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	size_t n = ms_view_size(v);
	cr_assert_geq(n, 1);
	cr_assert_eq(n % ms_page_size(), 0);
	const unsigned char *p = ms_view_data(v);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(p[i], 0, "byte %zu", i);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(seed, from_slice)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_buffer("hello slice", 11, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_arr_eq(ms_view_data(v), "hello slice", 11);
	cr_assert_eq(ms_view_size(v) % ms_page_size(), 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(seed, from_file)
{
	char path[512];
	pt_path(path, sizeof path, "file");
	cr_assert(pt_write_file(path, "hello file", 10));
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_arr_eq(ms_view_data(v), "hello file", 10);
	ms_view_free(v);
	ms_snapshot_unref(s);
	remove(path);
}

/* The seed's view_mut is a shared view: its writes reach the snapshot. */
Test(seed, view_mut)
{
	ms_snapshot *s;
	ms_view *w, *v;
	cr_assert_eq(ms_snapshot_zeroed(10, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), 0);
	memcpy(ms_view_data(w), "0123456789", 10);
	ms_view_free(w);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_arr_eq(ms_view_data(v), "0123456789", 10);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(seed, view_restore)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_buffer("0123456789", 10, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	memcpy(ms_view_data(v), "9876543210", 10);
	cr_assert_arr_eq(ms_view_data(v), "9876543210", 10);
	void *before = ms_view_data(v);
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_arr_eq(ms_view_data(v), "0123456789", 10);
	cr_assert_eq(ms_view_data(v), before);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(seed, view_cow)
{
	ms_snapshot *s;
	ms_view *v1, *v2;
	cr_assert_eq(ms_snapshot_zeroed(10, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v1), 0);
	memcpy(ms_view_data(v1), "0123456789", 10);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v2), 0);
	cr_assert_arr_eq(ms_view_data(v1), "0123456789", 10);
	static const char zeros[10];
	cr_assert_arr_eq(ms_view_data(v2), zeros, 10);
	ms_view_free(v1);
	ms_view_free(v2);
	ms_snapshot_unref(s);
}

/* The seed's view_arc: a view outlives the caller's snapshot reference. */
Test(seed, view_arc)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_buffer("hello world", 11, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	ms_snapshot_unref(s);
	cr_assert_arr_eq(ms_view_data(v), "hello world", 11);
	ms_view_free(v);
}

Test(seed, try_clone_snapshot)
{
	ms_snapshot *s1, *s2;
	ms_view *w, *v;
	cr_assert_eq(ms_snapshot_from_buffer("hello world", 11, &s1), 0);
	cr_assert_eq(ms_snapshot_clone(s1, &s2), 0);
	cr_assert_eq(ms_view_new(s1, MS_VIEW_SHARED, &w), 0);
	memcpy(ms_view_data(w), "hello slice", 11);
	cr_assert_eq(ms_view_new(s2, MS_VIEW_COW, &v), 0);
	cr_assert_arr_eq(ms_view_data(v), "hello world", 11);
	ms_view_free(w);
	ms_view_free(v);
	ms_snapshot_unref(s1);
	ms_snapshot_unref(s2);
}

Test(seed, take_snapshot)
{
	ms_snapshot *s1, *s2;
	ms_view *v1, *v2;
	cr_assert_eq(ms_snapshot_from_buffer("hello world", 11, &s1), 0);
	cr_assert_eq(ms_view_new(s1, MS_VIEW_SHARED, &v1), 0);
	memcpy(ms_view_data(v1), "hello slice", 11);
	cr_assert_eq(ms_view_take_snapshot(v1, &s2), 0);
	cr_assert_eq(ms_view_new(s2, MS_VIEW_COW, &v2), 0);
	cr_assert_arr_eq(ms_view_data(v2), "hello slice", 11);
	memcpy(ms_view_data(v1), "hello world", 11);
	cr_assert_arr_eq(ms_view_data(v2), "hello slice", 11);
	ms_view_free(v1);
	ms_view_free(v2);
	ms_snapshot_unref(s1);
	ms_snapshot_unref(s2);
}

/* A shared view of "hello world" with `access` over all of it. */
static char *protected_view(unsigned access)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_buffer("hello world", 11, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), 0);
	ms_snapshot_unref(s);
	cr_assert_eq(ms_view_protect(v, 0, ms_view_size(v), access), 0);
	return ms_view_data(v); /* the view lives until the process ends */
}

Test(seed, protect_none_faults_on_read, .signal = SIGSEGV)
{
	touch(protected_view(MS_ACCESS_NONE));
}

Test(seed, protect_none_faults_on_write, .signal = SIGSEGV)
{
	*(volatile char *)protected_view(MS_ACCESS_NONE) = 1;
}

Test(seed, protect_read_faults_on_write, .signal = SIGSEGV)
{
	volatile char *p = protected_view(MS_ACCESS_READ);
	touch(p);
	*p = 1;
}

Test(seed, protect_write)
{
	volatile char *p = protected_view(MS_ACCESS_WRITE);
	touch(p);
	p[0] = 1;
	cr_assert_eq(p[0], 1);
}
