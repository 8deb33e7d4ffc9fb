#!/usr/bin/env bash
# Runs the GPU tests and the benchmarks on the GPU machine, from self-contained
# binaries built here (bash scripts/build-static.sh, then stripped and
# xz-compressed into a git-ignored folder sent with `carry`; PACK_DIR=FOLDER
# makes build-static.sh do both, scripts/pack-dist.sh packs them into one archive):
#   bash scripts/gpu-run.sh FOLDER [STEP...]   logs and tables go to $OUT (or ./gpu-out)
# Steps (default: all, in this order):
#   tests       every test binary found in FOLDER (flexjit_*_tests, flexjit_capi_test),
#               all at once, with FLEXJIT_REQUIRE_GPU=1: a GPU test that finds no GPU fails
#               instead of skipping; the interval classifier's GPU kernels
#               (IntervalGpu.ExportKernels) checked by tests/gpu/interval_gpu_check.py
#   pytest      tests/python with FOLDER's libflexjit_capi.so (test_ddp.py only with 2+ GPUs);
#               not part of the default steps
#   blockmask   bench/blockmask_vs_pytorch.py with flex-blockmask-bench
#   flex-bench  flex-bench on examples/mods.flex's seven cases at the standard shapes (ATTN_SHAPES)
#   pytorch     bench/attention_vs_pytorch.py (libflexjit_capi.so via ctypes) at
#               the same shapes
#   backward    flexjit_grad_tests' backward GPU tests, bench/backward_vs_pytorch.py at
#               BWD_SHAPES (default 8192:4:16:128; atomic and deterministic dQ, BWD_DET=0: atomic
#               only; BWD_ARGS: more arguments, e.g. --also-sm80; BWD_TESTS=0 leaves out the
#               tests, as after `tests`), then compute-sanitizer on
#               AttentionBackwardGpuSanitize.* (memcheck, racecheck)
#   sanitizer   compute-sanitizer memcheck and racecheck on the small attention case
#               (flexjit_attention_tests --gtest_filter='AttentionGpuSanitize.*');
#               not part of the default steps
# A step whose binary is not in FOLDER is skipped, with a line saying so.
# Attention shapes: ATTN_SHAPES, words S:B:H:D (default
# "8192:4:16:128 2048:4:16:128 32768:1:16:128 8192:4:16:64"); the first shape gets
# flex-bench's cold/warm JIT times, the others --no-jit. ATTN_CASES (python case
# names, comma-separated) narrows the pytorch step; ATTN_ARGS adds arguments to each of its
# processes (say "--ref-pairs 1 --iters 30", or "--kernel sm80 --also-tiles 64:2:16,64:2:32");
# GPU_RUN_SECONDS (seconds from gpu-run.sh's start) bounds it: a shape that would start later
# is skipped, one still running then is stopped, each with a line saying so (a bounded device
# call brings back what ran).
# The tests read examples/ through the source path they were built with
# (SOURCE_PATH; else the one the C API test names; else /work/main): a link
# makes it point at this checkout.
set -uo pipefail
bins=${1:?usage: gpu-run.sh FOLDER [tests|pytest|blockmask|flex-bench|pytorch|sanitizer|backward ...]}
shift
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(tests blockmask flex-bench pytorch)
for s in "${steps[@]}"; do
  case "$s" in
    tests|pytest|blockmask|flex-bench|pytorch|sanitizer|backward) ;;
    *) echo "gpu-run: unknown step '$s' (tests, pytest, blockmask, flex-bench, pytorch, sanitizer, backward)" >&2; exit 2 ;;
  esac
done
if [ -n "${GPU_RUN_SECONDS:-}" ] && ! [[ "$GPU_RUN_SECONDS" =~ ^[0-9]+$ ]]; then
  echo "gpu-run: GPU_RUN_SECONDS must be a whole number of seconds, not '$GPU_RUN_SECONDS'" >&2
  exit 2
fi
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
root=$(pwd)
# scripts/pack-dist.sh's solid archive, else files xz-compressed one by one.
for f in "$bins"/*.tar.xz; do [ -e "$f" ] && tar -xJf "$f" -C "$bins" && rm -f "$f"; done
for f in "$bins"/*.xz; do [ -e "$f" ] && xz -d -f -T0 "$f"; done
chmod +x "$bins"/* 2>/dev/null
src=${SOURCE_PATH:-}
[ -z "$src" ] && [ -e "$bins/flexjit_capi_test" ] &&
  src=$(grep -aom1 '/[[:alnum:]_./+-]*/examples/mods\.flex' "$bins/flexjit_capi_test" | sed 's,/examples/mods\.flex$,,')
src=${src:-/work/main}
if [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$root" "$src"; fi
echo "gpu-run: tests read $src (-> $root)"
export FLEXJIT_CACHE_DIR=/tmp/flexjit-cache-$$
# A GPU test that finds no GPU fails here instead of skipping.
export FLEXJIT_REQUIRE_GPU=1
shapes=${ATTN_SHAPES:-"8192:4:16:128 2048:4:16:128 32768:1:16:128 8192:4:16:64"}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__)' | tee -a "$out/gpu.txt"
status=0
t_all=$(date +%s)

