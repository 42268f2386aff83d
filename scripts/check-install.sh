#!/bin/sh
# Installs a build tree into a scratch DESTDIR and checks that every
# installed program starts without LD_LIBRARY_PATH (their rpaths are
# relative to the program), and that an extension builds against the
# installed memsnap/fuzz.h with pkg-config and runs in the installed
# memsnap-fuzz.
#   scripts/check-install.sh [BUILD]
set -eu
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEST=$(mktemp -d)
trap 'rm -rf "$DEST"' EXIT
meson install -C "$BUILD" --destdir "$DEST" --quiet
PREFIX=$(meson introspect "$BUILD" --buildoptions |
	python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
ROOT=$DEST$PREFIX
# Move the tree once more: nothing may depend on where it was installed.
mv "$ROOT" "$DEST/moved"
ROOT=$DEST/moved
fail=0
for p in "$ROOT"/bin/*; do
	# --help, or for the fuzzer targets (which take no --help) a setup
	# error, proves that the dynamic linker found every library.
	out=$(cd / && env -u LD_LIBRARY_PATH "$p" --help 2>&1 </dev/null) || true
	if echo "$out" | grep -q "error while loading shared libraries"; then
		echo "FAIL $(basename "$p"): $out"
		fail=1
	else
		echo "ok   $(basename "$p")"
	fi
done
PC=$(find "$ROOT" -name memsnap-fuzz.pc)
[ -n "$PC" ] || { echo "FAIL: memsnap-fuzz.pc not installed"; exit 1; }
echo "ok   pkg-config files: $(dirname "$PC")"
# Build the example extension the way a user does, against the moved tree.
FLAGS=$(PKG_CONFIG_PATH=$(dirname "$PC") pkg-config --define-variable=prefix="$ROOT" \
	--cflags --libs memsnap-fuzz)
cc -shared -fPIC -Wall -Wextra -Werror "$SRC/docs/examples/fuzz_extension/extension.c" \
	-o "$DEST/fw_extension.so" $FLAGS
ELF=$BUILD/docs/fuzz-example-firmware.elf
if [ -f "$ELF" ]; then
	printf 'P\377' > "$DEST/crash"
	env -u LD_LIBRARY_PATH "$ROOT/bin/memsnap-fuzz" replay --elf="$ELF" --entry=firmware_main \
		--extension="$DEST/fw_extension.so" "$DEST/crash" | grep -q "CRASH: assertion" &&
		echo "ok   extension built with pkg-config runs in the installed memsnap-fuzz" ||
		{ echo "FAIL: the installed memsnap-fuzz did not run the extension"; fail=1; }
fi
exit $fail
