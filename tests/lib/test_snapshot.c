/* Snapshots: creation from every source, sizes, files, clone, references. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "../common.h"

Test(snapshot, empty_snapshot_is_valid_and_has_empty_views)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(0, &s), 0);
	cr_assert_eq(ms_snapshot_size(s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_size(v), 0);
	cr_assert_not_null(ms_view_data(v));
	cr_assert_geq(ms_view_restore(v), 0);
	ms_view_free(v);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), 0);
	cr_assert_not_null(ms_view_data(v));
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(snapshot, zeroed_rounds_up_and_reads_zero)
{
	ms_snapshot *s;
	size_t ps = ms_page_size();
	cr_assert_eq(ms_snapshot_zeroed(ps + 1, &s), 0);
	cr_assert_eq(ms_snapshot_size(s), 2 * ps);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	const unsigned char *p = ms_view_data(v);
	for (size_t i = 0; i < 2 * ps; i++)
		cr_assert_eq(p[i], 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(snapshot, from_buffer_copies_content_and_pads_with_zeros)
{
	char buf[100];
	for (int i = 0; i < 100; i++)
		buf[i] = (char)(i + 1);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(buf, sizeof buf, &s), 0);
	cr_assert_eq(ms_snapshot_size(s), ms_page_size());
	char back[200];
	cr_assert_eq(ms_snapshot_read(s, 0, back, sizeof back), 0);
	cr_assert_arr_eq(back, buf, sizeof buf);
	for (int i = 100; i < 200; i++)
		cr_assert_eq(back[i], 0);
	// the caller's buffer is copied, not borrowed
	buf[0] = 99;
	cr_assert_eq(ms_snapshot_read(s, 0, back, 1), 0);
	cr_assert_eq(back[0], 1);
	ms_snapshot_unref(s);
}

Test(snapshot, from_file_maps_the_file_content)
{
	char path[256];
	ms_test_tmpfile(path, sizeof path, "hello memsnap", 13);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
	cr_assert_eq(ms_snapshot_size(s), ms_page_size());
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(memcmp(ms_view_data(v), "hello memsnap", 13), 0);
	// a CoW write never reaches the file
	((char *)ms_view_data(v))[0] = 'J';
	ms_view_free(v);
	char back[13];
	int fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, back, 13), 13);
	close(fd);
	cr_assert_eq(memcmp(back, "hello memsnap", 13), 0);
	ms_snapshot_unref(s);
	unlink(path);
}

Test(snapshot, empty_file_gives_empty_snapshot)
{
	char path[256];
	ms_test_tmpfile(path, sizeof path, "", 0);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
	cr_assert_eq(ms_snapshot_size(s), 0);
	ms_snapshot_unref(s);
	unlink(path);
}

Test(snapshot, from_fd_duplicates_the_descriptor)
{
	char path[256];
	ms_test_tmpfile(path, sizeof path, "abc", 3);
	int fd = open(path, O_RDWR);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_fd(fd, &s), 0);
	close(fd); // ours; the snapshot keeps its own
	char back[3];
	cr_assert_eq(ms_snapshot_read(s, 0, back, 3), 0);
	cr_assert_eq(memcmp(back, "abc", 3), 0);
	ms_snapshot_unref(s);
	unlink(path);
}

Test(snapshot, missing_file_is_enoent)
{
	ms_snapshot *s = (ms_snapshot *)0x1;
	cr_assert_eq(ms_snapshot_from_file("/nonexistent/memsnap/file", &s), -ENOENT);
	cr_assert_eq(s, (ms_snapshot *)0x1, "out must be untouched on failure");
}

Test(snapshot, directory_is_eisdir)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_file("/tmp", &s), -EISDIR);
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	cr_assert_eq(ms_snapshot_from_fd(fd, &s), -EISDIR);
	close(fd);
}

Test(snapshot, non_regular_file_is_einval)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_file("/dev/null", &s), -EINVAL);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ms_snapshot_from_fd(p[0], &s), -EINVAL);
	close(p[0]);
	close(p[1]);
	char fifo[256];
	snprintf(fifo, sizeof fifo, "%s/fifo-%d", ms_test_tmpdir(), getpid());
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(ms_snapshot_from_file(fifo, &s), -EINVAL, "a FIFO must not block or map");
	unlink(fifo);
}

Test(snapshot, bad_descriptors_are_ebadf)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_fd(-1, &s), -EBADF);
	cr_assert_eq(ms_snapshot_from_fd(1000000, &s), -EBADF);
	char path[256];
	ms_test_tmpfile(path, sizeof path, "x", 1);
	int wo = open(path, O_WRONLY);
	cr_assert_eq(ms_snapshot_from_fd(wo, &s), -EBADF, "write-only fd cannot be read");
	close(wo);
	unlink(path);
}

Test(snapshot, unreadable_file_is_eacces)
{
	if (geteuid() == 0)
		cr_skip_test("root reads every file");
	char path[256];
	ms_test_tmpfile(path, sizeof path, "secret", 6);
	chmod(path, 0);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_file(path, &s), -EACCES);
	unlink(path);
}

Test(snapshot, read_only_file_gives_cow_views_but_no_shared_view)
{
	char path[256];
	ms_test_tmpfile(path, sizeof path, "read only", 9);
	int fd = open(path, O_RDONLY);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_fd(fd, &s), 0);
	close(fd);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), -EACCES);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	((char *)ms_view_data(v))[0] = 'R';
	cr_assert_eq(((char *)ms_view_data(v))[0], 'R');
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(((char *)ms_view_data(v))[0], 'r');
	ms_view_free(v);
	ms_snapshot_unref(s);
	unlink(path);
}

Test(snapshot, invalid_arguments_are_einval)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(16, NULL), -EINVAL);
	cr_assert_eq(ms_snapshot_from_buffer(NULL, 5, &s), -EINVAL);
	cr_assert_eq(ms_snapshot_from_file(NULL, &s), -EINVAL);
	cr_assert_eq(ms_snapshot_clone(NULL, &s), -EINVAL);
	cr_assert_eq(ms_snapshot_zeroed(SIZE_MAX, &s), -EOVERFLOW);
	cr_assert_eq(ms_snapshot_from_buffer(NULL, 0, &s), 0, "empty buffer is fine");
	char b[8];
	cr_assert_eq(ms_snapshot_read(s, 0, b, 1), -EINVAL, "read past the end");
	ms_snapshot_unref(s);
	ms_snapshot_unref(NULL);
	cr_assert_null(ms_snapshot_ref(NULL));
	cr_assert_eq(ms_snapshot_size(NULL), 0);
}

Test(snapshot, clone_is_independent)
{
	ms_snapshot *a, *b;
	cr_assert_eq(ms_snapshot_from_buffer("original", 8, &a), 0);
	cr_assert_eq(ms_snapshot_clone(a, &b), 0);
	ms_view *va, *vb;
	cr_assert_eq(ms_view_new(a, MS_VIEW_SHARED, &va), 0);
	memcpy(ms_view_data(va), "changedA", 8);
	ms_view_free(va);
	cr_assert_eq(ms_view_new(b, MS_VIEW_SHARED, &vb), 0);
	cr_assert_eq(memcmp(ms_view_data(vb), "original", 8), 0);
	memcpy(ms_view_data(vb), "changedB", 8);
	ms_view_free(vb);
	char back[8];
	ms_snapshot_read(a, 0, back, 8);
	cr_assert_eq(memcmp(back, "changedA", 8), 0);
	ms_snapshot_read(b, 0, back, 8);
	cr_assert_eq(memcmp(back, "changedB", 8), 0);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

Test(snapshot, large_sparse_snapshot_costs_no_memory_until_touched)
{
	if (ms_test_under_valgrind())
		cr_skip_test("valgrind cannot reserve 64 GiB");
	size_t size = (size_t)64 << 30;
	long rss0 = ms_test_rss_kib();
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_NONE, &v), 0);
	unsigned char *p = ms_view_data(v);
	p[0] = 1;
	p[size - 1] = 2;
	p[size / 2] = 3;
	long rss1 = ms_test_rss_kib();
	cr_assert_lt(rss1 - rss0, 16 * 1024, "64 GiB sparse view grew RSS by %ld KiB", rss1 - rss0);
	cr_assert_lt(ms_snapshot_own_bytes(s), 1024 * 1024);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(snapshot, view_keeps_snapshot_alive_after_callers_unref)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer("alive", 5, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	ms_snapshot_unref(s);
	((char *)ms_view_data(v))[0] = 'A';
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(memcmp(ms_view_data(v), "alive", 5), 0);
	cr_assert_eq(ms_snapshot_size(ms_view_snapshot(v)), ms_page_size());
	ms_view_free(v);
}

Test(snapshot, no_descriptor_or_mapping_left_after_many_cycles)
{
	if (ms_test_counts_unreliable())
		cr_skip_test("the sanitizer or valgrind keeps descriptors and mappings of its own");
	int fds0 = ms_test_count_fds(), maps0 = ms_test_count_maps();
	for (int i = 0; i < 10000; i++) {
		ms_snapshot *s;
		cr_assert_eq(ms_snapshot_zeroed(3 * ms_page_size(), &s), 0);
		ms_view *a, *b;
		cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &a), 0);
		cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &b), 0);
		((char *)ms_view_data(a))[i % 100] = 1;
		ms_snapshot *t;
		cr_assert_eq(ms_view_take_snapshot(a, &t), 0);
		cr_assert_geq(ms_view_restore(a), 0);
		ms_view_free(a);
		ms_view_free(b);
		ms_snapshot_unref(t);
		ms_snapshot_unref(s);
	}
	cr_assert_eq(ms_test_count_fds(), fds0);
	cr_assert_eq(ms_test_count_maps(), maps0);
}

Test(snapshot, strerror_describes_every_error)
{
	int errs[] = {0,
		      -EINVAL,
		      -EBUSY,
		      -EACCES,
		      -ENOENT,
		      -EISDIR,
		      -EROFS,
		      -EOPNOTSUPP,
		      -ENOMEM,
		      -EOVERFLOW,
		      MS_ERR_CORRUPT,
		      MS_ERR_FORMAT,
		      MS_ERR_MISMATCH,
		      MS_ERR_UC_BASE - 7,
		      -99999};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		const char *m = ms_strerror(errs[i]);
		cr_assert_not_null(m);
		cr_assert_gt(strlen(m), 5);
	}
	cr_assert_neq(strcmp(ms_strerror(-EBUSY), ms_strerror(-EINVAL)), 0);
	cr_assert_str_eq(ms_version(), MS_VERSION_STRING);
}

/* Each message fits every call that returns it: -EROFS comes from a
 * read-only file system as much as from a frozen snapshot, -EBUSY from
 * shared views, the runtime's tracking choice and save-state bases. */
