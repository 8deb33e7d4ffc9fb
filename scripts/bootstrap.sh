#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   bash scripts/bootstrap.sh examples   install what is missing, build, compile examples/mods.flex
#   bash scripts/bootstrap.sh test       install what is missing, build, run every test
#   bash scripts/bootstrap.sh build      install what is missing and build
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
mode=${1:-examples}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
cd "$root"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages: only the missing ones, so a warm machine skips apt entirely.
packages=(cmake ninja-build g++ ccache python3 git ca-certificates
          llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          libzstd-dev zlib1g-dev libgtest-dev libgmock-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- ptxas (tests assemble the generated PTX with it): the CUDA toolkit's if
# present, else NVIDIA's ptxas from PyPI into a git-ignored folder.
ptxas=$(command -v ptxas || true)
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
if [ -z "$ptxas" ]; then
  deps="$root/.deps/cuda-nvcc"
  if [ ! -x "$deps/nvidia/cuda_nvcc/bin/ptxas" ]; then
    echo "bootstrap: no CUDA toolkit; fetching ptxas from PyPI (nvidia-cuda-nvcc-cu12)"
    python3 -m pip --version >/dev/null 2>&1 || {
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip; }
    # Into a folder of our own: Debian marks its Python as externally managed,
    # which only the second form gets past (nothing of the system's is touched).
    wheel=nvidia-cuda-nvcc-cu12==12.9.86
    python3 -m pip install -q --no-deps --target "$deps" "$wheel" 2>/dev/null \
      || python3 -m pip install -q --no-deps --break-system-packages --target "$deps" "$wheel" \
      || echo "bootstrap: could not install ptxas; PTX assembly tests will skip"
  fi
  [ -x "$deps/nvidia/cuda_nvcc/bin/ptxas" ] && ptxas="$deps/nvidia/cuda_nvcc/bin/ptxas"
fi

# --- Build.
export CCACHE_BASEDIR="$root"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  ${ptxas:+-DFLEXJIT_PTXAS="$ptxas"} ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  examples)
    out="$build/examples-ptx"
    "$build/tools/flexc/flexc" examples/mods.flex --summary --emit=ptx --arch sm_90a -o "$out"
    # The attention kernel with two of the mods inlined (ALiBi + causal).
    "$build/tools/flexc/flexc" attention examples/mods.flex --score alibi --mask causal \
      --arch sm_90a --summary
    "$build/tools/flexc/flexc" attention examples/mods.flex --score alibi --mask causal \
      --arch sm_90a -o "$out/attention_alibi_causal.ptx"
    echo "PTX written to $out/"
    ;;
  test)
    cd "$build"
    status=0
    set -o pipefail
    ctest --output-on-failure -j "$jobs" 2>&1 | tee ctest-output.log || status=$?
    # Skipped tests (the GPU ones on a machine without a GPU): say why, visibly.
    log=Testing/Temporary/LastTest.log
    if grep -q "\[  SKIPPED \]" "$log" 2>/dev/null; then
      echo "Skipped tests and why:"
      awk '/^\[  SKIPPED \] [A-Za-z].* \([0-9]+ ms\)$/ { sub(/^\[  SKIPPED \] /, ""); sub(/ \([0-9]+ ms\)$/, "");
             print "  " $0 ": " prev } { prev = $0 }' "$log" | sort -u
      # ctest's closing line again, last, for whoever reads the end of the log.
      grep -E "tests passed, [0-9]+ tests failed out of" ctest-output.log | tail -1
    fi
    exit $status
    ;;
  *) echo "usage: $0 examples|test|build" >&2; exit 2 ;;
esac
