#!/bin/sh
# Runs a Windows program under Wine, headless: the exe_wrapper of the cross
# file (cross/mingw-w64.ini). The Wine prefix is MEMSNAP_WINEPREFIX (else
# ./wineprefix), created on first use; several tests starting at once wait
# for one creation (flock).
set -eu
prefix=${MEMSNAP_WINEPREFIX:-$PWD/wineprefix}
wine=/usr/lib/wine/wine64
[ -x "$wine" ] || wine=$(command -v wine64 || command -v wine)
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$prefix/system.reg" ]; then
	mkdir -p "$(dirname "$prefix")"
	(
		flock 9
		[ -f "$prefix/system.reg" ] || "$wine" wineboot -i >/dev/null 2>&1
	) 9>"$prefix.lock"
fi
# The wineserver is started here, detached from this program's output: one
# that a test's own Wine started would inherit the test's stdout, and the
# test runner would wait for that pipe to close until the server exits. It
# stays 30 s after its last client (or until `wineserver -k`).
server=$(command -v wineserver || echo /usr/lib/wine/wineserver64)
"$server" -p30 </dev/null >/dev/null 2>&1 || true
exec "$wine" "$@"
