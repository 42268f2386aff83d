/*
 * The memory half of the platform contract (lib/os.h) on Windows:
 * pagefile-backed sections as anonymous backings, section views, protection
 * and the checked copy.
 *
 * A mapping of more than CHUNK bytes is made of several section views at
 * consecutive addresses: the cost of VirtualProtect grows with the size of
 * the view it changes (docs/windows.md), and the trackers change one page
 * at a time.
 *
 * Mapping at an address that is mapped already (a restore that remaps a
 * view) takes one of two paths, chosen once at run time:
 * - placeholders (Windows 10 1803 and later): each view is unmapped into a
 *   placeholder (UnmapViewOfFileEx with MEM_PRESERVE_PLACEHOLDER) and mapped
 *   again over it (MapViewOfFile3 with MEM_REPLACE_PLACEHOLDER), so the
 *   range is never free for another thread to take;
 * - MapViewOfFileEx (older Windows, and Wine 8, whose VirtualAlloc2 refuses
 *   MEM_RESERVE_PLACEHOLDER): the views are unmapped and mapped again at the
 *   same address. Another thread may take the range in between; the map is
 *   then retried a few times and fails with -EBUSY. memsnap's own threads
 *   cannot: on this path, replacing a mapping holds `space_lock`
 *   exclusively, and every other call of this file that places memory holds
 *   it shared (the one piece of global state here besides `caps` and `api`,
 *   forced by the fallback). Other allocators (the heap, the application)
 *   still can, rarely: docs/windows.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "win.h"

#ifndef MEM_RESERVE_PLACEHOLDER
#define MEM_RESERVE_PLACEHOLDER 0x00040000
#endif
#ifndef MEM_REPLACE_PLACEHOLDER
#define MEM_REPLACE_PLACEHOLDER 0x00004000
#endif
#ifndef MEM_PRESERVE_PLACEHOLDER
#define MEM_PRESERVE_PLACEHOLDER 0x00000002
#endif
#ifndef MEM_COALESCE_PLACEHOLDERS
#define MEM_COALESCE_PLACEHOLDERS 0x00000001
#endif

/* The largest section view a mapping is made of. */
#define CHUNK ((size_t)16 << 20)
/* Attempts at mapping a range that another thread may take meanwhile. */
enum { MAP_TRIES = 8 };

typedef PVOID(WINAPI *virtual_alloc2_fn)(HANDLE, PVOID, SIZE_T, ULONG, ULONG, void *, ULONG);
typedef PVOID(WINAPI *map_view3_fn)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *,
				    ULONG);
typedef BOOL(WINAPI *unmap_view_ex_fn)(PVOID, ULONG);

static ms__os_caps caps;
static struct {
	virtual_alloc2_fn virtual_alloc2;
	map_view3_fn map_view3;
	unmap_view_ex_fn unmap_view_ex;
	bool placeholders; /* all three exist and placeholders work */
} api;
static INIT_ONCE caps_once = INIT_ONCE_STATIC_INIT;
static SRWLOCK space_lock = SRWLOCK_INIT;

/* Whether this system makes, splits and frees placeholders (Wine 8 finds
 * the functions but refuses MEM_RESERVE_PLACEHOLDER). */
static bool placeholders_work(void)
{
	if (!api.virtual_alloc2 || !api.map_view3 || !api.unmap_view_ex)
		return false;
	size_t g = caps.map_granularity;
	uint8_t *p = api.virtual_alloc2(NULL, NULL, 2 * g, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
					PAGE_NOACCESS, NULL, 0);
	if (!p)
		return false;
	bool split = VirtualFree(p, g, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER);
	VirtualFree(p, 0, MEM_RELEASE);
	if (split)
		VirtualFree(p + g, 0, MEM_RELEASE);
	return split;
}

