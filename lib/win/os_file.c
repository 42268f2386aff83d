/*
 * The file half of the platform contract (lib/os.h) on Windows: handles,
 * positioned reads and writes, durable replacement with MoveFileExW.
 *
 * Anonymous backings are sections, not files: reads and writes of one go
 * through a temporary view of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <winternl.h>

#include "win.h"

/* A UTF-8 path as the UTF-16 string Windows takes (free() it). */
static int wide_path(const char *path, wchar_t **out)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
	if (n <= 0)
		return -EINVAL;
	wchar_t *w = malloc((size_t)n * sizeof *w);
	if (!w)
		return -ENOMEM;
	MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
	*out = w;
	return 0;
}

int ms__os_open(const char *path, ms__os_open_how how, ms_os_fd *out)
{
	wchar_t *w;
	int err = wide_path(path, &w);
	if (err)
		return err;
	static const DWORD access[] = {
	    [MS__OS_OPEN_READ] = GENERIC_READ,
	    [MS__OS_OPEN_READ_WRITE] = GENERIC_READ | GENERIC_WRITE,
	    [MS__OS_OPEN_CREATE_NEW] = GENERIC_READ | GENERIC_WRITE,
	};
	/* Others may read, write, rename and delete the file meanwhile, as
	 * on POSIX; a directory opens (BACKUP_SEMANTICS) so that it can be
	 * refused by its type. The handle is not inheritable. */
	HANDLE h =
	    CreateFileW(w, access[how], FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, how == MS__OS_OPEN_CREATE_NEW ? CREATE_NEW : OPEN_EXISTING,
			FILE_ATTRIBUTE_NORMAL | FILE_FLAG_BACKUP_SEMANTICS, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return ms__win_last();
	*out = h;
	return 0;
}

int ms__os_dup(ms_os_fd fd, ms_os_fd *out)
{
	HANDLE h;
	if (fd == MS__OS_FD_NONE || fd == NULL ||
	    !DuplicateHandle(GetCurrentProcess(), fd, GetCurrentProcess(), &h, 0, FALSE,
			     DUPLICATE_SAME_ACCESS))
		return fd == MS__OS_FD_NONE || fd == NULL ? -EBADF : ms__win_last();
	*out = h;
	return 0;
}

int ms__os_close(ms_os_fd fd)
{
	if (fd == MS__OS_FD_NONE || fd == NULL)
		return 0;
	return CloseHandle(fd) ? 0 : ms__win_last();
}

int ms__os_remove(const char *path)
{
	wchar_t *w;
	int err = wide_path(path, &w);
	if (err)
		return err;
	BOOL ok = DeleteFileW(w);
	free(w);
	return ok ? 0 : ms__win_last();
}

/* What a handle was opened for (NtQueryObject). */
static ACCESS_MASK granted_access(HANDLE h)
{
	PUBLIC_OBJECT_BASIC_INFORMATION info;
	ULONG len;
	if (NtQueryObject(h, ObjectBasicInformation, &info, sizeof info, &len) != 0)
		return 0;
	return info.GrantedAccess;
}

/* The size of a section (NtQuerySection, found at run time). */
typedef struct section_basic_information {
	PVOID base;
	ULONG attributes;
	LARGE_INTEGER size;
} section_basic_information;
typedef LONG(NTAPI *query_section_fn)(HANDLE, int, PVOID, SIZE_T, PSIZE_T);

static int section_size(HANDLE h, uint64_t *size)
{
	static query_section_fn query;
	if (!query)
		query = (query_section_fn)(void (*)(void))GetProcAddress(
		    GetModuleHandleW(L"ntdll.dll"), "NtQuerySection");
	section_basic_information info;
	if (!query || query(h, 0 /* SectionBasicInformation */, &info, sizeof info, NULL) != 0)
		return -EBADF;
	*size = (uint64_t)info.size.QuadPart;
	return 0;
}

bool ms__win_is_section(HANDLE h)
{
	/* The object's type name: GetFileSizeEx succeeds on a section under
	 * Wine, so the type is asked for by name. */
	union {
		PUBLIC_OBJECT_TYPE_INFORMATION info;
		uint8_t bytes[512];
	} u;
	ULONG len;
	if (NtQueryObject(h, ObjectTypeInformation, &u, sizeof u, &len) != 0)
		return false;
	const UNICODE_STRING *name = &u.info.TypeName;
	return name->Length == 7 * sizeof(wchar_t) &&
	       memcmp(name->Buffer, L"Section", 7 * sizeof(wchar_t)) == 0;
}

static bool is_file(HANDLE h)
{
	return !ms__win_is_section(h);
}

int ms__os_file_stat(ms_os_fd fd, ms__os_file_info *out)
{
	if (fd == MS__OS_FD_NONE || fd == NULL)
		return -EBADF;
	BY_HANDLE_FILE_INFORMATION fi;
	if (ms__win_is_section(fd)) {
		/* An anonymous backing of ours. */
		uint64_t size;
		int err = section_size(fd, &size);
		if (err)
			return err;
		*out = (ms__os_file_info){.size = size,
					  .allocated = size,
					  .regular = true,
					  .readable = true,
					  .writable = true};
		return 0;
	}
	if (!GetFileInformationByHandle(fd, &fi))
		return ms__win_last();
	ACCESS_MASK a = granted_access(fd);
	bool dir = fi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY;
	uint64_t size = (uint64_t)fi.nFileSizeHigh << 32 | fi.nFileSizeLow;
	*out = (ms__os_file_info){
	    .size = size,
	    .allocated = size,
	    .regular = !dir && GetFileType(fd) == FILE_TYPE_DISK,
	    .directory = dir,
	    .readable = (a & (FILE_READ_DATA | GENERIC_READ)) != 0,
	    .writable = (a & (FILE_WRITE_DATA | GENERIC_WRITE)) != 0,
	};
	return 0;
}

int ms__os_next_data(ms_os_fd fd, uint64_t from, uint64_t *data, uint64_t *hole)
{
	/* caps.sparse is false: everything counts as data. */
	(void)fd, (void)from, (void)data, (void)hole;
	return -EOPNOTSUPP;
}

/* Copy between `buf` and [offset, offset+len) of a section, through a
 * temporary view. */
static int section_io(HANDLE h, void *buf, size_t len, uint64_t offset, bool write)
{
	uint64_t g = ms__os_caps_get()->map_granularity;
	uint64_t start = offset & ~(g - 1);
	size_t skew = (size_t)(offset - start);
	uint8_t *v = MapViewOfFile(h, write ? FILE_MAP_WRITE : FILE_MAP_READ, (DWORD)(start >> 32),
				   (DWORD)start, skew + len);
	if (!v)
		return ms__win_last();
	/* The source of a write may be memory the caller cannot read (a
	 * view's page protected MS_ACCESS_NONE): -EFAULT, as pwrite(2). */
	int err = 0;
	if (write)
		err = ms__os_copy_checked(v + skew, buf, len);
	else
		memcpy(buf, v + skew, len);
	UnmapViewOfFile(v);
	return err;
}

int ms__os_read_at(ms_os_fd fd, void *buf, size_t len, uint64_t offset)
{
	if (len == 0)
		return 0;
	if (!is_file(fd))
		return section_io(fd, buf, len, offset, false);
	uint8_t *p = buf;
	while (len > 0) {
		DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD)len, got = 0;
		OVERLAPPED ov = {.Offset = (DWORD)offset, .OffsetHigh = (DWORD)(offset >> 32)};
		if (!ReadFile(fd, p, chunk, &got, &ov))
			return GetLastError() == ERROR_HANDLE_EOF ? -EIO : ms__win_last();
		if (got == 0)
			return -EIO; /* the file ended early */
		p += got;
		len -= got;
		offset += got;
	}
	return 0;
}

