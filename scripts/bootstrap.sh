#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   bash scripts/bootstrap.sh examples   install what is missing, build, compile examples/mods.flex
#   bash scripts/bootstrap.sh test       install what is missing, build, run every test
#   bash scripts/bootstrap.sh build      install what is missing and build
#   bash scripts/bootstrap.sh python     ... and the Python package in .venv, with PyTorch
# Environment: BUILD_DIR (default build), JOBS (default: number of cores),
# TORCH_VERSION (default 2.11: the PyTorch the tests compare against).
set -euo pipefail
mode=${1:-examples}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
cd "$root"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages: only the missing ones, so a warm machine skips apt entirely.
packages=(cmake ninja-build g++ ccache python3 python3-venv git ca-certificates
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

# --- Python (modes test and python): a venv in .venv with PyTorch from PyPI
# and the flexjit package (docs/python.md, "Installing"). PyPI's Linux torch
# wheel depends on NVIDIA's CUDA wheels (gigabytes); the tests run torch on
# the CPU only, so torch goes in with --no-deps, then its pure-Python
# dependencies, then only the CUDA libraries that `ldd` finds missing
# (scripts/torch-missing-libs.py). Downloads are kept in .deps/wheels, so a
# second run (or a fresh venv) downloads nothing.
python_env() {
  local venv="$root/.venv" wheels="$root/.deps/wheels" torch_version=${TORCH_VERSION:-2.11}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local py="$venv/bin/python"
  if ! "$py" -c "import torch, pytest" >/dev/null 2>&1; then
    echo "bootstrap: installing PyTorch $torch_version (CPU use, no CUDA wheels) into .venv"
    mkdir -p "$wheels"
    # From the kept wheels, else downloaded into them first.
    fetch_install() {
      "$py" -m pip install -q --no-index --find-links "$wheels" "$@" 2>/dev/null || {
        "$py" -m pip download -q -d "$wheels" "$@" &&
          "$py" -m pip install -q --no-index --find-links "$wheels" "$@"; }
    }
    fetch_install --no-deps "torch==$torch_version.*"
    fetch_install filelock "typing-extensions>=4.10.0" "sympy>=1.13.3" "networkx>=2.5.1" jinja2 \
      "fsspec>=0.8.5" mpmath markupsafe numpy pytest
    local site missing
    site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    missing=$(python3 "$root/scripts/torch-missing-libs.py" "$site")
    if [ -n "$missing" ]; then
      echo "bootstrap: torch's missing libraries come from:" $missing
      fetch_install $missing
    fi
    "$py" -c "import torch" || { echo "bootstrap: torch does not import" >&2; exit 1; }
  fi
  # The package from this checkout (a .pth file: no copy to go stale), and
  # the library this build makes, linked where the package looks first.
  site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$root/python" > "$site/flexjit-checkout.pth"
  mkdir -p "$root/python/flexjit/_lib"
  ln -sfn "$build/api/capi-shared/libflexjit_capi.so" "$root/python/flexjit/_lib/libflexjit_capi.so"
  python_args=(-DFLEXJIT_PYTHON="$py")
}
python_args=()
case "$mode" in test|python) python_env ;; esac

# --- cuobjdump (tests read the SASS of the Hopper kernels): the toolkit's if
# present, else NVIDIA's from PyPI into a git-ignored folder, with the
# nvdisasm that its -sass runs; the SASS checks skip, saying so, without them.
cuobjdump=$(command -v cuobjdump || true)
[ -z "$cuobjdump" ] && [ -x /usr/local/cuda/bin/cuobjdump ] && cuobjdump=/usr/local/cuda/bin/cuobjdump
if [ -z "$cuobjdump" ]; then
  deps="$root/.deps/cuda-cuobjdump"
  bin="$deps/nvidia/cu13/bin/cuobjdump"
  if { [ ! -x "$bin" ] || [ ! -x "$deps/nvidia/cu13/bin/nvdisasm" ]; } &&
     python3 -m pip --version >/dev/null 2>&1; then
    echo "bootstrap: no cuobjdump; fetching it and nvdisasm from PyPI"
    wheels=(nvidia-cuda-cuobjdump==13.5.37 nvidia-cuda-nvdisasm==13.5.37)
    python3 -m pip install -q --no-deps --upgrade --target "$deps" "${wheels[@]}" 2>/dev/null \
      || python3 -m pip install -q --no-deps --upgrade --break-system-packages --target "$deps" \
           "${wheels[@]}" \
      || echo "bootstrap: could not install cuobjdump and nvdisasm; SASS checks will skip"
  fi
  [ -x "$bin" ] && cuobjdump="$bin"
fi

# --- Build.
export CCACHE_BASEDIR="$root"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  ${ptxas:+-DFLEXJIT_PTXAS="$ptxas"} ${cuobjdump:+-DFLEXJIT_CUOBJDUMP="$cuobjdump"} \
  "${python_args[@]}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  python)
    echo "flexjit's Python package is in .venv: .venv/bin/python -c 'import flexjit.torch'"
    ;;
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
  *) echo "usage: $0 examples|test|build|python" >&2; exit 2 ;;
esac
