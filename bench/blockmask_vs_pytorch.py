#!/usr/bin/env python3
"""Block-mask creation, flexjit vs PyTorch, in one process on one GPU (docs/blockmask.md).

PyTorch: create_block_mask eager and torch.compile(create_block_mask), B=1,
H=1, 128x128 blocks, for causal, sliding window 1024 and prefix LM (prefix
2048) at 8192^2 and 32768^2, and a document mask with 8 documents at 8192^2.
flexjit: flex-blockmask-bench (the C++ benchmark) on the same cases, run as
a subprocess; its device masks are dumped and compared with PyTorch's, all
eight arrays. Prints one table with the ratios; exits 1 if any mask differs.

  python3 bench/blockmask_vs_pytorch.py --bench PATH/flex-blockmask-bench [--reps N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch.nn.attention.flex_attention import create_block_mask

FIELDS = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
          "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices"]
DOC_BOUNDS = [0, 700, 1800, 2048, 3333, 5000, 6100, 7900, 8192]  # as bench/blockmask_create.cpp
PREFIX_LEN = 2048
WINDOW = 1024  # examples/mods.flex: q >= kv && q - kv <= WINDOW


def make_mods(device):
    doc = torch.zeros(8192, dtype=torch.int32, device=device)
    for d in range(8):
        doc[DOC_BOUNDS[d]:DOC_BOUNDS[d + 1]] = d
    return {
        "causal": lambda b, h, q, kv: q >= kv,
        "sliding_window": lambda b, h, q, kv: (q >= kv) & (q - kv <= WINDOW),
        "prefix_lm": lambda b, h, q, kv: (kv < PREFIX_LEN) | (q >= kv),
        "document": lambda b, h, q, kv: doc[q] == doc[kv],
    }


def time_median(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def packed_segments(L, block=128):
    n = (L + block - 1) // block
    sizes = [n, n * n, n, n * n, n, n * n, n, n * n]  # B = H = 1
    out, at = [], 0
    for s in sizes:
        out.append((at, s))
        at += s
    return out, at


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path of flex-blockmask-bench")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--flexjit-reps", type=int, default=50)
    args = ap.parse_args()

    device = "cuda"
    print("torch", torch.__version__, "on", torch.cuda.get_device_name(0), flush=True)
    # Seven masks are seven guards on one compiled function.
    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 64)
    mods = make_mods(device)
    compiled = torch.compile(create_block_mask)

    dump = tempfile.mkdtemp(prefix="flexjit-bm-")
    t0 = time.time()
    proc = subprocess.run([args.bench, "--dump", dump, "--reps", str(args.flexjit_reps)],
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print("flex-blockmask-bench failed with", proc.returncode)
        return 1
    print("flexjit benchmark took %.1f s" % (time.time() - t0), flush=True)
    ours = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT "):])
            ours[r["case"]] = r

    rows, mismatches = [], 0
    for case, r in ours.items():
        mod, L = r["mod"], r["len"]
        fn = mods[mod]
        eager = lambda: create_block_mask(fn, 1, 1, L, L, device=device)
        comp = lambda: compiled(fn, 1, 1, L, L, device=device)
        reps = args.reps if L <= 8192 else max(5, args.reps // 4)
        t_eager = time_median(eager, reps)
        t_comp = time_median(comp, reps)
        # Identity of the masks: all eight arrays, from the compiled call.
        bm = comp()
        segs, total = packed_segments(L)
        packed = np.fromfile(os.path.join(dump, case + ".i32"), dtype=np.int32)
        same = packed.size == total
        diffs = []
        for (at, size), f in zip(segs, FIELDS):
            t = getattr(bm, f)
            if t is None or not same:
                diffs.append(f)
                continue
            theirs = t.to(torch.int32).cpu().numpy().reshape(-1)
            if theirs.size != size or not np.array_equal(theirs, packed[at:at + size]):
                diffs.append(f)
        mismatches += bool(diffs)
        rows.append((case, t_eager * 1e6, t_comp * 1e6, r["gpu_us"], r["cpu_us"], r["gpu_hit_us"],
                     r["cpu_hit_us"], r["elementwise_blocks"], "identical" if not diffs else
                     "DIFF " + ",".join(diffs)))
        print(case, "done", flush=True)

    print()
    print("B=1 H=1 blocks 128x128; times are medians; ratios = PyTorch time / flexjit GPU time")
    hdr = ("case", "torch eager", "torch compile", "flexjit gpu", "flexjit cpu", "gpu hit",
           "cpu hit", "eager/gpu", "compile/gpu", "elemwise", "arrays")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for (case, te, tc, tg, tcpu, th, tch, ew, same) in rows:
        print("| %s | %.1f us | %.1f us | %.1f us | %.1f us | %.3f us | %.3f us | %.1fx | %.1fx | %d | %s |"
              % (case, te, tc, tg, tcpu, th, tch, te / tg, tc / tg, ew, same))
    print("masks differing from PyTorch's:", mismatches)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
