/*
 * Linked into every Windows test program: before its tests run, the runner
 * prints which mapping path this system gives memsnap (placeholders or the
 * MapViewOfFileEx fallback; chosen once per process, so every test of the
 * program takes it) and the tracker views get, for the test report.
 */
#include <stdio.h>
#include <wchar.h>
#include <windows.h>

#include "memsnap/memsnap.h"
#include "win/win.h"

__attribute__((constructor)) static void report(void)
{
	if (wcsstr(GetCommandLineW(), L" --run "))
		return; /* a test's own process: the runner reported already */
	printf("[INFO] map path: %s; views get tracker: %s\n", ms__win_map_path(),
	       ms_tracker_name(ms_tracker_resolve(MS_TRACKER_AUTO)));
}
