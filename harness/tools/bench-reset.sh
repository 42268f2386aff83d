#!/bin/sh
# Execs/s of the demo target with memsnap restore against the same harness
# resetting guest RAM by memcpy, at several guest RAM sizes, measured side by
# side: every repetition runs every configuration once, in turn, so that a
# noisy neighbour slows all of them alike. Prints every run as CSV, then the
# medians and the ratios to memcpy (docs/harness.md, "Performance").
# Medians can be recomputed from a saved output: RESULTS=FILE BUILD_DIR REPS
# SIZES... skips the runs and reads FILE.
#
# usage: harness/tools/bench-reset.sh BUILD_DIR [REPS] [RAM SIZES...]
#   REPS       repetitions (default 5); the table gives medians
#   RAM SIZES  extra guest RAM besides the demo's 92 KiB: 0 (none), 64M, 1G
#              (default: 0 64M 1G)
# Configurations: memsnap with the defaults (tracking=exact,
# MS_TRACKER_AUTO, no environment variable), tracking=exact with uffd-async
# and with uffd-sync (MEMSNAP_TRACKER), tracking=hook, and reset=memcpy.
# Environment: ITER_MEMSNAP (default 10000) and ITER_MEMCPY_PER_GIB (default
# 16; memcpy runs max(16, that * 1 GiB / RAM) iterations, at most ITER_MEMSNAP).
set -eu
BUILD=$1
REPS=${2:-5}
shift $(($# < 2 ? $# : 2))
SIZES=${*:-0 64M 1G}
CLI="$BUILD/harness/memsnap-fuzz"
CONF="$BUILD/harness/demo-x86_64.conf"
SEED=$(dirname "$0")/../demo/seeds/benign-checksum.bin
ITER_MEMSNAP=${ITER_MEMSNAP:-10000}
ITER_MEMCPY_PER_GIB=${ITER_MEMCPY_PER_GIB:-16}
CONFIGS="memsnap-default memsnap-exact-async memsnap-exact-sync memsnap-hook memcpy"
OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.med"' EXIT

bytes() {
	case $1 in
	*G) echo $((${1%G} << 30)) ;;
	*M) echo $((${1%M} << 20)) ;;
	*K) echo $((${1%K} << 10)) ;;
	*) echo "$1" ;;
	esac
}

echo "# machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs," \
	"$(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit ${COMMIT:-$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)}," \
	"$REPS repetitions, seed $(basename "$SEED")"
echo "rep,ram,config,tracking,ram_kib,execs,seconds,execs_per_sec,iteration_us,restore_us,restore_share_pct,dirty_pages_per_exec"
r=1
if [ -n "${RESULTS:-}" ]; then
	grep '^[0-9]*,' "$RESULTS" >"$OUT"
	r=$((REPS + 1))
fi
while [ $r -le "$REPS" ]; do
	for size in $SIZES; do
		ram=""
		[ "$size" != 0 ] && ram="--ram=0x40000000 $size"
		b=$(bytes "$size")
		n=$ITER_MEMSNAP
		if [ "$b" -gt 0 ]; then
			n=$((ITER_MEMCPY_PER_GIB * (1 << 30) / b))
			[ $n -lt 16 ] && n=16
			[ $n -gt "$ITER_MEMSNAP" ] && n=$ITER_MEMSNAP
		fi
		for config in $CONFIGS; do
			tracker=""
			case $config in
			memsnap-default) set -- --tracking=exact ;;
			memsnap-exact-async) set -- --tracking=exact; tracker=uffd-async ;;
			memsnap-exact-sync) set -- --tracking=exact; tracker=uffd-sync ;;
			memsnap-hook) set -- --tracking=hook ;;
			memcpy) set -- --reset=memcpy ;;
			esac
			it=$ITER_MEMSNAP
			[ $config = memcpy ] && it=$n
			line=$(env ${tracker:+MEMSNAP_TRACKER=$tracker} "$CLI" bench --config="$CONF" \
				${ram:+"$ram"} "$@" --iterations="$it" "$SEED" | sed -n 's/^csv,//p' | tail -n 1)
			echo "$r,$size,$config,${line#*,}" | tee -a "$OUT"
		done
	done
	r=$((r + 1))
done

# Medians per (ram, config), then each configuration's execs/s over memcpy's.
echo
echo "median of $REPS: ram,config,execs_per_sec,iteration_us,restore_us,restore_share_pct,dirty_pages,vs_memcpy"
for size in $SIZES; do
	for config in $CONFIGS; do
		grep "^[0-9]*,$size,$config," "$OUT" | awk -F, -v size="$size" -v config="$config" '
			{ e[NR] = $6 / $7; it[NR] = $9; rs[NR] = $10; sh[NR] = $11; d[NR] = $12 }
			function median(a, n,   i, j, t) {
				for (i = 2; i <= n; i++)
					for (j = i; j > 1 && a[j] < a[j - 1]; j--) {
						t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
					}
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			END { printf "%s,%s,%.1f,%.2f,%.2f,%.2f,%.1f\n", size, config, median(e, NR),
				median(it, NR), median(rs, NR), median(sh, NR), median(d, NR) }'
	done
done >"$OUT.med"
awk -F, '{ row[NR] = $0; if ($2 == "memcpy") base[$1] = $3; ram[NR] = $1; e[NR] = $3 }
	END { for (i = 1; i <= NR; i++)
		printf "%s,%.2fx\n", row[i], (base[ram[i]] > 0 ? e[i] / base[ram[i]] : 0) }' "$OUT.med"
rm -f "$OUT.med"
