#!/usr/bin/env bash
# The layers' one-way arrows (docs/architecture.md), checked on the sources:
# dialect, compiler and kernels include nothing of the runtime or the API;
# the runtime includes no MLIR, LLVM code generation, compiler or API.
# Prints each file that breaks an arrow and exits 1; ctest runs it (layering).
#   bash scripts/check-layers.sh [SOURCE_DIR]
set -uo pipefail
cd "${1:-$(dirname "$0")/..}" || exit 2
status=0
up=$(grep -rlE '#include "(runtime|api)/|#include "flexjit/(Runtime|Cache|BlockMask|Tensor|ReferenceAttention|ReferenceBackward|Attention|flexjit)\.h' \
  compiler kernels dialect)
if [ -n "$up" ]; then
  echo "dialect/compiler/kernels include the runtime or the API:"; echo "$up"; status=1
fi
down=$(grep -rlE '#include "(mlir|llvm/(IR|Target|CodeGen|ExecutionEngine|Passes|MC))|#include "(compiler|dialect|kernels|api)/|#include "flexjit/(Compiler|Frontend|AST|Evaluator|Fingerprint|Trace|Types|Diagnostics|AttentionSpec|Attention|flexjit)\.h' \
  runtime)
if [ -n "$down" ]; then
  echo "the runtime includes MLIR, the compiler or the API:"; echo "$down"; status=1
fi
[ $status = 0 ] && echo "layers: every arrow points one way"
exit $status
