#!/usr/bin/env python3
"""Attention backward, flexjit vs PyTorch FlexAttention, in one process on one GPU (docs/backward.md).

For each case of attention_vs_pytorch.py (none, causal, sliding_window,
document, prefix_lm, alibi_causal, softcap_causal) on random bf16 q, k, v, dO
[B, H, S, D]:
  PyTorch  torch.compile(flex_attention) forward (return_lse) then
           torch.autograd.grad of sum(out * dO): the backward timed alone
           (each forward runs before the timed region);
  flexjit  flexjit_attention (out, LSE) then flexjit_attention_backward
           through the C API (libflexjit_capi.so, ctypes), on torch's stream.
Reported per case: backward ms (CUDA-event medians), TFLOP/s with the 2.5x
forward-FLOPs convention over allowed positions (2.5 * 4*B*H*S*S*D*density),
the ratio flexjit / PyTorch speed; and, at a small shape (--err-seq, B 1,
H 2) the relative error norms ||g - ref|| / ||ref|| of dq, dk, dv of both
against an fp64 reference (torch autograd in f64 of the same rounded inputs).

  python3 bench/backward_vs_pytorch.py --lib dist/libflexjit_capi.so \\
      [--seq 8192 --batch 4 --heads 16 --dim 128] [--cases causal,document] \\
      [--deterministic] [--tiles 128x64w8s2,64x64w4s2] [--json FILE]

--tiles also times flexjit's backward at each listed tiling (blockN x blockM,
warps, stages; AttentionBackwardOptions) on every case, after the default's
row: a sweep to choose the defaults from measurements.

Exit status: 0 every case ran, 1 a case failed, 3 no CUDA GPU.
"""
import argparse
import ctypes
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from attention_vs_pytorch import CASES, SOFTCAP, WINDOW  # noqa: E402
import flexjit_ctypes as fc  # noqa: E402
from flexjit._capi import (AttentionBackwardDesc, AttentionBackwardInfo,  # noqa: E402
                           ModuleHandle)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.path.join(ROOT, "dist", "libflexjit_capi.so"))
    ap.add_argument("--seq", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--err-seq", type=int, default=1024,
                    help="sequence length of the error check (B 1, H 2; fp64 reference)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--deterministic", action="store_true", help="flexjit's deterministic dQ")
    ap.add_argument("--tiles", default="",
                    help="comma-separated NxMwWsS tilings to time as well (e.g. 128x64w8s2)")
    ap.add_argument("--also-sm80", action="store_true",
                    help="time the mma.sync dK/dV kernel too (where the default is the wgmma one)")
    ap.add_argument("--flexjit-only", action="store_true",
                    help="time flexjit's backward alone (no PyTorch, no error check): a run "
                         "for a profiler, e.g. ncu --kernel-name regex:bwd_dkdv; with "
                         "--also-sm80: the mma.sync dK/dV kernel instead")
    ap.add_argument("--json")
    return ap.parse_args(argv)


def parse_tiles(text):
    """'128x64w8s2,64x64w4s1' -> [(128, 64, 8, 2), (64, 64, 4, 1)]."""
    tiles = []
    for item in filter(None, text.split(",")):
        m = re.fullmatch(r"(\d+)x(\d+)w(\d+)s(\d+)", item.strip())
        if not m:
            raise SystemExit("--tiles: %r is not NxMwWsS (e.g. 128x64w8s2)" % item)
        tiles.append(tuple(int(g) for g in m.groups()))
    return tiles


