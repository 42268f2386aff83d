#!/bin/sh
# Unicorn runtime (issue 4) with restore timing opt-in (ms_uc_set_restore_timing,
# off by default): iterations/s of the runtime (memsnap-uc) and of the
# runtime with timing on (memsnap-uc-timed) against the limit, the floor and
# the floor with the CPU context restored, in paired per-round ratios; the
# runtime against a memcpy of all guest RAM; the view-level restore with hot
# pages against the limit. Run from the repository root on a quiet machine
# (memsnap-bench pins itself to one CPU):
#   sh bench/results/2026-11-27-untimed/run.sh build
set -eu
BUILD=${1:-build}
B=$BUILD/bench/memsnap-bench
OUT=$(dirname "$0")
cat /proc/loadavg >"$OUT/load-start.txt"

# The runtime with its views on uffd-sync (hot pages on, no write hook).
for run in 1 2; do
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4,16,256 --insns 1000,10000 \
		--rounds 11 --strategies floor,floor-cpu,limit,memsnap-uc,memsnap-uc-timed \
		>"$OUT/fuzz-$run.txt" 2>"$OUT/fuzz-$run.err"
done
MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M --dirty 4,16,256 --insns 1000 \
	--strategies limit,memsnap-uc,memcpy >"$OUT/fuzz-memcpy.txt" 2>"$OUT/fuzz-memcpy.err"
# The library alone: a view with hot pages on uffd-sync, the same fixed
# pages written every iteration.
$B restore --sizes 64M,1G --dirty 1,16,256 --reads 0 --pages fixed --reps 41 \
	--strategies memsnap-uffd-sync-hot,limit >"$OUT/restore.txt" 2>"$OUT/restore.err"
cat /proc/loadavg >"$OUT/load-end.txt"

# The floor goal's cell alone (10,000 instructions, 4 pages), 31 rounds, two
# runs: the median of a paired ratio settles with more rounds.
for run in 1 2; do
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4 --insns 10000 --rounds 31 \
		--strategies floor,floor-cpu,limit,memsnap-uc,memsnap-uc-timed \
		>"$OUT/floor-$run.txt" 2>"$OUT/floor-$run.err"
done
cat /proc/loadavg >"$OUT/load-end-floor.txt"

# The same cell with only the strategies the floor goal names (and then with
# the limit as well): every extra engine in the rotation competes for the
# caches, and the 4-strategy rotation above reads lower.
for run in 1 2; do
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4 --insns 10000 --rounds 31 \
		--strategies floor,memsnap-uc >"$OUT/floor-pair-$run.txt" 2>"$OUT/floor-pair-$run.err"
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 64M,4G --dirty 4 --insns 10000 --rounds 31 \
		--strategies floor,limit,memsnap-uc >"$OUT/floor-limit-$run.txt" \
		2>"$OUT/floor-limit-$run.err"
done

# At 4 GiB, two engines in the rotation: the limit against the floor, then
# memsnap against the floor (the limit's level in the same conditions).
for run in 1 2; do
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 4G --dirty 4 --insns 10000 --rounds 31 \
		--strategies floor,limit >"$OUT/floor-pair-limit-4g-$run.txt" 2>&1
	MEMSNAP_TRACKER=uffd-sync $B fuzz --ram 4G --dirty 4 --insns 10000 --rounds 31 \
		--strategies floor,memsnap-uc >"$OUT/floor-pair-4g-$run.txt" 2>&1
done
