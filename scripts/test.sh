#!/usr/bin/env bash
# The whole test suite from nothing: dependencies, datasets, build, then ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "$(nproc)"
