#!/usr/bin/env bash
# The whole test suite from nothing: the packages for building and testing, the
# datasets, the build of everything (library, tests, benchmarks, examples), then ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" test
"$root/scripts/fetch-data.sh"
"$root/scripts/build.sh" -DMINICNN_BUILD_TESTS=ON -DMINICNN_BUILD_BENCH=ON -DMINICNN_BUILD_EXAMPLES=ON
cd "$root/build"
ctest --output-on-failure -j "$(nproc)"