run_tests() {
  # Every binary at once, each with a disk cache of its own; the summary
  # lines come out in a fixed order after all have finished.
  local found=0 f t pids=() names=()
  for f in "$bins"/flexjit_*_tests "$bins"/flexjit_capi_test; do
    [ -x "$f" ] || continue
    found=1
    t=$(basename "$f")
    (
      start=$(date +%s)
      export FLEXJIT_CACHE_DIR=/tmp/flexjit-cache-$$-$t
      # IntervalGpu.ExportKernels writes its kernels there; checked below.
      export_dir=/tmp/flexjit-interval-gpu-$$
      [ "$t" = flexjit_interval_tests ] && mkdir -p "$export_dir" &&
        export FLEXJIT_INTERVAL_GPU_OUT=$export_dir
      "$bins/$t" > "$out/$t.log" 2>&1; rc=$?
      if [ "$t" = flexjit_interval_tests ] && [ $rc -eq 0 ]; then
        python3 tests/gpu/interval_gpu_check.py "$export_dir" >> "$out/$t.log" 2>&1; rc=$?
        echo "$t: tests/gpu/interval_gpu_check.py exit $rc" >> "$out/$t.log"
      fi
      echo "$t: exit $rc in $(( $(date +%s) - start )) s; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]|passed, ' "$out/$t.log" | tr '\n' ' ')" > "$out/$t.summary"
      exit $rc
    ) &
    pids+=($!) names+=("$t")
  done
  local i
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$out/${names[$i]}.summary"
  done
  [ $found = 1 ] || echo "tests: no test binaries in $bins, skipped"
}

# tests/python against FOLDER's libflexjit_capi.so and this checkout's
# package (no wheel needed); test_ddp.py needs two GPUs and runs only where
# there are two.
run_pytest() {
  [ -e "$bins/libflexjit_capi.so" ] || { echo "pytest: no libflexjit_capi.so in $bins, skipped"; return; }
  local args=(-q tests/python) rc start
  python3 -c 'import xdist' 2>/dev/null && args+=(-n 8)
  [ "$(nvidia-smi -L | wc -l)" -ge 2 ] || args+=(--ignore tests/python/test_ddp.py)
  start=$(date +%s)
  FLEXJIT_LIBRARY="$bins/libflexjit_capi.so" PYTHONPATH="$root/python" \
    FLEXJIT_CACHE_DIR=/tmp/flexjit-cache-$$-pytest \
    python3 -m pytest "${args[@]}" > "$out/pytest.log" 2>&1; rc=$?
  [ $rc -ne 0 ] && status=1
  echo "pytest: exit $rc in $(( $(date +%s) - start )) s; $(tail -1 "$out/pytest.log")"
}

run_blockmask() {
  [ -x "$bins/flex-blockmask-bench" ] || { echo "blockmask: no flex-blockmask-bench in $bins, skipped"; return; }
  PYTHONUNBUFFERED=1 python3 bench/blockmask_vs_pytorch.py --bench "$bins/flex-blockmask-bench" \
    > "$out/blockmask_vs_pytorch.txt" 2>&1 || status=1
  tail -20 "$out/blockmask_vs_pytorch.txt"
}

run_flex_bench() {
  [ -x "$bins/flex-bench" ] || { echo "flex-bench: not in $bins, skipped"; return; }
  local first=1 shape S B H D name jit rc start
  for shape in $shapes; do
    IFS=: read -r S B H D <<< "$shape"
    name="flex-bench_S${S}_B${B}_H${H}_D${D}"
    jit=--no-jit
    [ $first = 1 ] && jit=
    first=0
    start=$(date +%s)
    "$bins/flex-bench" examples/mods.flex \
      --case none,causal,sliding_window,document,prefix_lm,alibi+causal,softcap+causal \
      --param prefix_len=2048 --documents 8 \
      --batch "$B" --heads "$H" --seq "$S" --dim "$D" $jit \
      --json-file "$out/$name.json" > "$out/$name.txt" 2> "$out/$name.err"; rc=$?
    [ $rc -ne 0 ] && status=1
    echo "== $name: exit $rc in $(( $(date +%s) - start )) s"
    cat "$out/$name.txt"
    [ $rc -ne 0 ] && tail -5 "$out/$name.err"
  done
}

