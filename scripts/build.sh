#!/usr/bin/env bash
# Configures and builds minicnn (Release) into build/. Arguments go to cmake's configure
# step; CMAKE_TARGETS (space-separated) builds only those targets. Installs nothing:
# the scripts that call it install what their purpose needs first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
targets=()
for t in ${CMAKE_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$root/build" -j "$(nproc)" "${targets[@]}"
