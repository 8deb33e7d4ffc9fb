#!/usr/bin/env bash
# The flexjit wheel for machines without LLVM (only the NVIDIA driver, for
# the GPU, is needed at run time): the Python package with the
# self-contained libflexjit_capi.so of scripts/build-static.sh inside.
#   bash scripts/build-wheel.sh        -> dist/flexjit-<version>-py3-none-linux_x86_64.whl
# Uses dist/libflexjit_capi.so when LIBRARY is unset and it exists (else
# builds it); LIBRARY=path picks another. Then, on the target machine:
#   pip install dist/flexjit-*.whl     (PyTorch is the user's: `pip install flexjit[torch]`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${LIBRARY:-$root/dist/libflexjit_capi.so}
if [ -z "${LIBRARY:-}" ] && [ ! -f "$lib" ]; then
  bash "$root/scripts/build-static.sh" flexjit_capi
fi
[ -f "$lib" ] || { echo "build-wheel: no library at $lib" >&2; exit 1; }
# Self-contained: no libLLVM/libMLIR/libstdc++ needed where it goes.
if ldd "$lib" | grep -E "libLLVM|libMLIR|libstdc\+\+" >/dev/null; then
  echo "build-wheel: $lib needs LLVM/MLIR or libstdc++ at run time; build it with" \
       "scripts/build-static.sh flexjit_capi" >&2
  exit 1
fi
wheel=$(python3 "$root/scripts/make-wheel.py" "$lib" "$root/dist")
echo "$wheel ($(du -h "$wheel" | cut -f1))"
