#!/bin/sh
# One full benchmark run: results, tables and plots in bench/results/<date>/.
#
#   bench/run-all.sh [BUILD_DIR]        (default: build)
#
# Takes ~10 minutes on a 2-core VM. Sizes 16M, 256M and 1G for everything;
# Save states are written to $TMPDIR (default /tmp).
# 4 GiB only for a subset (restore at D=1,256,4096 with R=0; fuzz at D=1,16
# with ~1,000 instructions),
# to keep the run short on a shared machine. Writes:
#   machine.txt   CPU, kernel, compiler and flags, Unicorn, trackers
#   all.json      every cell (memsnap-bench --json of each run, merged)
#   all.csv       the same as CSV
#   tables.md     Markdown tables (bench/report.py)
#   *.svg *.png   plots (bench/plot.sh)
#   log.txt       stderr of every run
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
bin=$build/bench/memsnap-bench
ninja -C "$build" >/dev/null
out=$here/results/$(date -u +%Y-%m-%d)
mkdir -p "$out"
log=$out/log.txt
: >"$log"
status=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
source=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
t_start=$(date +%s)

run() { # name, then memsnap-bench arguments
	name=$1
	shift
	echo "== memsnap-bench $* --json" | tee -a "$log" >&2
	start=$(date +%s)
	if ! "$bin" "$@" --json >"$out/$name.json" 2>>"$log"; then
		echo "memsnap-bench $* failed (see $log)" >&2
		status=1
	fi
	echo "   $(($(date +%s) - start)) s" | tee -a "$log" >&2
}

run restore restore --sizes 16M,256M,1G --dirty 1,16,256,4096 --reads 0,1000
run restore-4g restore --sizes 4G --dirty 1,256,4096 --reads 0
run fuzz fuzz --ram 64M,1G --insns 1000,10000 --dirty 1,16,256
run fuzz-4g fuzz --ram 4G --insns 1000 --dirty 1,16
run snapshot snapshot --sizes 16M,256M,1G --dirty 16,256
run savestate savestate --sizes 16M,256M,1G --dirty 16,256
run pss pss --sizes 1G --dirty 100 --views 8 --rounds 1,10,100

{
	awk '/^# memsnap-bench/ { p = 1 } p { print } /^# pinned/ { exit }' "$log"
	echo "# source: git $source at start (of $here); binary: $bin"
	echo "# load average (1/5/15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# run took $(($(date +%s) - t_start)) s"
} >"$out/machine.txt"
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
cells = []
for name in ('restore', 'restore-4g', 'fuzz', 'fuzz-4g', 'snapshot', 'savestate', 'pss'):
    p = os.path.join(out, name + '.json')
    if os.path.exists(p) and os.path.getsize(p):
        cells += json.load(open(p))
with open(os.path.join(out, 'all.json'), 'w') as f:
    f.write('[\n' + ',\n'.join('  ' + json.dumps(c) for c in cells) + '\n]\n')
for name in ('restore', 'restore-4g', 'fuzz', 'fuzz-4g', 'snapshot', 'savestate', 'pss'):
    p = os.path.join(out, name + '.json')
    if os.path.exists(p):
        os.remove(p)
PY
python3 "$here/report.py" "$out/all.csv" "$out/tables.md" "$out/all.json" || status=1
"$here/plot.sh" "$out/all.json" "$out" >/dev/null
echo "results in $out" >&2
exit $status
