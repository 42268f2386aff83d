#!/bin/sh
# Unicorn runtime (issue 4): iterations/s of the runtime against the limit,
# the floor and the floor with the CPU context restored, in paired
# per-round ratios; the cost of hot-page check rounds. Run from the
# repository root on a quiet machine:
#   sh bench/results/2026-11-27-runtime/run.sh build
set -eu
BUILD=${1:-build}
B=$BUILD/bench/memsnap-bench
OUT=$(dirname "$0")
cat /proc/loadavg >"$OUT/load-start.txt"

# Hot-page check rounds: this library (checks back off to every 256th
# restore) against the same code checking every 16th restore.
HOT16=$(mktemp -d)
meson setup "$HOT16" -Dc_args=-DMS_HOT_CHECK_MAX=16 -Dtests=disabled -Dharness=disabled \
	-Druntime=disabled >/dev/null
ninja -C "$HOT16" >/dev/null
for b in "$BUILD" "$HOT16"; do
	cc -O2 -std=c11 -Ilib/include "$OUT/hot-check.c" -L"$b/lib" -lmemsnap \
		-Wl,-rpath,"$(cd "$b" && pwd)/lib" -o "$b/hot-check"
done
: >"$OUT/hot-check.txt"
for d in 4 16 64; do
	for round in 1 2 3; do
		printf 'backoff  ' >>"$OUT/hot-check.txt"
		taskset -c 1 "$BUILD/hot-check" $d >>"$OUT/hot-check.txt"
		printf 'every16  ' >>"$OUT/hot-check.txt"
		taskset -c 1 "$HOT16/hot-check" $d >>"$OUT/hot-check.txt"
	done
done
rm -rf "$HOT16"

# The runtime with its views on uffd-sync (hot pages on, no write hook).
for run in 1 2; do
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4,16,256 --insns 1000,10000 \
		--rounds 11 --strategies floor,floor-cpu,limit,memsnap-uc \
		>"$OUT/fuzz-$run.txt" 2>"$OUT/fuzz-$run.err"
done
MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M --dirty 4,16,256 --insns 1000 \
	--strategies limit,memsnap-uc,memcpy >"$OUT/fuzz-memcpy.txt" 2>"$OUT/fuzz-memcpy.err"
cat /proc/loadavg >"$OUT/load-end.txt"