static BOOL CALLBACK caps_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	(void)once, (void)param, (void)ctx;
	SYSTEM_INFO si;
	GetSystemInfo(&si);
	caps.page_size = si.dwPageSize;
	caps.map_granularity = si.dwAllocationGranularity;
	caps.seal = false;
	caps.sparse = false;
	HMODULE kb = GetModuleHandleW(L"kernelbase.dll");
	if (kb) {
		api.virtual_alloc2 =
		    (virtual_alloc2_fn)(void (*)(void))GetProcAddress(kb, "VirtualAlloc2");
		api.map_view3 = (map_view3_fn)(void (*)(void))GetProcAddress(kb, "MapViewOfFile3");
		api.unmap_view_ex =
		    (unmap_view_ex_fn)(void (*)(void))GetProcAddress(kb, "UnmapViewOfFileEx");
	}
	api.placeholders = placeholders_work();
	return TRUE;
}

const ms__os_caps *ms__os_caps_get(void)
{
	InitOnceExecuteOnce(&caps_once, caps_init, NULL, NULL);
	return &caps;
}

const char *ms__win_map_path(void)
{
	ms__os_caps_get();
	return api.placeholders ? "placeholder" : "MapViewOfFileEx";
}

int ms__os_backing_new(size_t size, ms_os_fd *out)
{
	/* A pagefile-backed section reads zeros; its pages are charged to the
	 * commit limit when written, not now (Windows charges the section's
	 * size only with SEC_COMMIT). */
	uint64_t sz = size ? size : ms__os_caps_get()->page_size;
	HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_COMMIT,
				      (DWORD)(sz >> 32), (DWORD)sz, NULL);
	if (!h)
		return ms__win_last();
	*out = h;
	return 0;
}

int ms__os_seal(ms_os_fd fd, bool content)
{
	/* Sections cannot change size once made; there is nothing to seal
	 * (caps.seal is false, so the core does not ask). */
	(void)fd, (void)content;
	return -EOPNOTSUPP;
}

/* The PAGE_* protection of MS_ACCESS_* bits; `cow`: the memory is a
 * copy-on-write view, whose writable pages are PAGE_WRITECOPY. */
static DWORD prot_of(unsigned access, bool cow)
{
	bool r = access & MS_ACCESS_READ, w = access & MS_ACCESS_WRITE, x = access & MS_ACCESS_EXEC;
	if (w)
		return x ? (cow ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READWRITE)
			 : (cow ? PAGE_WRITECOPY : PAGE_READWRITE);
	if (x)
		return r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
	return r ? PAGE_READONLY : PAGE_NOACCESS;
}

int ms__os_reserve(size_t len, unsigned access, void **out)
{
	void *p;
	ms__os_caps_get();
	AcquireSRWLockShared(&space_lock);
	if (access == MS_ACCESS_NONE && api.placeholders)
		/* A placeholder, so that a mapping can replace it later. */
		p = api.virtual_alloc2(NULL, NULL, len, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER,
				       PAGE_NOACCESS, NULL, 0);
	else
		p = VirtualAlloc(NULL, len, MEM_RESERVE | (access ? MEM_COMMIT : 0),
				 prot_of(access, false));
	DWORD werr = p ? 0 : GetLastError();
	ReleaseSRWLockShared(&space_lock);
	if (!p)
		return ms__win_errno(werr);
	*out = p;
	return 0;
}

/* The section to map for `fd`: the section itself for a backing of ours,
 * a new one for a file (closed by the caller once mapped; the views keep it
 * alive). `limit` is the size of a file, past which nothing is mapped. */
typedef struct section {
	HANDLE h;
	bool owned;
	uint64_t limit;
} section;

static int section_of(ms_os_fd fd, ms__os_map_kind kind, section *s)
{
	if (fd == MS__OS_FD_NONE || fd == NULL)
		return -EBADF;
	if (ms__win_is_section(fd)) {
		*s = (section){fd, false, UINT64_MAX}; /* a backing of ours */
		return 0;
	}
	LARGE_INTEGER size;
	if (!GetFileSizeEx(fd, &size))
		return ms__win_last();
	static const DWORD prot[] = {
	    [MS__OS_MAP_READ_ONLY] = PAGE_READONLY,
	    [MS__OS_MAP_SHARED] = PAGE_READWRITE,
	    [MS__OS_MAP_COW] = PAGE_WRITECOPY,
	};
	HANDLE h = CreateFileMappingW(fd, NULL, prot[kind], 0, 0, NULL);
	if (!h)
		return ms__win_last();
	*s = (section){h, true, (uint64_t)size.QuadPart};
	return 0;
}

