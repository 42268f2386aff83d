/*
 * What only Windows has: the mapping path chosen at run time (placeholders
 * or the MapViewOfFileEx fallback, printed for the test report), views made
 * of several section views, handles in the public API, Windows errors as
 * errno values, and the exception handler among the application's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <windows.h>

#include "../portable.h"
#include "memsnap/memsnap.h"
#include "win/win.h"

/* Whether this system makes placeholders, asked directly. */
static bool system_has_placeholders(void)
{
	typedef PVOID(WINAPI * va2_fn)(HANDLE, PVOID, SIZE_T, ULONG, ULONG, void *, ULONG);
	va2_fn va2 = (va2_fn)(void (*)(void))GetProcAddress(GetModuleHandleW(L"kernelbase.dll"),
							    "VirtualAlloc2");
	if (!va2)
		return false;
	void *p = va2(NULL, NULL, 1 << 16, MEM_RESERVE | 0x00040000 /* PLACEHOLDER */,
		      PAGE_NOACCESS, NULL, 0);
	if (p)
		VirtualFree(p, 0, MEM_RELEASE);
	return p != NULL;
}

Test(win, the_mapping_path_is_reported_and_matches_the_system)
{
	const char *path = ms__win_map_path();
	printf("map path: %s (placeholders %s)\n", path,
	       system_has_placeholders() ? "available" : "refused by this system");
	cr_assert_str_eq(path, system_has_placeholders() ? "placeholder" : "MapViewOfFileEx");
}

Test(win, auto_is_the_exception_handler_tracker_and_uffd_is_absent)
{
	cr_assert_eq(ms_tracker_resolve(MS_TRACKER_AUTO), MS_TRACKER_MPROTECT);
	cr_assert_eq(ms_tracker_probe(MS_TRACKER_UFFD_THREAD), -EOPNOTSUPP);
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_zeroed(1 << 16, &s), 0);
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_UFFD_ASYNC, &v), -EOPNOTSUPP);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_tracker(v), MS_TRACKER_MPROTECT);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

/* A 40 MiB view is three section views (16 MiB each at most): a run of
 * dirty pages across their border, and a whole-view remap, both work. */
static void large_view(ms_tracker tracker)
{
	size_t ps = ms_page_size(), size = (size_t)40 << 20, border = (size_t)16 << 20;
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, tracker, &v), 0);
	uint8_t *p = ms_view_data(v);
	printf("%s: view at %p, map path %s\n", ms_tracker_name(tracker), (void *)p,
	       ms__win_map_path());
	for (size_t off = border - 2 * ps; off < border + 2 * ps; off += ps)
		p[off] = 1;
	p[size - 1] = 2;
	p[2 * border + 5] = 3;
	int n = ms_view_restore(v);
	cr_assert_eq(n, tracker == MS_TRACKER_NONE ? (int)(size / ps) : 6);
	cr_assert_eq(ms_view_data(v), p, "the view keeps its address");
	for (size_t off = border - 2 * ps; off < border + 2 * ps; off += ps)
		cr_assert_eq(p[off], 0);
	cr_assert_eq(p[size - 1], 0);
	cr_assert_eq(p[2 * border + 5], 0);
	/* Tracked again after the restore (or the remap). */
	p[border] = 4;
	cr_assert_eq(ms_view_restore(v), tracker == MS_TRACKER_NONE ? (int)(size / ps) : 1);
	cr_assert_eq(p[border], 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(win, a_view_of_several_section_views_restores_by_copying)
{
	large_view(MS_TRACKER_MPROTECT);
}

Test(win, a_view_of_several_section_views_restores_by_remapping)
{
	large_view(MS_TRACKER_NONE);
}

/* A file made with content `text`; returns its path in `path`. */
static void file_with(char *path, size_t cap, const char *tag, const void *data, size_t len)
{
	pt_path(path, cap, tag);
	cr_assert(pt_write_file(path, data, len));
}

Test(win, snapshot_from_a_handle_and_granularity_of_offsets)
{
	static uint8_t data[3 << 16];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i >> 16);
	char path[512];
	file_with(path, sizeof path, "handle", data, sizeof data);
	HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
	cr_assert_neq(h, INVALID_HANDLE_VALUE);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_fd(h, &s), 0);
	CloseHandle(h); /* the snapshot holds its own handle */
	cr_assert_eq(ms_snapshot_size(s), sizeof data);
	ms_snapshot_unref(s);

	h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
	/* File offsets are mapped at the 64 KiB granularity only. */
	cr_assert_eq(ms_snapshot_from_fd_range(h, 4096, 4096, &s), -EINVAL);
	cr_assert_eq(ms_snapshot_from_fd_range(h, 1 << 16, 1 << 16, &s), 0);
	uint8_t b;
	cr_assert_eq(ms_snapshot_read(s, 100, &b, 1), 0);
	cr_assert_eq(b, 1);
	/* A handle opened read-only gives copy-on-write views, no shared
	 * one. */
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), -EACCES);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	((uint8_t *)ms_view_data(v))[0] = 9;
	cr_assert_eq(ms_view_restore(v), 1);
	cr_assert_eq(((uint8_t *)ms_view_data(v))[0], 1);
	ms_view_free(v);
	ms_snapshot_unref(s);
	CloseHandle(h);
	remove(path);
}

