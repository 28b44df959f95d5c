#!/usr/bin/env bash
# The README's first command: installs what is needed, fetches MNIST, builds (all
# through scripts/build.sh), then trains LeNet with the default settings of
# examples/mnist_lenet.cpp and reports its test accuracy. Extra arguments go to
# mnist_lenet, e.g.  bash scripts/lenet.sh --epochs 3 --threads 1
# Output files: out/lenet/ (checkpoint, metrics.csv, loss/accuracy curves, filters).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root"
exec "$root/build/examples/mnist_lenet" "$@"   # data/mnist and out/lenet under the root