int ms__os_write_at(ms_os_fd fd, const void *buf, size_t len, uint64_t offset)
{
	if (len == 0)
		return 0;
	if (!is_file(fd))
		return section_io(fd, (void *)buf, len, offset, true);
	const uint8_t *p = buf;
	while (len > 0) {
		DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD)len, put = 0;
		OVERLAPPED ov = {.Offset = (DWORD)offset, .OffsetHigh = (DWORD)(offset >> 32)};
		if (!WriteFile(fd, p, chunk, &put, &ov))
			return ms__win_last();
		if (put == 0)
			return -EIO;
		p += put;
		len -= put;
		offset += put;
	}
	return 0;
}

int ms__os_write_spans_at(ms_os_fd fd, ms__os_span *spans, size_t n, uint64_t offset)
{
	for (size_t i = 0; i < n; i++) {
		int err = ms__os_write_at(fd, spans[i].addr, spans[i].len, offset);
		if (err)
			return err;
		offset += spans[i].len;
		spans[i].len = 0;
	}
	return 0;
}

int ms__os_set_size(ms_os_fd fd, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	FILE_END_OF_FILE_INFO eof = {.EndOfFile.QuadPart = (LONGLONG)size};
	return SetFileInformationByHandle(fd, FileEndOfFileInfo, &eof, sizeof eof) ? 0
										   : ms__win_last();
}

int ms__os_sync(ms_os_fd fd)
{
	return FlushFileBuffers(fd) ? 0 : ms__win_last();
}

int ms__os_replace(const char *from, const char *to)
{
	wchar_t *wf, *wt;
	int err = wide_path(from, &wf);
	if (err)
		return err;
	err = wide_path(to, &wt);
	if (err) {
		free(wf);
		return err;
	}
	/* MOVEFILE_WRITE_THROUGH: the call returns once the rename is on
	 * disk (the durability a directory fsync gives on POSIX). */
	BOOL ok = MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
	err = ok ? 0 : ms__win_last();
	/* A directory in the way is "access denied" on Windows: -EISDIR, as
	 * rename(2) says. */
	DWORD attr = err == -EACCES ? GetFileAttributesW(wt) : INVALID_FILE_ATTRIBUTES;
	if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY))
		err = -EISDIR;
	free(wf);
	free(wt);
	return err;
}