Test(win, shared_view_of_a_file_writes_the_file)
{
	char path[512];
	file_with(path, sizeof path, "shared", "abcdefgh", 8);
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_from_file(path, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), 0);
	memcpy(ms_view_data(v), "ABCD", 4);
	ms_view_free(v);
	ms_snapshot_unref(s);
	char back[9] = {0};
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(back, 1, 8, f), 8);
	fclose(f);
	cr_assert_str_eq(back, "ABCDefgh");
	remove(path);
}

Test(win, bad_input_gives_errno_values_with_messages)
{
	ms_snapshot *s;
	char path[512];
	pt_path(path, sizeof path, "missing");
	int err = ms_snapshot_from_file(path, &s);
	cr_assert_eq(err, -ENOENT);
	cr_assert_str_neq(ms_strerror(err), "unknown memsnap error");
	cr_assert_eq(ms_snapshot_from_fd(INVALID_HANDLE_VALUE, &s), -EBADF);
	cr_assert_eq(ms_snapshot_from_fd(NULL, &s), -EBADF);
	/* A directory opens (to be told apart) and is refused. */
	const char *d = getenv("MEMSNAP_TEST_TMPDIR");
	cr_assert_eq(ms_snapshot_from_file(d && *d ? d : ".", &s), -EISDIR);
	/* An event is a handle, not a file. */
	HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);
	err = ms_snapshot_from_fd(ev, &s);
	cr_assert_lt(err, 0);
	CloseHandle(ev);
	cr_assert_eq(ms__win_errno(ERROR_ACCESS_DENIED), -EACCES);
	cr_assert_eq(ms__win_errno(ERROR_FILE_EXISTS), -EEXIST);
	cr_assert_eq(ms__win_errno(ERROR_NOT_ENOUGH_MEMORY), -ENOMEM);
}

/* An application's own vectored handler, and what it saw. */
static uint8_t *app_page;
static volatile LONG app_faults, app_calls;

static LONG CALLBACK app_handler(PEXCEPTION_POINTERS info)
{
	InterlockedIncrement(&app_calls);
	const EXCEPTION_RECORD *r = info->ExceptionRecord;
	if (r->ExceptionCode == EXCEPTION_ACCESS_VIOLATION &&
	    (uint8_t *)r->ExceptionInformation[1] == app_page) {
		DWORD old;
		VirtualProtect(app_page, 4096, PAGE_READWRITE, &old);
		InterlockedIncrement(&app_faults);
		return EXCEPTION_CONTINUE_EXECUTION;
	}
	return EXCEPTION_CONTINUE_SEARCH;
}

/* memsnap's handler claims only its own faults: the application's handler,
 * called first or last, still gets its own, and tracking still works. */
static void with_app_handler(ULONG first)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_zeroed(1 << 20, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0); /* memsnap's handler now in */
	PVOID cookie = AddVectoredExceptionHandler(first, app_handler);
	cr_assert_not_null(cookie);
	app_page = VirtualAlloc(NULL, 4096, MEM_COMMIT | MEM_RESERVE, PAGE_READONLY);
	uint8_t *p = ms_view_data(v);
	for (size_t i = 0; i < 8; i++)
		p[i * 4096] = 1;
	*(volatile uint8_t *)app_page = 1;
	cr_assert_eq(app_faults, 1, "the application's fault reached its handler");
	cr_assert_eq(ms_view_restore(v), 8);
	cr_assert_eq(p[0], 0);
	/* Called last, it never saw memsnap's 8 faults; called first, it saw
	 * them and passed them on. */
	cr_assert_eq(app_calls, first ? 9 : 1);
	RemoveVectoredExceptionHandler(cookie);
	VirtualFree(app_page, 0, MEM_RELEASE);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(win, an_application_handler_called_last_sees_only_its_faults)
{
	with_app_handler(0);
}

Test(win, an_application_handler_called_first_passes_tracking_faults_on)
{
	with_app_handler(1);
}

/* A fault in a view that is not a tracking fault (a read of a page the
 * user made inaccessible) goes on to the unhandled-exception filter. */
Test(win, a_fault_memsnap_does_not_own_is_not_swallowed, .signal = SIGSEGV)
{
	ms_snapshot *s;
	ms_view *v;
	cr_assert_eq(ms_snapshot_zeroed(1 << 16, &s), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_protect(v, 0, 4096, MS_ACCESS_NONE), 0);
	(void)*(volatile uint8_t *)ms_view_data(v);
}
