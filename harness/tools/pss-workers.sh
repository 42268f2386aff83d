#!/bin/sh
# Memory of N fuzz workers sharing one start state: starts N `memsnap-fuzz
# bench` processes on the same target, lets them run, then sums their
# proportional set size (PSS: shared pages are split between the processes
# that map them) from /proc/PID/smaps_rollup.
#
# usage: harness/tools/pss-workers.sh BUILD_DIR N SECONDS [TARGET OPTIONS...]
# e.g.   harness/tools/pss-workers.sh build 8 10 --config=build/harness/demo-x86_64.conf \
#            --ram="0x40000000 64M rw file=/tmp/ram.img" --prefault=true
# Prints one CSV line: workers,total_pss_kib,pss_per_worker_kib,private_dirty_kib
set -eu
BUILD=$1 N=$2 SECS=$3
shift 3
CLI="$BUILD/harness/memsnap-fuzz"
SEED=$(dirname "$0")/../demo/seeds/benign-checksum.bin
pids=""
i=0
while [ $i -lt "$N" ]; do
	"$CLI" bench --iterations=1000000000 "$@" "$SEED" >/dev/null 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
trap 'kill $pids 2>/dev/null || true' INT TERM EXIT
sleep "$SECS"
pss=0 dirty=0
for p in $pids; do
	v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup)
	d=$(awk '/^Private_Dirty:/ {print $2}' /proc/$p/smaps_rollup)
	pss=$((pss + v)) dirty=$((dirty + d))
done
echo "workers,total_pss_kib,pss_per_worker_kib,private_dirty_kib"
echo "$N,$pss,$((pss / N)),$dirty"
