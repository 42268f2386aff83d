#!/bin/sh
# One full benchmark run: results, tables and plots in bench/results/<date>/.
#
#   bench/run-all.sh [BUILD_DIR]        (default: build)
#
# Takes ~20 minutes on a 2-core VM. Sizes 16M, 256M and 1G for the library;
# the restore at 4 GiB and the runtime at 64 MiB and 4 GiB; save states are
# written to $TMPDIR (default /tmp). Nothing is pinned and no environment
# variable is set: the figures are what users get. Writes:
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

# What users get is the strategy `memsnap` (ms_view_new: MS_TRACKER_AUTO,
# hot pages on) and `memsnap-uc` (the runtime with no setting); the others
# are there to compare.
R="memcpy,remap,dontneed,memsnap,memsnap-uffd-async,memsnap-uffd-sync,limit"
run restore-fixed restore --pages fixed --sizes 16M,256M,1G --dirty 1,16,256 --reads 0 --reps 101 \
	--strategies $R,memsnap-uffd-thread-exact
run restore-random restore --pages random --sizes 16M,256M,1G --dirty 1,16,256,4096 --reads 0 \
	--strategies $R
run restore-4g restore --pages fixed --sizes 4G --dirty 1,16,256 --reads 0 \
	--strategies dontneed,memsnap,memsnap-uffd-async,limit
F="floor,floor-cpu,limit,memsnap,memsnap-uc,memsnap-uc-2stops"
run fuzz fuzz --ram 64M,4G --insns 1000,10000 --dirty 4,16,256 --rounds 11 --strategies $F
run fuzz-memcpy fuzz --ram 64M --insns 1000 --dirty 4,16 --strategies limit,memsnap-uc,memcpy
run snapshot snapshot --sizes 16M,256M,1G --dirty 16,256
run savestate savestate --sizes 16M,256M,1G --dirty 16,256
run pss pss --sizes 1G --dirty 100 --views 8 --rounds 1,10,100 --strategies memsnap

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
NAMES = ('restore-fixed', 'restore-random', 'restore-4g', 'fuzz', 'fuzz-memcpy', 'snapshot',
         'savestate', 'pss')
for name in NAMES:
    p = os.path.join(out, name + '.json')
    if os.path.exists(p) and os.path.getsize(p):
        for c in json.load(open(p)):
            if c.get('bench') == 'restore':
                c['pages'] = 'random' if name == 'restore-random' else 'fixed'
            if name == 'fuzz-memcpy':
                c['run'] = 'memcpy'
            cells.append(c)
with open(os.path.join(out, 'all.json'), 'w') as f:
    f.write('[\n' + ',\n'.join('  ' + json.dumps(c) for c in cells) + '\n]\n')
for name in NAMES:
    p = os.path.join(out, name + '.json')
    if os.path.exists(p):
        os.remove(p)
PY
python3 "$here/report.py" "$out/all.csv" "$out/tables.md" "$out/all.json" || status=1
"$here/plot.sh" "$out/all.json" "$out" >/dev/null
echo "results in $out" >&2
exit $status
