#!/bin/sh
# Run the loader fuzz target: run.sh FUZZER WORKDIR SEEDS [libFuzzer flags...]
# New inputs go to WORKDIR (the seeds in the repository are never written).
set -e
fuzzer=$1 work=$2 seeds=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
