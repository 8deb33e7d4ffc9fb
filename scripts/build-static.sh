#!/usr/bin/env bash
# Self-contained binaries (static MLIR/LLVM and libstdc++) in dist/, for machines
# without LLVM, such as the GPU machine. Run scripts/bootstrap.sh build once first.
#   bash scripts/build-static.sh [targets...]   (default: flexc flex-opt)
# Targets are CMake targets: executables (flexc, flex-bench, flexjit_api_tests,
# ...) and flexjit_capi, the C API as a shared library (dist/libflexjit_capi.so,
# for Python ctypes). flexjit_capi needs position-independent code everywhere,
# so it is built in a build folder of its own, "$BUILD_DIR-pic" (the other
# targets' objects stay as they are); its exports are checked to be the
# flexjit_* C API alone, and it must not need libLLVM or libMLIR.
# Aliases: `attention-bench` = flex-bench flexjit_capi (gpu-run.sh's flex-bench and
# pytorch steps), `attention-tests` = flexjit_attention_tests flexjit_attnkernel_tests
# flexjit_api_tests flexjit_grad_tests flexjit_capi_test; `gpu-attention` = both (about 15 MB xz each: more than one
# 64 MiB carry, so pack the two apart).
# Environment: BUILD_DIR (default build-static), JOBS, CMAKE_ARGS, and PACK_DIR:
# when set, each result is also xz-compressed into PACK_DIR/<name>.xz (the
# folder to send to the GPU machine with `carry`, see scripts/gpu-run.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-static}
export CCACHE_BASEDIR="$root"
targets=()
for t in "$@"; do
  if [ "$t" = attention-bench ]; then
    targets+=(flex-bench flexjit_capi)
  elif [ "$t" = attention-tests ]; then
    targets+=(flexjit_attention_tests flexjit_attnkernel_tests flexjit_api_tests flexjit_grad_tests flexjit_capi_test)
  elif [ "$t" = gpu-attention ]; then
    targets+=(flex-bench flexjit_capi flexjit_attention_tests flexjit_attnkernel_tests flexjit_api_tests flexjit_grad_tests flexjit_capi_test)
  else
    targets+=("$t")
  fi
done
[ ${#targets[@]} -gt 0 ] || targets=(flexc flex-opt)
exes=() capi=0
for t in "${targets[@]}"; do
  if [ "$t" = flexjit_capi ]; then capi=1; else exes+=("$t"); fi
done
mkdir -p "$root/dist"
[ -n "${PACK_DIR:-}" ] && mkdir -p "$PACK_DIR"

size() { # prints "dist/NAME  SIZE MB" (and the xz size when packed)
  local f=$1 name; name=$(basename "$f")
  local line; line=$(awk -v f="dist/$name" -v s="$(stat -c %s "$f")" 'BEGIN { printf "%-28s %6.1f MB", f, s / 1048576 }')
  if [ -n "${PACK_DIR:-}" ]; then
    xz -T0 -9 -c "$f" > "$PACK_DIR/$name.xz"
    line+=$(awk -v s="$(stat -c %s "$PACK_DIR/$name.xz")" 'BEGIN { printf "   xz %6.1f MB", s / 1048576 }')
  fi
  echo "$line"
}

if [ ${#exes[@]} -gt 0 ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLEXJIT_STATIC=ON ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${exes[@]}"
  for t in "${exes[@]}"; do
    f=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
    [ -n "$f" ] || { echo "build-static: no binary for $t" >&2; exit 1; }
    strip -o "$root/dist/$t" "$f"
    size "$root/dist/$t"
  done
fi

if [ $capi = 1 ]; then
  pic="$build-pic"
  cmake -G Ninja -S "$root" -B "$pic" -DCMAKE_BUILD_TYPE=Release -DFLEXJIT_STATIC=ON \
    -DFLEXJIT_PIC=ON -DFLEXJIT_TESTS=OFF ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$pic" -j "${JOBS:-$(nproc)}" --target flexjit_capi
  so="$root/dist/libflexjit_capi.so"
  strip --strip-unneeded -o "$so" "$pic/api/capi-shared/libflexjit_capi.so"
  # The exports: the C API and nothing else (no C++, MLIR, LLVM or libstdc++ symbols).
  others=$(nm -D --defined-only "$so" | awk '{ print $NF }' | grep -v '^flexjit_' || true)
  if [ -n "$others" ]; then
    echo "build-static: libflexjit_capi.so exports more than flexjit_*:" >&2
    echo "$others" | head -20 >&2
    exit 1
  fi
  needed=$(readelf -d "$so" | awk '/NEEDED/ { print $NF }' | tr -d '[]' | tr '\n' ' ')
  case "$needed" in
    *LLVM*|*MLIR*|*libstdc++*) echo "build-static: libflexjit_capi.so needs $needed" >&2; exit 1 ;;
  esac
  size "$so"
  echo "  exports $(nm -D --defined-only "$so" | grep -c ' T flexjit_') flexjit_* functions; needs $needed"
fi
