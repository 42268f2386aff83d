#!/bin/sh
# Time for libFuzzer to find each bug of a target, as the median over several
# seeds. Each run starts from the same corpus, fuzzes in fork mode (it keeps
# going after a crash) with crash files named by bucket
# (crash-<kind>-<bucket>), and stops once every kind asked for has a file or
# after SECONDS. A kind not found in a run counts as SECONDS ("> SECONDS" in
# the table) and a median that is such a run is printed as "> SECONDS".
# Next to the seconds, the executions libFuzzer had made by then (its last
# status line), which do not depend on how loaded the machine is.
#
# usage: harness/tools/time-to-bug.sh BUILD_DIR SECONDS RUNS KINDS CORPUS_DIR [TARGET OPTIONS...]
#   KINDS  comma-separated crash kinds, e.g. heap-overflow,use-after-free,double-free
# e.g.   harness/tools/time-to-bug.sh build 300 5 heap-overflow,use-after-free,double-free \
#            harness/heapdemo/seeds --config=build/harness/heapdemo-x86_64.conf --heap=sanitize
# Prints one line per run (seed, then seconds and executions to each kind)
# and the medians, then the medians as a line prefixed with "csv,".
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
	PID=
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

now() { date +%s.%N; }
RESULTS="$WORK/results"
: > "$RESULTS"
printf '%-6s' seed
for k in $KINDS; do printf ' %22s' "$k s (execs)"; done
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
				# Executions so far: fork mode's last status line
				# ("#N: cov: ..."), at most a second old.
				execs=$(sed -n 's/^#\([0-9]*\):* .*/\1/p' "$run/log" | tail -n 1)
				echo "$seed $k $t ${execs:-0}" >> "$RESULTS"
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
		t=$(awk -v s="$seed" -v k="$k" '$1 == s && $2 == k { printf "%.1f (%d)", $3, $4 }' "$RESULTS")
		printf ' %22s' "${t:->  $SECS}"
	done
	printf '\n'
done
median() { # KIND COLUMN: the median of a column over the runs, "> SECS"
	awk -v k="$1" -v col="$2" -v n="$RUNS" -v cap="$SECS" '
		$2 == k { v[c++] = $col }
		END {
			c += 0
			for (; c < n; c++) v[c] = "none"  # not found: after any found
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
				if (v[j] == "none" ? 0 : v[i] == "none" ? 1 : v[j] < v[i] + 0) {
					x = v[i]; v[i] = v[j]; v[j] = x
				}
			m = v[int((n - 1) / 2)]
			if (m == "none") print "> " (col == 3 ? cap : "?")
			else if (col == 3) printf "%.1f\n", m
			else printf "%d\n", m
		}' "$RESULTS"
}
printf '%-6s' median
csv="csv,median"
for k in $KINDS; do
	m=$(median "$k" 3)
	e=$(median "$k" 4)
	printf ' %22s' "$m ($e)"
	csv="$csv,$k=${m}s/${e}execs"
done
printf '\n%s\n' "$csv"
