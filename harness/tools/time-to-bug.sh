#!/bin/sh
# Time for libFuzzer to find each bug of a target, as the median over several
# seeds. Each run starts from the same corpus, fuzzes in fork mode (it keeps
# going after a crash) with crash files named by bucket
# (crash-<kind>-<bucket>), and stops once every kind asked for has a file or
# after SECONDS. A kind not found in a run counts as SECONDS ("> SECONDS" in
# the table) and a median that is such a run is printed as "> SECONDS".
#
# usage: harness/tools/time-to-bug.sh BUILD_DIR SECONDS RUNS KINDS CORPUS_DIR [TARGET OPTIONS...]
#   KINDS  comma-separated crash kinds, e.g. heap-overflow,use-after-free,double-free
# e.g.   harness/tools/time-to-bug.sh build 300 5 heap-overflow,use-after-free,double-free \
#            harness/heapdemo/seeds --config=build/harness/heapdemo-x86_64.conf --heap=sanitize
# Prints one line per run (seed, then seconds to each kind) and the medians,
# then the same as CSV lines prefixed with "csv,".
set -eu
if [ $# -lt 5 ]; then
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
BUILD=$1 SECS=$2 RUNS=$3 KINDS=$4 CORPUS=$5
shift 5
FUZZER="$BUILD/harness/memsnap-fuzz-libfuzzer"
[ -x "$FUZZER" ] || { echo "time-to-bug: $FUZZER not built (clang's libFuzzer)" >&2; exit 2; }
KINDS=$(echo "$KINDS" | tr ',' ' ')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/memsnap-ttb.XXXXXX")
PID=
# libFuzzer's fork mode keeps starting jobs after a SIGTERM, so the group
# gets SIGKILL after a grace period, and the fork-mode scratch directory the
# parent leaves behind is removed.
stop() {
	kill -TERM -- "-$1" 2>/dev/null || return 0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL -- "-$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	rm -rf "${TMPDIR:-/tmp}/libFuzzerTemp.FuzzWithFork$1.dir"
}
cleanup() {
	[ -n "$PID" ] && stop "$PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
RESULTS="$WORK/results"
: > "$RESULTS"
printf '%-6s' seed
for k in $KINDS; do printf ' %16s' "$k"; done
printf '\n'
for seed in $(seq 1 "$RUNS"); do
	run="$WORK/run$seed"
	mkdir -p "$run/crashes" "$run/corpus"
	cp "$CORPUS"/* "$run/corpus/"
	start=$(now)
	# setsid: the fuzzer and its fork-mode children form one group to stop.
	setsid "$FUZZER" "$@" --crash_dir="$run/crashes" --quiet=true -fork=1 \
		-ignore_crashes=1 -max_total_time="$SECS" -seed="$seed" \
		-artifact_prefix="$run/" "$run/corpus" > "$run/log" 2>&1 &
	PID=$!
	line=$seed
	found=""
	while kill -0 "$PID" 2>/dev/null; do
		t=$(awk -v a="$(now)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
		all=1
		for k in $KINDS; do
			case " $found " in *" $k "*) continue ;; esac
			if ls "$run/crashes/crash-$k-"* > /dev/null 2>&1; then
				found="$found $k"
				echo "$seed $k $t" >> "$RESULTS"
			else
				all=0
			fi
		done
		[ $all = 1 ] && break
		awk -v t="$t" -v s="$SECS" 'BEGIN { exit !(t > s + 10) }' && break
		sleep 0.2
	done
	stop "$PID"
	PID=
	printf '%-6s' "$seed"
	for k in $KINDS; do
		t=$(awk -v s="$seed" -v k="$k" '$1 == s && $2 == k { print $3 }' "$RESULTS")
		if [ -n "$t" ]; then printf ' %16.1f' "$t"; else printf ' %16s' "> $SECS"; fi
	done
	printf '\n'
done
printf '%-6s' median
csv="csv,median_seconds"
for k in $KINDS; do
	m=$(awk -v k="$k" -v n="$RUNS" -v cap="$SECS" '
		$2 == k { v[c++] = $3 }
		END {
			c += 0
			for (; c < n; c++) v[c] = cap + 1e9  # not found: later than any found
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
				if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
			m = v[int((n - 1) / 2)]
			if (m > cap) print "> " cap; else printf "%.1f\n", m
		}' "$RESULTS")
	printf ' %16s' "$m"
	csv="$csv,$k=$m"
done
printf '\n%s\n' "$csv"