run_pytorch() {
  [ -e "$bins/libflexjit_capi.so" ] || { echo "pytorch: no libflexjit_capi.so in $bins, skipped"; return; }
  local shape S B H D name rc start left cases=() extra=() limit=()
  [ -n "${ATTN_CASES:-}" ] && cases=(--cases "$ATTN_CASES")
  [ -n "${ATTN_ARGS:-}" ] && read -r -a extra <<< "$ATTN_ARGS"
  for shape in $shapes; do
    IFS=: read -r S B H D <<< "$shape"
    name="attention_vs_pytorch_S${S}_B${B}_H${H}_D${D}"
    if [ -n "${GPU_RUN_SECONDS:-}" ]; then
      left=$(( GPU_RUN_SECONDS - ($(date +%s) - t_all) ))
      if [ $left -lt 20 ]; then
        echo "== $name: skipped, GPU_RUN_SECONDS=$GPU_RUN_SECONDS spent"
        continue
      fi
      limit=(timeout "$left")
    fi
    start=$(date +%s)
    PYTHONUNBUFFERED=1 "${limit[@]}" python3 bench/attention_vs_pytorch.py \
      --lib "$bins/libflexjit_capi.so" --batch "$B" --heads "$H" --seq "$S" --dim "$D" \
      "${cases[@]}" "${extra[@]}" --json "$out/$name.json" > "$out/$name.txt" 2>&1; rc=$?
    [ $rc -eq 124 ] && echo "== $name: stopped when GPU_RUN_SECONDS=$GPU_RUN_SECONDS ran out"
    [ $rc -ne 0 ] && status=1
    echo "== $name: exit $rc in $(( $(date +%s) - start )) s"
    sed -n '/^| case/,$p' "$out/$name.txt"
    [ $rc -ne 0 ] && ! grep -q '^| case' "$out/$name.txt" && tail -15 "$out/$name.txt"
  done
}

run_sanitizer() {
  local t="$bins/flexjit_attention_tests" tool rc
  [ -x "$t" ] || { echo "sanitizer: no flexjit_attention_tests in $bins, skipped"; return; }
  command -v compute-sanitizer >/dev/null || { echo "sanitizer: no compute-sanitizer, skipped"; return; }
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 1 "$t" --gtest_filter='AttentionGpuSanitize.*' \
      > "$out/sanitizer_$tool.log" 2>&1; rc=$?
    [ $rc -ne 0 ] && status=1
    echo "sanitizer $tool: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer_$tool.log" | head -1)"
  done
}

# The backward's GPU tests alone (also part of `tests`), then
# compute-sanitizer memcheck and racecheck on its small case.
run_backward() {
  local t="$bins/flexjit_grad_tests" tool rc
  [ -x "$t" ] || { echo "backward: no flexjit_grad_tests in $bins, skipped"; return; }
  if [ "${BWD_TESTS:-1}" != 0 ]; then
    "$t" --gtest_filter='Cases/AttentionBackwardGpu.*:AttentionBackwardGpuSanitize.*:AttentionBackwardCheck.*' \
      > "$out/backward_tests.log" 2>&1; rc=$?
    [ $rc -ne 0 ] && status=1
    echo "backward tests: exit $rc; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]' "$out/backward_tests.log" | tr '\n' ' ')"
  fi
  if [ -e "$bins/libflexjit_capi.so" ]; then
    local shape S B H D name det
    for shape in ${BWD_SHAPES:-8192:4:16:128}; do
      IFS=: read -r S B H D <<< "$shape"
      local dets=("" --deterministic)
      [ "${BWD_DET:-1}" = 0 ] && dets=("")
      for det in "${dets[@]}"; do
        name="backward_vs_pytorch_S${S}_B${B}_H${H}_D${D}${det:+_det}"
        PYTHONUNBUFFERED=1 python3 bench/backward_vs_pytorch.py --lib "$bins/libflexjit_capi.so" \
          --batch "$B" --heads "$H" --seq "$S" --dim "$D" $det ${BWD_ARGS:-} \
          --json "$out/$name.json" > "$out/$name.txt" 2>&1; rc=$?
        [ $rc -ne 0 ] && status=1
        echo "== $name: exit $rc"
        sed -n '/^| case/,$p' "$out/$name.txt"
        [ $rc -ne 0 ] && ! grep -q '^| case' "$out/$name.txt" && tail -15 "$out/$name.txt"
      done
    done
  fi
  command -v compute-sanitizer >/dev/null || { echo "backward sanitizer: no compute-sanitizer, skipped"; return; }
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 1 "$t" --gtest_filter='AttentionBackwardGpuSanitize.*' \
      > "$out/backward_sanitizer_$tool.log" 2>&1; rc=$?
    [ $rc -ne 0 ] && status=1
    echo "backward sanitizer $tool: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/backward_sanitizer_$tool.log" | head -1)"
  done
}

for s in "${steps[@]}"; do
  case "$s" in
    tests) run_tests ;;
    pytest) run_pytest ;;
    backward) run_backward ;;
    sanitizer) run_sanitizer ;;
    blockmask) run_blockmask ;;
    flex-bench) run_flex_bench ;;
    pytorch) run_pytorch ;;
  esac
done
echo "gpu-run: ${steps[*]} in $(( $(date +%s) - t_all )) s, exit $status"
exit $status