def main(argv=None):
    args = parse_args(argv)
    tiles = parse_tiles(args.tiles)
    import torch
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    if not torch.cuda.is_available():
        print("no CUDA GPU", file=sys.stderr)
        return 3
    dev = torch.device("cuda", 0)
    lib = fc.Flexjit(args.lib)
    if not lib.has("flexjit_attention_backward"):
        print("%s has no flexjit_attention_backward (an older build)" % args.lib, file=sys.stderr)
        return 1
    lib._sig("flexjit_attention_backward_desc_init", [ctypes.POINTER(AttentionBackwardDesc)])
    lib._sig("flexjit_attention_backward", [ctypes.POINTER(ModuleHandle),
                                            ctypes.POINTER(AttentionBackwardDesc),
                                            ctypes.POINTER(AttentionBackwardInfo)])
    module = lib.module_from_file(os.path.join(ROOT, "examples", "mods.flex"))
    flex = torch.compile(flex_attention)

    def torch_mods(S, H):
        doc = (torch.arange(S, device=dev) * 8 // S).to(torch.int32)
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], device=dev)
        bias = torch.randn(H, S, generator=torch.Generator().manual_seed(1)).to(dev)
        masks = {
            "causal": lambda b, h, q, kv: q >= kv,
            "sliding_window": lambda b, h, q, kv: (q >= kv) & (q - kv <= WINDOW),
            "document": lambda b, h, q, kv: doc[q] == doc[kv],
            "prefix_lm": lambda b, h, q, kv: (kv < 2048) | (q >= kv),
        }
        scores = {
            "alibi": lambda s, b, h, q, kv: s + slopes[h] * (kv - q),
            "softcap": lambda s, b, h, q, kv: SOFTCAP * torch.tanh(s / SOFTCAP),
            "bias_2d": lambda s, b, h, q, kv: s + bias[h, kv],
        }
        inputs = {"params": {"prefix_len": 2048},
                  "buffers": {"doc_id": doc.cpu().tolist(), "slopes": slopes.cpu().tolist(),
                              "bias": bias.cpu()}}
        return masks, scores, inputs

    def flexjit_call(q, k, v, dO, mask, score, inputs, deterministic, tile=None, kernel=0):
        """The forward (out, LSE) and a prepared backward call."""
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[:3], dtype=torch.float32, device=dev)
        stream = torch.cuda.current_stream().cuda_stream
        fwd = module.prepare_attention(q, k, v, out, mask=mask, score=score,
                                       params=inputs["params"], buffers=inputs["buffers"],
                                       lse=lse, stream=stream)
        fwd()
        fc.wait_compiles(lib)
        fwd()
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        d = AttentionBackwardDesc()
        lib.check(lib.lib.flexjit_attention_backward_desc_init(ctypes.byref(d)), "desc_init")
        d.forward = fwd.desc
        d.forward.kernel = kernel  # the dK/dV kernel's template (0: flexjit's choice)
        d.d_out, d.dq, d.dk, d.dv = (fc.tensor_of(t) for t in (dO, dq, dk, dv))
        d.deterministic = 1 if deterministic else 0
        if tile:
            d.block_n, d.block_m, d.warps, d.stages = tile
        info = AttentionBackwardInfo()
        keep = (fwd, out, lse, dq, dk, dv, d, info)

        def bwd():
            lib.check(lib.lib.flexjit_attention_backward(module.handle, ctypes.byref(d),
                                                         ctypes.byref(info)),
                      "flexjit_attention_backward")
            return dq, dk, dv
        bwd.keep = keep
        return bwd

    def torch_call(q, k, v, dO, mask_fn, score_fn, S):
        bm = create_block_mask(mask_fn, 1, 1, S, S, device=dev) if mask_fn else None
        qq, kk, vv = (t.detach().requires_grad_() for t in (q, k, v))
        graph = []

        # A fresh forward graph for each backward (compiled backwards donate
        # their saved tensors, so a graph cannot be retained and reused);
        # time_ms runs it before the timed region.
        def prepare():
            graph.append(flex(qq, kk, vv, score_mod=score_fn, block_mask=bm))

        def bwd():
            if not graph:
                prepare()
            return torch.autograd.grad(graph.pop(), (qq, kk, vv), dO)
        bwd.prepare = prepare
        return bwd

    def time_ms(fn):
        """Median ms of fn() by CUDA events; fn.prepare (if any) runs before
        each call, outside the events."""
        prepare = getattr(fn, "prepare", lambda: None)
        for _ in range(args.warmup):
            prepare()
            fn()
        torch.cuda.synchronize()
        st = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
        en = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
        for i in range(args.iters):
            prepare()
            st[i].record()
            fn()
            en[i].record()
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) for s, e in zip(st, en))

    def allowed(mask_fn, S):
        if mask_fn is None:
            return float(S) * S
        q = torch.arange(S, device=dev)
        total = 0
        for start in range(0, S, 1024):
            qs = q[start:start + 1024, None]
            total += int(mask_fn(0, 0, qs, q[None, :]).sum())
        return float(total)

    def rel(x, ref):
        return float((x.double() - ref).norm() / ref.norm())

    results, failed = [], 0
    for name in args.cases.split(","):
        mask_name, score_name = CASES[name]
        row = {"case": name}
        results.append(row)
        # Each case is a new graph for Dynamo: past its recompile limit (8)
        # PyTorch would run the unfused eager flex_attention (a full score
        # matrix: 16 GiB at the benchmark shape) instead of its kernel.
        torch._dynamo.reset()
        try:
            # Speed at the benchmark shape.
            B, H, S, D = args.batch, args.heads, args.seq, args.dim
            masks, scores, inputs = torch_mods(S, H)
            mask_fn = masks.get(mask_name)
            score_fn = scores.get(score_name)
            g = torch.Generator(device=dev).manual_seed(0)
            q, k, v, dO = (torch.randn(B, H, S, D, device=dev, dtype=torch.bfloat16, generator=g)
                           for _ in range(4))
            flops = 2.5 * 4.0 * B * H * D * allowed(mask_fn, S)
            if args.flexjit_only:
                fb = flexjit_call(q, k, v, dO, mask_name, score_name, inputs, args.deterministic,
                                  kernel=80 if args.also_sm80 else 0)
                row["flexjit_bwd_ms"] = time_ms(fb)
                row["flexjit_tflops"] = flops / (row["flexjit_bwd_ms"] * 1e-3) / 1e12
                row["flexjit_tag"] = fb.keep[-1].tag.decode()
                print(json.dumps(row), flush=True)
                continue
            tb = torch_call(q, k, v, dO, mask_fn, score_fn, S)
            fb = flexjit_call(q, k, v, dO, mask_name, score_name, inputs, args.deterministic)
            row["torch_bwd_ms"] = time_ms(tb)
            row["flexjit_bwd_ms"] = time_ms(fb)
            row["torch_tflops"] = flops / (row["torch_bwd_ms"] * 1e-3) / 1e12
            row["flexjit_tflops"] = flops / (row["flexjit_bwd_ms"] * 1e-3) / 1e12
            row["speed_ratio"] = row["torch_bwd_ms"] / row["flexjit_bwd_ms"]
            row["flexjit_tag"] = fb.keep[-1].tag.decode()
            del fb
            if args.also_sm80:
                fs = flexjit_call(q, k, v, dO, mask_name, score_name, inputs, args.deterministic,
                                  kernel=80)
                row["sm80_bwd_ms"] = time_ms(fs)
                row["sm80_speed_ratio"] = row["torch_bwd_ms"] / row["sm80_bwd_ms"]
                del fs
            for tile in tiles:
                name_t = "%dx%dw%ds%d" % tile
                try:
                    ft = flexjit_call(q, k, v, dO, mask_name, score_name, inputs,
                                      args.deterministic, tile)
                    row["tile_" + name_t + "_ratio"] = row["torch_bwd_ms"] / time_ms(ft)
                    del ft
                except Exception as e:  # a tiling the kernels reject
                    row["tile_" + name_t + "_error"] = str(e)[:160]
            del q, k, v, dO, tb
            # Errors at a small shape against fp64.
            S = args.err_seq
            masks, scores, inputs = torch_mods(S, 2)
            mask_fn = masks.get(mask_name)
            score_fn = scores.get(score_name)
            q, k, v, dO = (torch.randn(1, 2, S, D, device=dev, dtype=torch.bfloat16, generator=g)
                           for _ in range(4))
            q64, k64, v64 = (t.double().requires_grad_() for t in (q, k, v))
            s = (q64 @ k64.transpose(-1, -2)) / D ** 0.5
            idx = torch.arange(S, device=dev)
            if score_fn:
                hh = torch.arange(2, device=dev)[:, None, None]
                s = score_fn(s, 0, hh, idx[:, None], idx[None, :])
            if mask_fn:
                s = s.masked_fill(~mask_fn(0, 0, idx[:, None], idx[None, :]), float("-inf"))
            o64 = torch.softmax(s, -1).nan_to_num(0.0) @ v64
            ref = torch.autograd.grad(o64, (q64, k64, v64), dO.double())
            got_t = torch_call(q, k, v, dO, mask_fn, score_fn, S)()
            got_f = flexjit_call(q, k, v, dO, mask_name, score_name, inputs, args.deterministic)()
            for n, a, b, r in zip(("dq", "dk", "dv"), got_t, got_f, ref):
                row["torch_err_" + n] = rel(a, r)
                row["flexjit_err_" + n] = rel(b, r)
                row["err_ratio_" + n] = row["flexjit_err_" + n] / max(row["torch_err_" + n], 1e-30)
        except Exception as e:  # one case failing does not stop the others
            row["error"] = str(e)
            failed += 1
        print(json.dumps(row), flush=True)

    print("| case | torch bwd ms | flexjit bwd ms | torch TFLOP/s | flexjit TFLOP/s | speed ratio "
          "| err dq (flexjit/torch) | err dk | err dv |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if args.flexjit_only and "error" not in r:
            print("| %s | - | %.3f | - | %.1f | - | - | - | - |"
                  % (r["case"], r["flexjit_bwd_ms"], r["flexjit_tflops"]))
            continue
        if "error" in r:
            print("| %s | failed: %s |" % (r["case"], r["error"][:200]))
            continue
        print("| %s | %.3f | %.3f | %.1f | %.1f | %.2f | %.2e / %.2e | %.2e / %.2e | %.2e / %.2e |"
              % (r["case"], r["torch_bwd_ms"], r["flexjit_bwd_ms"], r["torch_tflops"],
                 r["flexjit_tflops"], r["speed_ratio"], r["flexjit_err_dq"], r["torch_err_dq"],
                 r["flexjit_err_dk"], r["torch_err_dk"], r["flexjit_err_dv"], r["torch_err_dv"]))
    path = args.json or (os.path.join(os.environ["OUT"], "backward_vs_pytorch_B%d_H%d_S%d_D%d.json"
                                      % (args.batch, args.heads, args.seq, args.dim))
                         if os.environ.get("OUT") else None)
    if path:
        with open(path, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
