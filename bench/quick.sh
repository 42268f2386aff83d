#!/bin/sh
# The bench-quick test: smoke runs of memsnap-bench whose every cell must
# verify. Usage: quick.sh path/to/memsnap-bench [benchmark...]
set -u
bin=$1
shift
[ $# -gt 0 ] || set -- restore fuzz
status=0
for b in "$@"; do
	echo "== memsnap-bench $b --quick"
	"$bin" "$b" --quick
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "memsnap-bench $b --quick failed (exit $rc)" >&2
		status=1
	fi
done
exit $status
