#!/usr/bin/env bash
# The PTX of every kernel template instantiation the tests use, against the
# recorded SHA-256 digests (tests/unit/compiler/kernel_ptx_hashes.txt, test
# KernelPtx.* of flexjit_compiler_tests): a refactoring of the kernel builders
# must leave it identical.
#
#   scripts/kernel-ptx-check.sh                  compile every case, compare
#   scripts/kernel-ptx-check.sh --dump DIR       also keep each case's PTX in DIR
#   scripts/kernel-ptx-check.sh --baseline DIR   compare with the PTX kept in DIR by an
#                                                earlier --dump (say, before a change): list
#                                                the files that differ, with ptxas -v's
#                                                registers and spills for sm_80 and sm_90a
#   scripts/kernel-ptx-check.sh --update         record the digests of the code now
#
# It also checks that `flexc attention` prints the PTX the Compiler API made.
# Environment: BUILD_DIR (default build), PTXAS (default: on PATH, else
# /usr/local/cuda/bin/ptxas).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
dump="" baseline="" update=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dump) dump=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --update) update=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "kernel-ptx-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$baseline" ] && [ -z "$dump" ] && dump=$(mktemp -d)
ptxas=${PTXAS:-$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)}

cmake --build "$build" -j2 --target flexjit_compiler_tests flexc >/dev/null
tests="$build/tests/unit/flexjit_compiler_tests"
[ -n "$dump" ] && { rm -rf "$dump"; mkdir -p "$dump"; }
status=0
FLEXJIT_PTX_DUMP_DIR=${dump:-} FLEXJIT_PTX_HASHES_UPDATE=$update \
  "$tests" --gtest_filter='KernelPtx.*' --gtest_brief=1 || status=$?
[ -z "$dump" ] && [ "$status" = 0 ] && [ "$update" = 0 ] && echo "kernel-ptx-check: identical"

if [ -n "$dump" ]; then
  # flexc prints what the API made (flexjit's default tiling, sm_90a).
  want="$dump/attention_sm_90a_bf16_d128_dv128_m128_w16_n64_s2_score_alibi_mask_causal.ptx"
  if [ -f "$want" ]; then
    if "$build/tools/flexc/flexc" attention "$root/examples/mods.flex" --score alibi --mask causal --sm80 \
         | cmp -s - "$want"; then
      echo "kernel-ptx-check: flexc attention prints the API's PTX"
    else
      echo "kernel-ptx-check: flexc attention's PTX differs from the API's" >&2
      status=1
    fi
  fi
fi

if [ -n "$baseline" ]; then
  regs() { # arch file -> "registers R, spill stores S, spill loads L" per entry
    "$ptxas" -v -arch="$1" -o /dev/null "$2" 2>&1 |
      sed -n 's/.*Used \([0-9]*\) registers.*/\1 registers/p;
              s/.* \([0-9]*\) bytes spill stores, \([0-9]*\) bytes spill loads.*/spills \1+\2 bytes/p' |
      paste -sd' ' -
  }
  differ=0
  for f in "$dump"/*.ptx; do
    name=$(basename "$f")
    if [ ! -f "$baseline/$name" ]; then
      echo "new:     $name"
    elif ! cmp -s "$f" "$baseline/$name"; then
      differ=$((differ + 1))
      echo "differs: $name"
      for arch in sm_80 sm_90a; do
        echo "  $arch before: $(regs $arch "$baseline/$name")"
        echo "  $arch now:    $(regs $arch "$f")"
      done
    fi
  done
  echo "kernel-ptx-check: $differ file(s) differ from $baseline"
fi
exit $status