Test(snapshot, strerror_fits_every_call_that_returns_the_error)
{
	const char *rofs = ms_strerror(-EROFS);
	cr_assert(strstr(rofs, "read-only file system"), "-EROFS: %s", rofs);
	cr_assert(strstr(rofs, "stacked"), "-EROFS: %s", rofs);
	const char *busy = ms_strerror(-EBUSY);
	cr_assert(strstr(busy, "in use"), "-EBUSY: %s", busy);
	cr_assert(strstr(busy, "shared view"), "-EBUSY: %s", busy);
	cr_assert(strstr(busy, "regions"), "-EBUSY: %s", busy);
	cr_assert(strstr(busy, "base"), "-EBUSY: %s", busy);
	const char *fbig = ms_strerror(-EFBIG);
	cr_assert(strstr(fbig, "RLIMIT_FSIZE"), "-EFBIG: %s", fbig);
}

/* Under a file-size limit below the snapshot's size, creation fails with
 * -EFBIG, and the process gets no SIGXFSZ (whose default action would end
 * it). Runs in a child: the limit would stay. */
Test(snapshot, a_file_size_limit_gives_efbig_without_a_signal)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct rlimit rl = {1 << 20, 1 << 20};
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(90);
		ms_snapshot *s = NULL;
		if (ms_snapshot_zeroed(4 << 20, &s) != -EFBIG)
			_exit(91);
		static uint8_t buf[2 << 20];
		if (ms_snapshot_from_buffer(buf, sizeof buf, &s) != -EFBIG)
			_exit(92);
		if (ms_snapshot_zeroed(1 << 20, &s) != 0) /* at the limit: allowed */
			_exit(93);
		ms_snapshot_unref(s);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
		  WIFEXITED(status) ? "exit" : "signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Pages that may differ between snapshots of one family: exactly the pages
 * stored between them, and every page that does differ is among them. */
