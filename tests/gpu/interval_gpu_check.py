#!/usr/bin/env python3
"""Runs the kernels IntervalGpu.ExportKernels wrote (FLEXJIT_INTERVAL_GPU_OUT)
on a GPU with CuPy and checks the interval classifier as the GPU computes it:

  viol must be 0 everywhere (no definite verdict contradicted by the
       GPU-compiled mask at any of the box's 16 points);
  def  must equal the CPU classifier's bitmap (same verdicts on both sides).

usage: interval_gpu_check.py DIR       (exit status 0: all good)
"""
import struct
import sys

import cupy as cp
import numpy as np


def load_inputs(path):
    with open(path) as f:
        lines = f.read().split("\n")
    head = [int(x) for x in lines[0].split()]
    params = np.array(head[1:], dtype=np.int64)
    nbuf = int(lines[1])
    dims, datas = [], []
    for k in range(nbuf):
        v = [int(x) for x in lines[2 + k].split()]
        rank = v[0]
        dims += v[1:1 + rank]
        nbytes = v[1 + rank]
        datas.append(np.array(v[2 + rank:2 + rank + nbytes], dtype=np.uint8))
    return params, dims, datas


def device_context(params, dims, datas, keep):
    def dev(a):
        a = cp.asarray(a) if len(a) else cp.zeros(8, dtype=np.uint8)
        keep.append(a)
        return a.data.ptr
    p = dev(params.view(np.uint8) if len(params) else np.zeros(8, np.uint8))
    bufs = [dev(d if len(d) else np.zeros(8, np.uint8)) for d in datas]
    bp = dev(np.array(bufs or [0], dtype=np.uint64).view(np.uint8))
    dp = dev(np.array(dims or [0], dtype=np.int64).view(np.uint8))
    err = dev(np.zeros(4, dtype=np.int64).view(np.uint8))
    ctx = dev(np.frombuffer(struct.pack("<4Q", p, bp, dp, err), dtype=np.uint8))
    return ctx


def run_kernel(ptx_path, entry, ctx, B, H, Q, KV):
    # cuModuleLoadData takes PTX text (NUL-terminated) and JIT-compiles it.
    module = cp.cuda.function.Module()
    with open(ptx_path, "rb") as f:
        module.load(f.read() + b"\0")
    fn = module.get_function(entry)
    out = cp.zeros((B, H, Q, KV), dtype=np.uint8)
    threads = 128
    gx = (KV + 16 * threads - 1) // (16 * threads)
    gy = min(B * H * Q, 65535)
    fn((gx, gy, 1), (threads, 1, 1),
       (out, np.int32(B), np.int32(H), np.int32(Q), np.int32(KV), np.uint64(ctx)))
    cp.cuda.runtime.deviceSynchronize()
    return cp.asnumpy(out)


def main():
    d = sys.argv[1]
    lines = open(d + "/index").read().split("\n")
    B, H, Q, KV = (int(x) for x in lines[0].split())
    bad = 0
    cases = definite = points = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        cid, k, entry = line.split()
        keep = []
        params, dims, datas = load_inputs(d + "/" + cid + ".inputs")
        ctx = device_context(params, dims, datas, keep)
        viol = run_kernel(f"{d}/{cid}.viol.{k}.ptx", entry, ctx, B, H, Q, KV)
        df = run_kernel(f"{d}/{cid}.def.{k}.ptx", entry, ctx, B, H, Q, KV)
        cpu = np.frombuffer(open(f"{d}/{cid}.cpu.{k}", "rb").read(), dtype=np.uint8) - ord("0")
        cases += 1
        points += viol.size
        definite += int(df.sum())
        if viol.any():
            bad += 1
            print(f"{cid} offset #{k}: {int(viol.sum())} boxes contradict the GPU verdict")
        if not np.array_equal(df.reshape(-1), cpu):
            bad += 1
            print(f"{cid} offset #{k}: GPU and CPU verdicts differ on "
                  f"{int((df.reshape(-1) != cpu).sum())} boxes")
    print(f"{cases} kernels pairs, {points} boxes, {definite} definite on the GPU, {bad} problems")
    return 1 if bad or cases == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
