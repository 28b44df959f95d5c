#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into build-fuzz/ and runs each for a
# bounded time, all at once (one per core), starting from the seed corpus in fuzz/corpus/.
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   which targets (default: "idx safetensors image")
# New inputs the fuzzers find go to build-fuzz/run/<target>/corpus (fuzz/corpus/ is only
# read). A crash, sanitizer report, leak, out-of-memory or hang fails the run; its input
# is saved under build-fuzz/run/<target>/artifacts/. Once fixed, keep that input under
# tests/data/fuzz-regressions/<target>/, where the test suite checks that it throws Error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
read -r -a targets <<< "${FUZZ_TARGETS:-idx safetensors image}"
build=$root/build-fuzz

"$root/scripts/install-deps.sh" fuzz
cxx=${FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx is missing (Debian package clang-14)" >&2; exit 1; }
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMINICNN_FUZZ=ON -DMINICNN_BUILD_TESTS=OFF -DMINICNN_BUILD_BENCH=OFF \
  -DMINICNN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[[ -n "$symbolizer" ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

pids=()
for t in "${targets[@]}"; do
  run=$build/run/$t
  rm -rf "$run/artifacts"  # only this run's findings
  mkdir -p "$run/corpus" "$run/artifacts"
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: libFuzzer's default, and
  # any single allocation above it (a lying header) is reported as a bug.
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
    "$run/corpus" "$root/fuzz/corpus/$t" > "$run/log" 2>&1 &
  pids+=($!)
done

status=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  run=$build/run/$t
  if wait "${pids[$i]}"; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log")
    cov=$(grep -o 'cov: [0-9]*' "$run/log" | tail -1)
    echo "fuzz: fuzz_$t ran ${execs:-?} inputs in ${seconds} s, ${cov:-cov: ?}, corpus $(ls "$run/corpus" | wc -l) files: no crash"
  else
    status=1
    echo "fuzz: fuzz_$t FAILED; its log ends:" >&2
    tail -60 "$run/log" >&2
    echo "fuzz: the input is in $run/artifacts/: fix the reader, then keep the input under" \
         "tests/data/fuzz-regressions/$t/" >&2
  fi
done
exit $status
