#!/usr/bin/env bash
# The tests that use threads of their own under ThreadSanitizer, built with
# MINICNN_TSAN=ON into build-tsan/ (the library and the test program only): one model
# shared by many threads (test_threads), and fit's batches made on a background thread
# (test_prefetch).
#
# Neither OpenMP's runtime (libgomp) nor OpenBLAS is built for ThreadSanitizer, so it
# cannot see how their thread teams synchronise and would report every parallel loop.
# The run therefore keeps those teams to one thread (MINICNN_NUM_THREADS=1) and checks
# what the tests are about: threads of the user's sharing one model, and the producer
# thread of the BatchLoader handing batches to fit. The test that
# changes the thread count under running forwards needs teams of several threads; it
# runs in the ordinary suite (scripts/test.sh) and under ASan (scripts/sanitize.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-tsan
"$root/scripts/install-deps.sh" test
"$root/scripts/fetch-data.sh"
cmake -S "$root" -B "$build" -DMINICNN_TSAN=ON -DMINICNN_BUILD_BENCH=OFF \
  -DMINICNN_BUILD_EXAMPLES=OFF -DMINICNN_BUILD_VIZ=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
cmake --build "$build" -j "$(nproc)" --target minicnn_tests

# No suppressions; any report fails the run.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export MINICNN_NUM_THREADS=1
export MINICNN_CONV_CALIBRATION=builtin  # as the ordinary suite runs (tests/CMakeLists.txt)
"$build/tests/minicnn_tests" \
  --gtest_filter='*SharedEvalForward*:BatchLoader.*:Fit.Prefetch*:Fit.PrintsTheShare*:Fit.AnAugmentation*:Fit.AModelErrorMidEpoch*:-SetNumThreads.*'
