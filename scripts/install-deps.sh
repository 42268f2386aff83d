#!/bin/sh
# Installs what memsnap needs to build, test, fuzz and benchmark on Debian 12,
# and to cross-build the library for Windows and test it under Wine (amd64:
# wine64 needs no i386 architecture).
# Safe to run again: it installs only what is missing. Needs root (or sudo).
set -eu

PACKAGES="build-essential pkg-config meson ninja-build
  libunicorn-dev libcriterion-dev libxxhash-dev libelf-dev libdw-dev libcapstone-dev zlib1g-dev gdb
  gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi musl-tools
  clang libclang-rt-14-dev afl++ valgrind gnuplot-nox
  python3 python3-dev python3-unicorn python3-pytest
  gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 wine wine64"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps: missing packages:$missing; run this script as root" >&2
		exit 1
	}
	SUDO=sudo
fi
echo "install-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
