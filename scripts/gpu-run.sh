#!/usr/bin/env bash
# Runs the GPU tests and the block-mask benchmark on the GPU machine, from
# self-contained binaries built here (bash scripts/build-static.sh, then
# stripped and xz-compressed into a git-ignored folder sent with `carry`):
#   bash scripts/gpu-run.sh FOLDER          logs and tables go to $OUT (or ./gpu-out)
# The tests read examples/ through the source path they were built with
# (/work/main here): a link makes it point at this checkout.
set -uo pipefail
bins=${1:?usage: gpu-run.sh FOLDER}
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
root=$(pwd)
if [ ! -e /work/main ]; then mkdir -p /work && ln -s "$root" /work/main; fi
for f in "$bins"/*.xz; do [ -e "$f" ] && xz -d -f -T0 "$f"; done
chmod +x "$bins"/* 2>/dev/null
export FLEXJIT_CACHE_DIR=/tmp/flexjit-cache-$$
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__)' | tee -a "$out/gpu.txt"
status=0
for t in flexjit_runtime_tests flexjit_gpumask_tests flexjit_api_tests flexjit_capi_test; do
  [ -x "$bins/$t" ] || continue
  start=$(date +%s)
  "$bins/$t" > "$out/$t.log" 2>&1; rc=$?
  [ $rc -ne 0 ] && status=1
  echo "$t: exit $rc in $(( $(date +%s) - start )) s; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]|passed, ' "$out/$t.log" | tr '\n' ' ')"
done
if [ -x "$bins/flex-blockmask-bench" ]; then
  PYTHONUNBUFFERED=1 python3 bench/blockmask_vs_pytorch.py --bench "$bins/flex-blockmask-bench" \
    > "$out/blockmask_vs_pytorch.txt" 2>&1 || status=1
  tail -20 "$out/blockmask_vs_pytorch.txt"
fi
exit $status