static DWORD view_access(ms__os_map_kind kind)
{
	static const DWORD access[] = {
	    [MS__OS_MAP_READ_ONLY] = FILE_MAP_READ,
	    [MS__OS_MAP_SHARED] = FILE_MAP_READ | FILE_MAP_WRITE,
	    [MS__OS_MAP_COW] = FILE_MAP_COPY,
	};
	return access[kind];
}

/* Release every mapping and reservation in [addr, addr+len) (whole
 * allocations), or with `keep` turn each view into a placeholder. The
 * allocations are listed first and then released, so that memory another
 * thread places into a part already released is never taken for ours.
 * Returns the number of allocations found (views and reservations), or
 * -errno. */
static int release_range(uint8_t *addr, size_t len, bool keep)
{
	enum { MAX_ALLOCS = 4096 }; /* 64 GiB of 16 MiB views */
	void **bases = malloc(MAX_ALLOCS * sizeof *bases);
	bool *mapped = malloc(MAX_ALLOCS * sizeof *mapped);
	int n = 0, err = bases && mapped ? 0 : -ENOMEM;
	uint8_t *end = addr + len;
	for (uint8_t *p = addr; !err && p < end;) {
		MEMORY_BASIC_INFORMATION mbi;
		if (!VirtualQuery(p, &mbi, sizeof mbi)) {
			err = ms__win_last();
			break;
		}
		p = (uint8_t *)mbi.BaseAddress + mbi.RegionSize;
		if (mbi.State == MEM_FREE || (n > 0 && bases[n - 1] == mbi.AllocationBase))
			continue; /* free, or another region of the allocation */
		if ((uint8_t *)mbi.AllocationBase < addr)
			err = -EINVAL; /* the range starts inside an allocation */
		else if (n == MAX_ALLOCS)
			err = -E2BIG;
		else {
			bases[n] = mbi.AllocationBase;
			mapped[n++] = mbi.Type == MEM_MAPPED;
		}
	}
	for (int i = 0; !err && i < n; i++) {
		BOOL ok = !mapped[i] ? (keep ? TRUE : VirtualFree(bases[i], 0, MEM_RELEASE))
			  : keep     ? api.unmap_view_ex(bases[i], MEM_PRESERVE_PLACEHOLDER)
				     : UnmapViewOfFile(bases[i]);
		if (!ok)
			err = ms__win_last();
	}
	free(bases);
	free(mapped);
	return err ? err : n;
}

/* Map [at, at+len) from the section, CHUNK bytes per view, into a range
 * that is free (fallback) or one placeholder (`placeholder`). On failure
 * the views made are unmapped and the Windows error is returned. */
static DWORD map_chunks(uint8_t *at, size_t len, ms__os_map_kind kind, const section *s,
			uint64_t offset, bool placeholder)
{
	size_t ps = caps.page_size;
	size_t done = 0;
	DWORD err = 0;
	while (done < len) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;
		/* A file's view ends at the file's end (rounded up to a page
		 * by the system); the snapshot's size is rounded up too. */
		uint64_t from = offset + done;
		if (s->limit != UINT64_MAX && s->limit - from < n)
			n = (size_t)((s->limit - from + ps - 1) & ~(uint64_t)(ps - 1));
		void *p;
		if (placeholder) {
			if (done + n < len &&
			    !VirtualFree(at + done, n, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER)) {
				err = GetLastError();
				break;
			}
			size_t view = s->limit != UINT64_MAX && s->limit - from < n
					  ? (size_t)(s->limit - from)
					  : n;
			p = api.map_view3(s->h, GetCurrentProcess(), at + done, from, view,
					  MEM_REPLACE_PLACEHOLDER,
					  kind == MS__OS_MAP_READ_ONLY ? PAGE_READONLY
					  : kind == MS__OS_MAP_COW     ? PAGE_WRITECOPY
								       : PAGE_READWRITE,
					  NULL, 0);
		} else {
			size_t view = s->limit != UINT64_MAX && s->limit - from < n
					  ? (size_t)(s->limit - from)
					  : n;
			p = MapViewOfFileEx(s->h, view_access(kind), (DWORD)(from >> 32),
					    (DWORD)from, view, at + done);
		}
		if (!p) {
			err = GetLastError();
			break;
		}
		done += n;
		if (n < CHUNK && done < len)
			break; /* the file ended: the rest stays unmapped */
	}
	if (err && !placeholder && done)
		release_range(at, done, false);
	return err;
}

