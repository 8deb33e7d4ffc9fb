#!/usr/bin/env bash
# Self-contained binaries (static MLIR/LLVM and libstdc++) in dist/, for machines
# without LLVM, such as the GPU machine. Run scripts/bootstrap.sh build once first.
#   bash scripts/build-static.sh [targets...]   (default: flexc flex-opt and the unit tests)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-static}
export CCACHE_BASEDIR="$root"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLEXJIT_STATIC=ON ${CMAKE_ARGS:-} >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(flexc flex-opt)
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
mkdir -p "$root/dist"
for t in "${targets[@]}"; do
  f=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  [ -n "$f" ] || { echo "build-static: no binary for $t" >&2; exit 1; }
  strip -o "$root/dist/$t" "$f"
  awk -v f="dist/$t" -v s="$(stat -c %s "$root/dist/$t")" 'BEGIN { printf "%-28s %6.1f MB\n", f, s / 1048576 }'
done
