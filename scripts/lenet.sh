#!/usr/bin/env bash
# The README's first command: installs the packages the library and the example need,
# fetches MNIST, builds the library and mnist_lenet only (no tests, no benchmarks), then
# trains LeNet with the default settings of examples/mnist_lenet.cpp and reports its
# test accuracy. Extra arguments go to mnist_lenet, e.g.
#   bash scripts/lenet.sh --epochs 3 --threads 1
# Output files: out/lenet/ (checkpoint, metrics.csv, loss/accuracy curves, filters).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/fetch-data.sh" mnist
# A first configure leaves tests and benchmarks out (their packages are not installed
# here); a build/ that scripts/test.sh configured keeps its settings.
args=(-DMINICNN_BUILD_EXAMPLES=ON)
[[ -f "$root/build/CMakeCache.txt" ]] || args+=(-DMINICNN_BUILD_TESTS=OFF -DMINICNN_BUILD_BENCH=OFF)
CMAKE_TARGETS=mnist_lenet "$root/scripts/build.sh" "${args[@]}"
cd "$root"
exec "$root/build/examples/mnist_lenet" "$@"   # data/mnist and out/lenet under the root