/* A free range of `len` bytes, found by reserving and releasing it. */
static uint8_t *free_range(size_t len)
{
	void *p = VirtualAlloc(NULL, len, MEM_RESERVE, PAGE_NOACCESS);
	if (p)
		VirtualFree(p, 0, MEM_RELEASE);
	return p;
}

int ms__os_map(void *at, size_t len, ms__os_map_kind kind, ms_os_fd fd, uint64_t offset, void **out)
{
	ms__os_caps_get();
	if (len == 0)
		return -EINVAL;
	section s = {NULL, false, UINT64_MAX};
	int err = section_of(fd, kind, &s);
	if (err)
		return err;
	DWORD werr = 0;
	uint8_t *p = at;
	bool exclusive = at && !api.placeholders;
	if (exclusive)
		AcquireSRWLockExclusive(&space_lock);
	else
		AcquireSRWLockShared(&space_lock);
	if (api.placeholders) {
		if (at) {
			/* Views become placeholders, joined into one. */
			int n = release_range(at, len, true);
			err = n < 0 ? n : 0;
			if (n > 1 && !VirtualFree(at, len, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS))
				err = ms__win_last();
		} else {
			p = api.virtual_alloc2(NULL, NULL, len,
					       MEM_RESERVE | MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS,
					       NULL, 0);
			if (!p)
				err = ms__win_last();
		}
		if (!err)
			werr = map_chunks(p, len, kind, &s, offset, true);
		if (werr && !at)
			release_range(p, len, false);
	} else {
		if (at) {
			int n = release_range(at, len, false);
			err = n < 0 ? n : 0;
		}
		for (int i = 0; !err && i < MAP_TRIES; i++) {
			if (!at && len > CHUNK)
				p = free_range(len);
			else if (!at)
				p = NULL; /* one view: the system picks */
			if (!at && len > CHUNK && !p) {
				werr = GetLastError();
				break;
			}
			if (!p) {
				p = MapViewOfFileEx(s.h, view_access(kind), (DWORD)(offset >> 32),
						    (DWORD)offset,
						    s.limit != UINT64_MAX && s.limit - offset < len
							? (size_t)(s.limit - offset)
							: len,
						    NULL);
				werr = p ? 0 : GetLastError();
				break;
			}
			werr = map_chunks(p, len, kind, &s, offset, false);
			/* ERROR_INVALID_ADDRESS: another thread took part of
			 * the range; try again. */
			if (werr != ERROR_INVALID_ADDRESS)
				break;
			SwitchToThread();
		}
		if (at && werr == ERROR_INVALID_ADDRESS)
			err = -EBUSY;
	}
	if (exclusive)
		ReleaseSRWLockExclusive(&space_lock);
	else
		ReleaseSRWLockShared(&space_lock);
	if (s.owned)
		CloseHandle(s.h);
	if (!err && werr)
		err = ms__win_errno(werr);
	if (err)
		return err;
	*out = p;
	return 0;
}

int ms__os_unmap(void *addr, size_t len)
{
	int n = release_range(addr, len, false);
	return n < 0 ? n : 0;
}