static ms_snapshot *take_after_writes(ms_view *v, const size_t *pages, size_t n, uint8_t value)
{
	size_t ps = ms_page_size();
	uint8_t *d = ms_view_data(v);
	for (size_t i = 0; i < n; i++)
		memset(d + pages[i] * ps + 7, value, 9);
	ms_snapshot *s;
	cr_assert_eq(ms_view_take_snapshot(v, &s), 0);
	return s;
}

static void assert_covered(ms_snapshot *a, ms_snapshot *b, size_t npages)
{
	size_t ps = ms_page_size();
	ms_range r[64];
	long n = ms_snapshot_diff_ranges(a, b, r, 64);
	cr_assert_geq(n, 0);
	cr_assert_eq(ms_snapshot_diff_ranges(b, a, NULL, 0), n, "symmetric");
	uint8_t *pa = malloc(ps), *pb = malloc(ps);
	for (size_t pg = 0; pg < npages; pg++) {
		cr_assert_eq(ms_snapshot_read(a, pg * ps, pa, ps), 0);
		cr_assert_eq(ms_snapshot_read(b, pg * ps, pb, ps), 0);
		if (memcmp(pa, pb, ps) == 0)
			continue;
		bool in = false;
		for (long i = 0; i < n && !in; i++)
			in = pg * ps >= r[i].offset && pg * ps < r[i].offset + r[i].len;
		cr_assert(in, "page %zu differs but is not listed", pg);
	}
	free(pa);
	free(pb);
}

