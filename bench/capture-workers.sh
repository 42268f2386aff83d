#!/bin/sh
# The memory of N fuzz workers on one start state (docs/capture.md,
# "Figures"): N `memsnap-fuzz bench` processes on CONFIG, each with every
# page of guest RAM read once (prefault = true, so that what a long campaign
# touches is mapped), their PSS and RSS summed from /proc/PID/smaps_rollup
# after WAIT seconds. A start state shared by the workers is counted once in
# the PSS sum, whatever N. PREFAULT=false measures what the runs touch.
#
#   bench/capture-workers.sh BUILD CONFIG INPUT N [WAIT]
set -eu
build=$1 conf=$2 input=$3 n=$4 wait=${5:-6}
pids=""
for i in $(seq "$n"); do
	"$build/harness/memsnap-fuzz" bench --config="$conf" --prefault="${PREFAULT:-true}" \
		--iterations=1000000000 "$input" >/dev/null 2>&1 &
	pids="$pids $!"
done
sleep "$wait"
pss=0 rss=0
for p in $pids; do
	pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
	rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
done
kill $pids
wait 2>/dev/null || true
echo "workers $n  pss_total_kib $pss  rss_total_kib $rss  pss_per_worker_kib $((pss / n))"