static bool is_cow(const MEMORY_BASIC_INFORMATION *mbi)
{
	return mbi->Type == MEM_MAPPED &&
	       (mbi->AllocationProtect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY));
}

int ms__win_protect(void *addr, size_t len, DWORD prot)
{
	DWORD old;
	if (VirtualProtect(addr, len, prot, &old))
		return 0;
	/* The range spans several views: one call per region. */
	uint8_t *p = addr, *end = p + len;
	while (p < end) {
		MEMORY_BASIC_INFORMATION mbi;
		if (!VirtualQuery(p, &mbi, sizeof mbi) || mbi.State != MEM_COMMIT)
			return -ENOMEM; /* not mapped, as mprotect(2) says */
		uint8_t *next = (uint8_t *)mbi.BaseAddress + mbi.RegionSize;
		size_t n = (size_t)((next < end ? next : end) - p);
		if (!VirtualProtect(p, n, prot, &old))
			return ms__win_last();
		p += n;
	}
	return 0;
}

int ms__os_protect(void *addr, size_t len, unsigned access)
{
	/* Only a writable protection depends on the kind of mapping; the
	 * tracker's restores make pages read-only, without the query. */
	if (!(access & MS_ACCESS_WRITE))
		return ms__win_protect(addr, len, prot_of(access, false));
	MEMORY_BASIC_INFORMATION mbi;
	if (!VirtualQuery(addr, &mbi, sizeof mbi) || mbi.State != MEM_COMMIT)
		return -ENOMEM;
	return ms__win_protect(addr, len, prot_of(access, is_cow(&mbi)));
}

int ms__os_discard(void *addr, size_t len)
{
	/* Private memory: decommitted and committed again, it reads zeros.
	 * A copy-on-write view cannot drop its private copies page by page
	 * on Windows (only the whole view, by remapping it): -EOPNOTSUPP,
	 * and the copies, which hold the right content, stay. */
	uint8_t *p = addr, *end = p + len;
	while (p < end) {
		MEMORY_BASIC_INFORMATION mbi;
		if (!VirtualQuery(p, &mbi, sizeof mbi) || mbi.State != MEM_COMMIT)
			return -ENOMEM;
		if (mbi.Type != MEM_PRIVATE)
			return -EOPNOTSUPP;
		uint8_t *next = (uint8_t *)mbi.BaseAddress + mbi.RegionSize;
		size_t n = (size_t)((next < end ? next : end) - p);
		if (!VirtualFree(p, n, MEM_DECOMMIT) ||
		    !VirtualAlloc(p, n, MEM_COMMIT, mbi.Protect))
			return ms__win_last();
		p += n;
	}
	return 0;
}

int ms__os_discard_spans(const ms__os_span *spans, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = ms__os_discard(spans[i].addr, spans[i].len);
		if (err)
			return err;
	}
	return 0;
}

int ms__os_populate_spans(const ms__os_span *spans, size_t n)
{
	/* Only a hint (lib/os.h); the pages come in on first read. */
	(void)spans, (void)n;
	return 0;
}

/* Whether every page of [src, src+len) is committed and readable. */
static bool readable(const uint8_t *src, size_t len)
{
	const uint8_t *end = src + len;
	while (src < end) {
		MEMORY_BASIC_INFORMATION mbi;
		if (!VirtualQuery(src, &mbi, sizeof mbi) || mbi.State != MEM_COMMIT ||
		    (mbi.Protect & (PAGE_NOACCESS | PAGE_GUARD)) || mbi.Protect == PAGE_EXECUTE)
			return false;
		src = (const uint8_t *)mbi.BaseAddress + mbi.RegionSize;
	}
	return true;
}

int ms__os_copy_checked(void *dst, const void *src, size_t len)
{
	/* The protection is checked first: ReadProcessMemory on this process
	 * reads pages marked PAGE_NOACCESS under Wine. Only memsnap changes a
	 * view's protection while this runs (one thread per view). */
	if (!readable(src, len))
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
