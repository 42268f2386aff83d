#!/bin/sh
# Memory of N fuzz workers sharing one start state: starts N `memsnap-fuzz
# bench` processes on the same target, waits until every one of them is
# running inputs, lets them run, then sums their proportional set size (PSS:
# a page mapped by k processes counts 1/k in each) from
# /proc/PID/smaps_rollup. The workers are stopped afterwards.
#
# usage: harness/tools/pss-workers.sh BUILD_DIR N SECONDS [TARGET OPTIONS...]
# e.g.   head -c 64M /dev/urandom > /tmp/ram.img
#        harness/tools/pss-workers.sh build 8 10 --config=build/harness/demo-x86_64.conf \
#            "--ram=0x40000000 64M rw file=/tmp/ram.img" --prefault=true
# Prints a CSV header and one line (KiB):
#   workers        N
#   ram_kib        guest RAM mapped per worker
#   total_pss_kib  PSS of all workers together; pss_per_worker_kib = total / N
#   pss_anon_kib, pss_file_kib, pss_shmem_kib  the same split by kind of page
#                  (file: page cache of file-backed RAM and the binaries;
#                  shmem: memsnap's memfd snapshots; anon: private copies,
#                  heaps, Unicorn's translation buffer)
#   private_dirty_kib  pages that belong to one worker alone, summed
#   execs_per_sec  of all workers together while they were measured
set -eu
if [ $# -lt 3 ]; then
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
BUILD=$1 N=$2 SECS=$3
shift 3
CLI="$BUILD/harness/memsnap-fuzz"
SEED=$(dirname "$0")/../demo/seeds/benign-checksum.bin
if [ ! -x "$CLI" ]; then
	echo "pss-workers: $CLI is missing (build the harness first)" >&2
	exit 2
fi
W=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

i=1
while [ $i -le "$N" ]; do
	"$CLI" bench --iterations=1000000000000 "$@" --stats_file="$W/$i.stats" "$SEED" \
		>"$W/$i.out" 2>"$W/$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done

stat_of() { sed -n "s/^$2: //p" "$W/$1.stats" 2>/dev/null; }
alive() {
	i=1
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "pss-workers: worker $i (pid $p) exited:" >&2
			cat "$W/$i.err" "$W/$i.out" >&2
			exit 1
		fi
		i=$((i + 1))
	done
}

# Wait (up to 5 minutes: prefaulting 1 GiB takes a while) until every worker
# has written statistics, i.e. built its target and run inputs.
waited=0
while :; do
	alive
	ready=0
	i=1
	while [ $i -le "$N" ]; do
		[ -n "$(stat_of $i execs)" ] && ready=$((ready + 1))
		i=$((i + 1))
	done
	[ $ready -eq "$N" ] && break
	if [ $waited -ge 600 ]; then
		echo "pss-workers: workers did not start within 5 minutes" >&2
		exit 1
	fi
	sleep 0.5
	waited=$((waited + 1))
done

execs_before=0
i=1
while [ $i -le "$N" ]; do
	execs_before=$((execs_before + $(stat_of $i execs)))
	i=$((i + 1))
done
sleep "$SECS"
alive
pss=0 anon=0 file=0 shmem=0 dirty=0 execs_after=0
i=1
for p in $pids; do
	eval "$(awk '/^Pss:/ {printf "v=%d;", $2} /^Pss_Anon:/ {printf "a=%d;", $2}
		/^Pss_File:/ {printf "f=%d;", $2} /^Pss_Shmem:/ {printf "s=%d;", $2}
		/^Private_Dirty:/ {printf "d=%d;", $2}' "/proc/$p/smaps_rollup")"
	pss=$((pss + v)) anon=$((anon + a)) file=$((file + f)) shmem=$((shmem + s))
	dirty=$((dirty + d))
	execs_after=$((execs_after + $(stat_of $i execs)))
	i=$((i + 1))
done
ram_kib=$(($(stat_of 1 ram_pages) * 4))
echo "workers,ram_kib,total_pss_kib,pss_per_worker_kib,pss_anon_kib,pss_file_kib,pss_shmem_kib,private_dirty_kib,execs_per_sec"
echo "$N,$ram_kib,$pss,$((pss / N)),$anon,$file,$shmem,$dirty,$(((execs_after - execs_before) / SECS))"
