#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer,
# part of ASan), built with MINICNN_SANITIZE=ON into build-asan/ without benchmarks or
# examples, and with libstdc++'s own bounds checks (_GLIBCXX_ASSERTIONS). Any report
# fails the test that triggered it. -O1 keeps both the build and the run short.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-asan
"$root/scripts/install-deps.sh" test
"$root/scripts/fetch-data.sh"
cmake -S "$root" -B "$build" -DMINICNN_SANITIZE=ON -DMINICNN_BUILD_BENCH=OFF \
  -DMINICNN_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS="-D_GLIBCXX_ASSERTIONS" >/dev/null
cmake --build "$build" -j "$(nproc)"

# No suppressions: the suite runs clean with OpenMP and OpenBLAS as they are.
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build"
ctest --output-on-failure -j "$(nproc)"
