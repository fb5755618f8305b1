#!/usr/bin/env bash
# Pack a compact, pixel-identical copy of the training images for a lent GPU machine, whose
# working-tree transfer is capped at 64 MiB (Original/ is 57 MB).
#
# jpegtran re-codes each JPEG losslessly (optimised Huffman tables, progressive scan, metadata
# dropped): the decoded pixels are unchanged, the files are ~11% smaller. Byte hashes change, so
# a run trained on the copy is re-exported against the originals with
# `python -m model.export RUN --data-dir ../shared/data/all-taleqani/Original`.
#
# Usage: bash bench/gpu/pack_dataset.sh [SRC] [OUT_TAR]   (needs jpegtran: libjpeg-turbo-progs)
set -euo pipefail
SRC=${1:-../shared/data/all-taleqani/Original}
OUT=${2:-.devdata/Original.tar}
command -v jpegtran >/dev/null || { echo "jpegtran not found (apt-get install libjpeg-turbo-progs)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/Original"
(cd "$SRC" && find . -type f -iname '*.jpg' -print0) | while IFS= read -r -d '' f; do
    mkdir -p "$tmp/Original/$(dirname "$f")"
    jpegtran -optimize -progressive -copy none "$SRC/$f" > "$tmp/Original/$f"
done
mkdir -p "$(dirname "$OUT")"
tar -cf "$OUT" -C "$tmp" Original
echo "$OUT: $(find "$tmp/Original" -type f | wc -l) images, $(du -h "$OUT" | cut -f1)"