Test(snapshot, diff_ranges_of_a_family)
{
	size_t ps = ms_page_size();
	ms_snapshot *base;
	cr_assert_eq(ms_snapshot_zeroed(64 * ps, &base), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(base, MS_VIEW_COW, &v), 0);
	if (ms_view_tracker(v) == MS_TRACKER_NONE)
		cr_skip_test("untracked views make plain snapshots, not families");
	ms_snapshot *s1 = take_after_writes(v, (size_t[]){1, 2, 3}, 3, 0x11);
	ms_snapshot *s2 = take_after_writes(v, (size_t[]){10}, 1, 0x22);
	cr_assert_geq(ms_view_restore_to(v, s1), 0);
	ms_snapshot *s3 = take_after_writes(v, (size_t[]){21, 20, 3}, 3, 0x33);
	cr_assert_gt(ms_snapshot_depth(s3), 0);

	ms_range r[8];
	cr_assert_eq(ms_snapshot_diff_ranges(s2, s2, r, 8), 0);
	cr_assert_eq(ms_snapshot_diff_ranges(base, s2, r, 8), 2);
	cr_assert(r[0].offset == 1 * ps && r[0].len == 3 * ps);
	cr_assert(r[1].offset == 10 * ps && r[1].len == ps);
	/* take_snapshot leaves the view on its snapshot: s1 and s2 are both
	 * stacked on base (s2 stores 1, 2, 3 and 10); s3 on s1 stores 3, 20
	 * and 21. Between s2 and s3 lie s2, s3 and s1. */
	cr_assert_eq(ms_snapshot_depth(s2), 1);
	cr_assert_eq(ms_snapshot_depth(s3), 2);
	cr_assert_eq(ms_snapshot_diff_ranges(s2, s3, r, 8), 3);
	cr_assert(r[0].offset == 1 * ps && r[0].len == 3 * ps);
	cr_assert(r[1].offset == 10 * ps && r[1].len == ps);
	cr_assert(r[2].offset == 20 * ps && r[2].len == 2 * ps);
	cr_assert_eq(ms_snapshot_diff_ranges(s1, s3, r, 8), 2, "3 and 20-21 only");
	/* A short buffer: the total is still returned. */
	cr_assert_eq(ms_snapshot_diff_ranges(s2, s3, r, 1), 3);
	cr_assert(r[0].offset == 1 * ps);
	assert_covered(base, s3, 64);
	assert_covered(s2, s3, 64);
	assert_covered(s1, s2, 64);

	ms_snapshot *other;
	cr_assert_eq(ms_snapshot_zeroed(64 * ps, &other), 0);
	cr_assert_eq(ms_snapshot_diff_ranges(s1, other, r, 8), -EXDEV);
	ms_snapshot *small;
	cr_assert_eq(ms_snapshot_zeroed(ps, &small), 0);
	cr_assert_eq(ms_snapshot_diff_ranges(s1, small, r, 8), -EINVAL);
	cr_assert_eq(ms_snapshot_diff_ranges(NULL, s1, r, 8), -EINVAL);
	cr_assert_eq(ms_snapshot_diff_ranges(s1, s2, NULL, 8), -EINVAL);
	ms_snapshot_unref(small);
	ms_snapshot_unref(other);
	ms_snapshot_unref(s3);
	ms_snapshot_unref(s2);
	ms_snapshot_unref(s1);
	ms_view_free(v);
	ms_snapshot_unref(base);
}
