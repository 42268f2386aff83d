#!/bin/sh
# Hot pages (issues 3 and 4): whole-iteration cost of a 1 GiB view with the
# same pages written every iteration (--pages fixed, a fuzz loop) and with
# new random pages (--pages random), and Unicorn iterations/s of the runtime
# against the limit and the floor. Run from the repository root on a quiet
# machine:  sh bench/results/2026-11-27-hot/run.sh build
set -eu
B=${1:-build}/bench/memsnap-bench
OUT=$(dirname "$0")
cat /proc/loadavg >"$OUT/load-start.txt"
for p in fixed random; do
	$B restore --sizes 16M,256M,1G --dirty 1,16,256,4096 --reads 0 --pages $p --reps 41 \
		--strategies memcpy,memsnap-uffd-async,memsnap-uffd-sync,memsnap-uffd-sync-hot,memsnap-mprotect-hot,limit \
		>"$OUT/restore-$p.txt" 2>"$OUT/restore-$p.err"
done
# The runtime with its views on uffd-sync (hot pages on, no write hook).
MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4,16,256 --insns 1000,10000 \
	--strategies floor,limit,memsnap-uc >"$OUT/fuzz-1.txt" 2>"$OUT/fuzz-1.err"
MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4,16,256 --insns 1000,10000 \
	--strategies floor,limit,memsnap-uc >"$OUT/fuzz-2.txt" 2>"$OUT/fuzz-2.err"
MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M --dirty 4,16,256 --insns 1000 \
	--strategies limit,memsnap-uc,memcpy >"$OUT/fuzz-memcpy.txt" 2>"$OUT/fuzz-memcpy.err"
cat /proc/loadavg >"$OUT/load-end.txt"
