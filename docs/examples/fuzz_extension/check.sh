#!/bin/sh
# Runs the extension example end to end: replay of a benign and a crashing
# input with memsnap-fuzz, then (when built) libFuzzer finding the
# assertion from an empty corpus with the same extension.
#   check.sh CLI CONFIG [LIBFUZZER]
set -eu
CLI=$1 CONF=$2 LIBFUZZER=${3:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf 'LxS' > "$TMP/benign"
printf 'P\002ab' > "$TMP/small"
printf 'P\377' > "$TMP/crash"
out=$("$CLI" replay --config="$CONF" "$TMP/benign" "$TMP/small")
echo "$out"
echo "$out" | grep -q "benign: ok, returned 2"
echo "$out" | grep -q "small: ok, returned 1"
if "$CLI" replay --config="$CONF" "$TMP/crash" > "$TMP/out"; then
	echo "check: the crashing input did not crash" >&2; exit 1
fi
cat "$TMP/out"
grep -q "CRASH: assertion" "$TMP/out"
grep -q "<assert_fail+0x0>" "$TMP/out"
if [ -n "$LIBFUZZER" ]; then
	mkdir "$TMP/corpus" "$TMP/crashes"
	cd "$TMP"
	if "$LIBFUZZER" --config="$CONF" --crash_dir="$TMP/crashes" --quiet=true \
		-max_total_time=120 -seed=1 "$TMP/corpus" > "$TMP/fuzz.log" 2>&1; then
		tail -5 "$TMP/fuzz.log"; echo "check: libFuzzer found nothing" >&2; exit 1
	fi
	ls "$TMP/crashes" | grep -q "assertion" || { tail -20 "$TMP/fuzz.log"; exit 1; }
	echo "libFuzzer found: $(ls "$TMP/crashes")"
fi
