/*
 * Windows helpers shared by the files of lib/win/: the platform contract
 * (lib/os.h) is built on these, and the exception handler of the tracker
 * (write_watch.c) calls them directly. Nothing outside lib/win/ includes this
 * header (tests aside).
 *
 * Contract: as lib/os.h: 0 or -errno, never prints, never leaves a Windows
 * error code for the caller to read.
 */
#ifndef MEMSNAP_WIN_WIN_H
#define MEMSNAP_WIN_WIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <windows.h>

#include "../os.h"

/* The negative errno value of a Windows error code (GetLastError()). */
int ms__win_errno(DWORD code);
/* The same for the calling thread's last error. */
static inline int ms__win_last(void)
{
	return ms__win_errno(GetLastError());
}

/* Whether `h` is a section (an anonymous backing) rather than a file. */
bool ms__win_is_section(HANDLE h);

/* Set the page protection `prot` (PAGE_*) of [addr, addr+len), which may
 * span several mappings (a view is mapped as several section views). */
int ms__win_protect(void *addr, size_t len, DWORD prot);

/* How views are mapped at a given address in this process: "placeholder"
 * (VirtualAlloc2 placeholders, replaced in one step) or "MapViewOfFileEx"
 * (the range released, then mapped again at the same address), chosen at
 * run time. */
const char *ms__win_map_path(void);

#endif /* MEMSNAP_WIN_WIN_H */
