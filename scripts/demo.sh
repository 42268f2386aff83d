#!/bin/sh
# The main job: until the fuzz demo lands, run the example program.
set -eu
BUILD=${1:-build}
exec "$BUILD/docs/examples/quickstart"
