#!/usr/bin/env bash
# Packs self-contained binaries (scripts/build-static.sh's dist/) into one
# solid archive for the GPU machine's 64 MiB carry:
#   bash scripts/pack-dist.sh FOLDER FILE...   -> FOLDER/dist.tar.xz
# The binaries share most of their code (static MLIR/LLVM), so one xz stream
# whose dictionary is larger than a binary stores that code once: two 60 MB
# binaries pack to about 19 MB together against about 30 MB apart.
# scripts/gpu-run.sh unpacks FOLDER/*.tar.xz in place.
set -euo pipefail
dir=${1:?usage: pack-dist.sh FOLDER FILE...}
shift
[ $# -gt 0 ] || { echo "pack-dist: no files to pack" >&2; exit 2; }
mkdir -p "$dir"
# preset 3 (hash-chain match finder): a quarter of -9's time for this input.
tar -cf - --transform 's,.*/,,' "$@" |
  xz -T1 --lzma2=preset=3,dict=768MiB > "$dir/dist.tar.xz.tmp"
mv "$dir/dist.tar.xz.tmp" "$dir/dist.tar.xz"
echo "pack-dist: $dir/dist.tar.xz $(du -m "$dir/dist.tar.xz" | cut -f1) MB for $# files"
