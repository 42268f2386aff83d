#!/bin/sh
# make demo: fuzz the bundled demo guest (x86-64) with libFuzzer, memsnap
# resetting guest RAM between inputs, from an empty corpus until the planted
# bug is found; then replay the crash for its report and print the campaign
# statistics. Usage: scripts/demo.sh [BUILD_DIR]
# MEMSNAP_DEMO_SECONDS bounds the campaign (default 90); MEMSNAP_DEMO_ARGS adds
# target options, e.g. MEMSNAP_DEMO_ARGS=--tracking=exact to compare the
# tracking modes (docs/harness.md, "Performance").
set -eu
BUILD=${1:-build}
H="$BUILD/harness"
FUZZER="$H/memsnap-fuzz-libfuzzer"
CLI="$H/memsnap-fuzz"
CONF="$H/demo-x86_64.conf"
LIMIT=${MEMSNAP_DEMO_SECONDS:-90}
EXTRA=${MEMSNAP_DEMO_ARGS:-}

for f in "$CLI" "$CONF" "$FUZZER"; do
	if [ ! -e "$f" ]; then
		echo "demo: $f is missing." >&2
		echo "demo: the demo needs the Unicorn runtime, libelf, capstone and clang's libFuzzer" >&2
		echo "demo: (libunicorn-dev libelf-dev libcapstone-dev clang libclang-rt-dev); see" >&2
		echo "demo: the 'Harness' section of 'meson setup' output, then run 'make build'." >&2
		exit 1
	fi
done

W="$BUILD/demo-run"
rm -rf "$W"
mkdir -p "$W/corpus"
echo "memsnap demo: fuzzing the demo record parser (x86-64 guest under Unicorn)"
echo "  libFuzzer, empty corpus, guest coverage only, memsnap restore between inputs"
echo "  target: $CONF   work dir: $W"

"$FUZZER" --config="$CONF" $EXTRA --crash_dir="$W" --stats_file="$W/stats" --quiet=true \
	-max_total_time="$LIMIT" -artifact_prefix="$W/" -print_final_stats=1 \
	"$W/corpus" >"$W/libfuzzer.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' INT TERM EXIT

stat_of() { sed -n "s/^$1: //p" "$W/stats" 2>/dev/null; }
tty=0
[ -t 1 ] && tty=1
start=$(date +%s)
last=0
while kill -0 $PID 2>/dev/null; do
	sleep 0.5
	now=$(date +%s)
	cov=$(grep -o 'ft: [0-9]*' "$W/libfuzzer.log" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
	line=$(printf '  %3ss  execs %s  %s execs/s  restore %s%% of iteration  dirty %s pages/iter  features %s' \
		"$((now - start))" "$(stat_of execs)" "$(stat_of execs_per_sec)" \
		"$(stat_of restore_share_pct)" "$(stat_of dirty_pages_per_exec)" "${cov:-0}")
	if [ $tty = 1 ]; then
		printf '\r%s   ' "$line"
	elif [ $((now - last)) -ge 5 ]; then
		echo "$line"
		last=$now
	fi
done
wait $PID 2>/dev/null || true
trap - INT TERM EXIT
[ $tty = 1 ] && echo
elapsed=$(($(date +%s) - start))

crash=$(ls "$W"/crash-write-* "$W"/crash-read-* "$W"/crash-fetch-* "$W"/crash-[a-z]*-[0-9a-f]* 2>/dev/null | head -n 1 || true)
if [ -z "$crash" ]; then
	echo "demo: no crash found in ${LIMIT}s; libFuzzer's output is in $W/libfuzzer.log" >&2
	exit 1
fi
echo
echo "Found the planted bug after ${elapsed}s: $crash"
echo "Replaying it without any fuzzer (memsnap-fuzz replay):"
echo
"$CLI" replay --config="$CONF" "$crash" || true
echo
echo "Campaign statistics (libFuzzer process, until the crash):"
printf '  executions:        %s in %ss\n' "$(stat_of execs)" "$(stat_of elapsed_s)"
printf '  execs/s:           %s\n' "$(stat_of execs_per_sec)"
printf '  iteration:         %s us (restore + input + guest run)\n' "$(stat_of iteration_us)"
printf '  restore:           %s us, %s%% of the iteration (goal: under 10%%)\n' "$(stat_of restore_us)" "$(stat_of restore_share_pct)"
printf '  reset:             %s, tracking %s\n' "$(stat_of reset)" "$(stat_of tracking)"
printf '  dirty pages/iter:  %s of %s guest RAM pages\n' "$(stat_of dirty_pages_per_exec)" "$(stat_of ram_pages)"
echo
echo "Reproduce: $CLI replay --config=$CONF $crash"
