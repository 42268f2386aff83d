#!/bin/sh
# The cost of heap = sanitize: execs/s of the harness test guest's malloc
# workload (tests/harness/guest/guest.c, t_heap 'w': a linked list of 128
# nodes built from the input, walked and freed) with the guest's own bump
# allocator and with the sanitizer, ROUNDS times in turn; prints the
# medians and their ratio.
#
#   harness/tools/bench-heap.sh BUILD [ROUNDS] [ITERATIONS] [ARCH]
#
# ARCH is x86_64 (default) or thumb. With CALLGRIND=1 it counts host
# instructions under valgrind's callgrind instead (one run of each, the
# same on any load; ITERATIONS 200 is plenty), the stable figure on a
# shared machine.
set -eu
BUILD=${1:?usage: bench-heap.sh BUILD [ROUNDS] [ITERATIONS] [ARCH]}
ROUNDS=${2:-5}
ITER=${3:-3000}
ARCH=${4:-x86_64}
CLI=$BUILD/harness/memsnap-fuzz
ELF=$BUILD/tests/harness/harness-guest-$ARCH.elf
[ -x "$CLI" ] && [ -f "$ELF" ] || { echo "bench-heap: build $BUILD first (meson compile)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# 'w' then 256 fixed pseudo-random bytes: the same input every time.
{ printf w; i=0; x=12345; while [ $i -lt 256 ]; do
	x=$(( (x * 1103515245 + 12345) % 2147483648 )); printf "\\$(printf %o $(( x / 65536 % 256 )))"
	i=$((i + 1)); done; } > "$TMP/input"
if [ -n "${CALLGRIND:-}" ]; then
	for heap in off sanitize; do
		valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$heap" "$CLI" bench --elf="$ELF" \
			--entry=t_heap --heap=$heap --iterations="$ITER" "$TMP/input" >/dev/null 2>&1
		echo "$heap $(callgrind_annotate "$TMP/cg.$heap" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')" >> "$TMP/ir"
	done
	awk '{ ir[$1] = $2; printf "heap = %-9s %.0f host instructions for %d inputs\n", $1 ":", $2, '"$ITER"' }
	     END { printf "sanitize keeps %.0f%% of the speed in host instructions (off / sanitize)\n", 100 * ir["off"] / ir["sanitize"] }' "$TMP/ir"
	exit 0
fi
for r in $(seq "$ROUNDS"); do
	for heap in off sanitize; do
		"$CLI" bench --elf="$ELF" --entry=t_heap --heap=$heap --iterations="$ITER" "$TMP/input" |
			awk -F, -v h=$heap '/^csv,memsnap/ { print h, $7 }' >> "$TMP/runs"
	done
done
median() { grep "^$1 " "$TMP/runs" | cut -d' ' -f2 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
OFF=$(median off)
SAN=$(median sanitize)
echo "heap = off:      $OFF execs/s (median of $ROUNDS)"
echo "heap = sanitize: $SAN execs/s (median of $ROUNDS)"
awk -v a="$SAN" -v b="$OFF" 'BEGIN { printf "sanitize keeps %.0f%% of the execs/s\n", 100 * a / b }'
