#!/usr/bin/env python3
"""Attention forward, flexjit vs PyTorch FlexAttention, in one process on one GPU (docs/flex-bench.md).

For each case (mods of examples/mods.flex and their PyTorch twins):
  none            no mods
  causal          mask causal
  sliding_window  mask sliding_window (causal, WINDOW = 1024)
  document        mask document, doc_id = 8 equal documents
  prefix_lm       mask prefix_lm, prefix_len = 2048
  alibi_causal    score alibi (slopes 2^(-8(h+1)/H)) + mask causal
  softcap_causal  score softcap (30 tanh(s/30)) + mask causal
it makes random q, k, v (bf16, [B, H, S, D]) with torch on cuda and runs
  PyTorch   torch.compile(flex_attention) with the block mask of
            torch.compile(create_block_mask) (made once, outside the timing)
  flexjit   flexjit_attention through the C API (libflexjit_capi.so, ctypes):
            the tensors' data_ptr() and strides, on torch's current stream
timing both the same way: CUDA events around each call on the current stream,
after warm-up calls, no synchronization between the timed calls; medians.
Both return the log-sum-exp in the timed calls (PyTorch's return_lse=True).
A second reference for the cases it has (none, causal): cuDNN's fused
attention through torch's scaled_dot_product_attention with only the cuDNN
backend allowed (no LSE asked: SDPA does not return it), timed the same way;
--no-cudnn skips it, and a case where torch has no cuDNN backend says so.
TFLOP/s count allowed positions only: 4*B*H*Q*KV*D*density, the density
exact (the mask evaluated at every position, on the GPU).

Accuracy: max and mean absolute error of each output against an fp64
reference computed with torch on a subset (--ref-pairs (b, h) pairs, --ref-rows
query rows of each, the first and last rows included), the ratio
flexjit error / PyTorch error (the bar: at most 2), and the LSE's errors.

  python3 bench/attention_vs_pytorch.py --lib dist/libflexjit_capi.so \\
      [--seq 8192 --batch 4 --heads 16 --dim 128] [--cases causal,document] [--json FILE]

Results go to --json FILE, else to $OUT/attention_vs_pytorch_B..._H..._S..._D....json
when $OUT is set. Exit status: 0 all cases ran and met the error bar, 1 a case
failed or missed the bar, 2 bad usage, 3 no CUDA GPU.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

WINDOW = 1024      # examples/mods.flex: const WINDOW
SOFTCAP = 30.0     # examples/mods.flex: const SOFTCAP

# case -> (mask mod, score mod) of examples/mods.flex
CASES = {
    "none": (None, None),
    "causal": ("causal", None),
    "sliding_window": ("sliding_window", None),
    "document": ("document", None),
    "prefix_lm": ("prefix_lm", None),
    "alibi_causal": ("causal", "alibi"),
    "softcap_causal": ("causal", "softcap"),
    # A score mod reading a 2-D captured f32 buffer (a learned bias per head and key).
    "bias_2d_causal": ("causal", "bias_2d"),
    # Soft-capped ALiBi under a document mask: two buffers and a tanh a score
    # (the pair whose kv loop held the most in local memory).
    "soft_alibi_document": ("document", "soft_alibi"),
    # ALiBi where q >= kv (else -inf) under a document mask: the read of
    # slopes[h] sits in a branch, so a checked read's report is gated per
    # score (flexjit-unswitch-invariant-reports, docs/attention-hopper.md).
    "alibi_causal_document": ("document", "alibi_causal"),
}


# flexjit.h's FLEXJIT_SM90_OFF_* bits.
SM90_OFF = {"warp-specialization": 1, "ping-pong": 2, "intra-overlap": 4, "persistent": 8,
            "reads-proof": 16, "early-reads": 32, "lazy-rescale": 64,
            "pinned-wait": 128, "scale-in-query": 256,
            "kv-term": 512, "unswitch-reports": 1024,
            "separate-verdicts": 2048}


def off_name(off):
    """A variant of --also-off: "off:" and its techniques, as its keys in the results."""
    return "off:" + ",".join(n for n, b in SM90_OFF.items() if off & b)


def technique_list(text):
    bits = 0
    for name in filter(None, text.split(",")):
        if name not in SM90_OFF:
            raise argparse.ArgumentTypeError("no sm_90a technique %r (%s)" % (name, ", ".join(SM90_OFF)))
        bits |= SM90_OFF[name]
    return bits


def positive(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1: %r" % text)
    return v


def case_list(text):
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no case named")
    for n in names:
        if n not in CASES:
            raise argparse.ArgumentTypeError("unknown case %r (known: %s)" % (n, ", ".join(CASES)))
    return names


def tile_list(text):
    """'64:2,128:3,64:2:16' -> [(64, 2, 0), (128, 3, 0), (64, 2, 16)]: blockN:stages, and
    optionally :rowsPerWarp (the sm_80 template's query rows per warp; 0: flexjit's choice)."""
    tiles = []
    for word in filter(None, text.split(",")):
        try:
            fields = [int(x) for x in word.split(":")]
        except ValueError:
            fields = []
        if len(fields) not in (2, 3):
            raise argparse.ArgumentTypeError("not blockN:stages or blockN:stages:rowsPerWarp: %r"
                                             % word)
        n, st, rows = fields[0], fields[1], fields[2] if len(fields) == 3 else 0
        if n < 1 or st < 1:
            raise argparse.ArgumentTypeError("blockN and stages must be at least 1: %r" % word)
        if len(fields) == 3 and rows not in (16, 32):
            raise argparse.ArgumentTypeError("rowsPerWarp is 16 or 32: %r" % word)
        tiles.append((n, st, rows))
    if not tiles:
        raise argparse.ArgumentTypeError("no tile named")
    return tiles


def tile_name(t):
    """A variant's name in the results: n64_s2, or n64_s2_r16 with rows per warp."""
    return "n%d_s%d" % t[:2] + ("_r%d" % t[2] if t[2] else "")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Attention forward: flexjit (C API via ctypes) vs PyTorch FlexAttention.")
    ap.add_argument("--lib", default=os.path.join(ROOT, "dist", "libflexjit_capi.so"),
                    help="libflexjit_capi.so (default: dist/libflexjit_capi.so)")
    ap.add_argument("--mods", default=os.path.join(ROOT, "examples", "mods.flex"),
                    help=".flex file with the mods (default: examples/mods.flex)")
    ap.add_argument("--batch", type=positive, default=4)
    ap.add_argument("--heads", type=positive, default=16)
    ap.add_argument("--seq", type=positive, default=8192, help="Q_LEN = KV_LEN")
    ap.add_argument("--dim", type=positive, default=128)
    ap.add_argument("--cases", type=case_list, default=list(CASES),
                    help="comma-separated, of: " + ", ".join(CASES) + " (default: all)")
    ap.add_argument("--iters", type=positive, default=20, help="timed calls (default 20)")
    ap.add_argument("--warmup", type=positive, default=5, help="calls before timing (default 5)")
    ap.add_argument("--warmup-ms", type=float, default=100.0,
                    help="and more warm-up calls until they took this long (default 100)")
    ap.add_argument("--documents", type=positive, default=8)
    ap.add_argument("--prefix-len", type=positive, default=2048)
    ap.add_argument("--ref-rows", type=positive, default=256,
                    help="query rows of each (b, h) pair in the fp64 reference (default 256)")
    ap.add_argument("--ref-pairs", type=positive, default=3,
                    help="(b, h) pairs in the reference (default 3: first, middle, last)")
    ap.add_argument("--bar", type=float, default=2.0,
                    help="flexjit error / PyTorch error allowed (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kernel", choices=("auto", "sm80", "sm90"), default="auto",
                    help="flexjit's template: its choice (sm90 on an H100/H200 where it applies), "
                         "or one forced (default auto)")
    ap.add_argument("--block-n", type=int, default=0,
                    help="flexjit's kv tile (options.blockN; default 0: flexjit's choice)")
    ap.add_argument("--stages", type=int, default=0,
                    help="flexjit's K/V tiles in flight (options.stages; default 0: flexjit's "
                    "choice)")
    ap.add_argument("--sm90-off", type=technique_list, default=0,
                    help="sm_90a techniques switched off, comma-separated: " + ", ".join(SM90_OFF)
                    + " (the ablation of docs/attention-hopper.md; default none)")
    ap.add_argument("--also-off", type=technique_list, action="append", default=[],
                    help="also time flexjit with these sm_90a techniques off (on top of "
                    "--sm90-off), in the same process on the same inputs: the ablation without "
                    "the 2-3%% that separate processes differ by; repeat it for several "
                    "variants (each a comma-separated list)")
    ap.add_argument("--also-tiles", type=tile_list, default=[],
                    help="also time flexjit at these tiles, blockN:stages comma-separated (say "
                    "64:2,128:3), in the same process on the same inputs: the tile choice "
                    "measured without the drift between processes; blockN:stages:rowsPerWarp "
                    "(16 or 32) sets the sm_80 template's query rows per warp too")
    ap.add_argument("--no-cudnn", action="store_true",
                    help="skip the cuDNN reference (SDPA's cuDNN backend) of the none and "
                    "causal cases")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: a check of this script without a GPU, at small shapes: eager "
                    "PyTorch on the CPU against flexjit's CPU reference "
                    "(flexjit_attention_reference, f32 out), wall-clock times")
    return ap.parse_args(argv)


def default_json_path(args):
    out = os.environ.get("OUT")
    if not out:
        return None
    return os.path.join(out, "attention_vs_pytorch_B%d_H%d_S%d_D%d_%s%s.json"
                        % (args.batch, args.heads, args.seq, args.dim, args.kernel,
                           ("_n%d" % args.block_n if args.block_n else "")
                           + ("_s%d" % args.stages if args.stages else "")
                           + ("_off%d" % args.sm90_off if args.sm90_off else "")))


def doc_ids(n, documents):
    """Document of each position: `documents` equal documents (flex-bench's too)."""
    return [i * documents // n for i in range(n)]


def alibi_slopes(heads):
    return [2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)]


def reference_rows(S, count, seed):
    """Query rows of the reference: the first and last 16, the rest spread
    evenly with a seeded jitter; sorted, unique."""
    import random
    rnd = random.Random(seed)
    rows = set(range(min(16, S))) | set(range(max(0, S - 16), S))
    rest = max(0, count - len(rows))
    for i in range(rest):
        lo = i * S // max(1, rest)
        hi = max(lo + 1, (i + 1) * S // max(1, rest))
        rows.add(rnd.randrange(lo, min(hi, S)))
    return sorted(rows)[:max(count, len(rows))]


def reference_pairs(B, H, count):
    pairs = [(0, 0), ((B - 1) // 2, H // 2), (B - 1, H - 1), (B - 1, 0), (0, H - 1)]
    out = []
    for p in pairs:
        if p not in out:
            out.append(p)
    return out[:count]


def error_stats(x, ref):
    """(max, mean) absolute error of x against ref (same shape, float64)."""
    d = (x.double() - ref).abs()
    return float(d.max()), float(d.mean())


def lse_error(x, ref):
    """Max absolute error over the rows whose reference LSE is finite, and
    whether every -inf row (no allowed position) is -inf in x too."""
    import torch
    finite = torch.isfinite(ref)
    err = float((x.double()[finite] - ref[finite]).abs().max()) if bool(finite.any()) else 0.0
    empty_ok = bool(torch.all(torch.isneginf(x.double()[~finite]))) if bool((~finite).any()) else True
    return err, empty_ok


# Cases whose mask SDPA's cuDNN backend has (is_causal): the second reference.
CUDNN_CASES = (None, "causal")


def cudnn_call(q, k, v, scale, causal):
    """A call of cuDNN's fused attention: SDPA with only the cuDNN backend
    allowed (an error, not another backend, where cuDNN cannot run it)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def run():
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            return sdpa(q, k, v, is_causal=causal, scale=scale)
    return run


def ratio(a, b):
    return a / b if b > 0 else (1.0 if a == 0 else float("inf"))


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.lib, "--lib"), (args.mods, "--mods")):
        if not os.path.exists(path):
            print("attention_vs_pytorch: error: %s %s does not exist" % (what, path), file=sys.stderr)
            return 2
    import torch
    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        print("attention_vs_pytorch: error: no CUDA GPU available to torch", file=sys.stderr)
        return 3
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    try:  # PyTorch 2.9+: return_aux; return_lse before (deprecated since)
        from torch.nn.attention.flex_attention import AuxRequest
    except ImportError:
        AuxRequest = None
    import flexjit_ctypes as fj

    for knob in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 256)

    device = args.device
    B, H, S, D = args.batch, args.heads, args.seq, args.dim
    dev_name = torch.cuda.get_device_name(0) if on_gpu else "cpu (flexjit: its CPU reference)"
    lib = fj.Flexjit(args.lib)
    module = lib.module_from_file(args.mods)
    print("torch %s on %s; flexjit %s (%s)" % (torch.__version__, dev_name, lib.version(), lib.path),
          flush=True)
    print("B=%d H=%d S=%d D=%d bf16 on %s; %d timed calls after %d warm-up; reference: %d (b, h) pairs x "
          "%d rows, fp64" % (B, H, S, D, device, args.iters, args.warmup, args.ref_pairs, args.ref_rows),
          flush=True)

    # Mod inputs, the same values for both.
    doc = torch.tensor(doc_ids(S, args.documents), dtype=torch.int32, device=device)
    slopes = torch.tensor(alibi_slopes(H), dtype=torch.float32, device=device)
    bias = torch.randn(H, S, generator=torch.Generator().manual_seed(args.seed),
                       dtype=torch.float32).to(device)
    masks = {
        "causal": lambda b, h, q, kv: q >= kv,
        "sliding_window": lambda b, h, q, kv: (q >= kv) & (q - kv <= WINDOW),
        "prefix_lm": lambda b, h, q, kv: (kv < args.prefix_len) | (q >= kv),
        "document": lambda b, h, q, kv: doc[q] == doc[kv],
    }
    scores = {
        "alibi": lambda s, b, h, q, kv: s + slopes[h] * (kv - q),
        "softcap": lambda s, b, h, q, kv: SOFTCAP * torch.tanh(s / SOFTCAP),
        "bias_2d": lambda s, b, h, q, kv: s + bias[h, kv],
        "soft_alibi": lambda s, b, h, q, kv: SOFTCAP * torch.tanh((s + slopes[h] * (kv - q)) / SOFTCAP),
        "alibi_causal": lambda s, b, h, q, kv: torch.where(q >= kv, s + slopes[h] * (kv - q),
                                                           -float("inf")),
    }
    fj_params = {"prefix_len": args.prefix_len}
    fj_buffers = {"doc_id": doc.cpu(), "slopes": slopes.cpu(), "bias": bias.cpu()}

    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    q = torch.randn(B, H, S, D, device=device, dtype=torch.bfloat16, generator=gen)
    k = torch.randn(B, H, S, D, device=device, dtype=torch.bfloat16, generator=gen)
    v = torch.randn(B, H, S, D, device=device, dtype=torch.bfloat16, generator=gen)
    # flexjit's CPU reference writes f32 (or f64) only.
    out_fj = torch.empty_like(q) if on_gpu else torch.empty(B, H, S, D, dtype=torch.float32)
    lse_fj = torch.empty(B, H, S, device=device, dtype=torch.float32)
    scale = 1.0 / math.sqrt(D)

    flex = torch.compile(flex_attention) if on_gpu else flex_attention
    make_mask = torch.compile(create_block_mask) if on_gpu else create_block_mask
    pairs = reference_pairs(B, H, args.ref_pairs)
    rows = torch.tensor(reference_rows(S, args.ref_rows, args.seed), device=device)

    def allowed_positions(mask_fn):
        if mask_fn is None:
            return S * S
        zero = torch.zeros((), dtype=torch.int64, device=device)
        kv_idx = torch.arange(S, device=device)[None, :]
        total = 0
        chunk = max(1, (1 << 25) // S)
        for q0 in range(0, S, chunk):
            q_idx = torch.arange(q0, min(S, q0 + chunk), device=device)[:, None]
            total += int(mask_fn(zero, zero, q_idx, kv_idx).sum().item())
        return total

    def reference(b, h, mask_fn, score_fn):
        """fp64 output and LSE of the reference rows of (b, h)."""
        qs = q[b, h, rows].double()
        s = (qs @ k[b, h].double().T) * scale
        bt = torch.tensor(b, device=device)
        ht = torch.tensor(h, device=device)
        q_idx = rows[:, None]
        kv_idx = torch.arange(S, device=device)[None, :]
        if score_fn is not None:
            s = score_fn(s, bt, ht, q_idx, kv_idx).double()
        if mask_fn is not None:
            s = torch.where(mask_fn(bt, ht, q_idx, kv_idx), s, torch.tensor(-math.inf, dtype=s.dtype,
                                                                          device=device))
        lse = torch.logsumexp(s, dim=-1)
        p = torch.exp(s - torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))[:, None])
        p = torch.where(torch.isfinite(lse)[:, None], p, torch.zeros_like(p))
        return p @ v[b, h].double(), lse

    def synchronize():
        if on_gpu:
            torch.cuda.synchronize()

    def warm_up(fn):
        for _ in range(args.warmup):
            fn()
        synchronize()
        t0 = time.perf_counter()
        while (time.perf_counter() - t0) * 1e3 < args.warmup_ms:
            fn()
            synchronize()

    def time_calls(fn):
        warm_up(fn)
        if not on_gpu:
            ms = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                fn()
                ms.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(ms), min(ms)
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(args.iters)]
        for i in range(args.iters):
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        ms = [s.elapsed_time(e) for s, e in zip(starts, ends)]
        return statistics.median(ms), min(ms)

    results, failed = [], 0
    for name in args.cases:
        mask_name, score_name = CASES[name]
        mask_fn = masks.get(mask_name) if mask_name else None
        score_fn = scores.get(score_name) if score_name else None
        row = {"case": name, "mask": mask_name, "score": score_name}
        results.append(row)
        try:
            allowed = allowed_positions(mask_fn)
            row["density"] = allowed / float(S * S)
            flops = 4.0 * B * H * D * allowed
            row["flops"] = flops

            # PyTorch: the block mask once, then the compiled attention.
            synchronize()
            t0 = time.perf_counter()
            bm = make_mask(mask_fn, 1, 1, S, S, device=device) if mask_fn else None
            synchronize()
            row["torch_blockmask_first_s"] = time.perf_counter() - t0

            def run_torch():
                if AuxRequest is not None:
                    o_, aux = flex(q, k, v, score_mod=score_fn, block_mask=bm, scale=scale,
                                   return_aux=AuxRequest(lse=True))
                    return o_, aux.lse
                return flex(q, k, v, score_mod=score_fn, block_mask=bm, scale=scale, return_lse=True)

            t0 = time.perf_counter()
            run_torch()
            synchronize()
            row["torch_first_call_s"] = time.perf_counter() - t0
            ms, mn = time_calls(run_torch)
            row.update(torch_ms=ms, torch_min_ms=mn, torch_tflops=flops / (ms * 1e-3) / 1e12)

            # cuDNN (SDPA's cuDNN backend) where it has the mask: none, causal.
            if on_gpu and not args.no_cudnn and score_name is None and mask_name in CUDNN_CASES:
                try:
                    run_cudnn = cudnn_call(q, k, v, scale, mask_name == "causal")
                    run_cudnn()
                    ms, mn = time_calls(run_cudnn)
                    row.update(cudnn_ms=ms, cudnn_min_ms=mn,
                               cudnn_tflops=flops / (ms * 1e-3) / 1e12)
                except Exception as e:  # no cuDNN backend for this input: said, not fatal
                    row["cudnn_error"] = "%s: %s" % (type(e).__name__, e)

            # flexjit: the block mask once (B, H broadcast, as PyTorch's), then one
            # prepared call (tensors, mods, inputs, mask) on torch's current stream.
            synchronize()
            t0 = time.perf_counter()
            fj_mask = (module.blockmask(mask_name, S, S, params=fj_params, buffers=fj_buffers,
                                        device=torch.cuda.current_device())
                       if mask_name and on_gpu else None)
            row["flexjit_blockmask_first_s"] = time.perf_counter() - t0
            call = module.prepare_attention(
                q, k, v, out_fj, mask=mask_name, score=score_name, params=fj_params,
                buffers=fj_buffers, lse=lse_fj, scale=scale, block_mask=fj_mask,
                stream=torch.cuda.current_stream().cuda_stream if on_gpu else None,
                kernel={"auto": 0, "sm80": 80, "sm90": 90}[args.kernel], block_n=args.block_n,
                stages=args.stages, sm90_off=args.sm90_off,
                reference=not on_gpu)
            synchronize()
            t0 = time.perf_counter()
            call()
            synchronize()
            row["flexjit_first_call_s"] = time.perf_counter() - t0
            if on_gpu:
                # Tiered compilation: time the kernel flexjit chose, not the
                # quicker-to-compile one the first call may have run.
                fj.wait_compiles(lib)
            ms, mn = time_calls(call)
            if on_gpu:
                row["flexjit_entry"] = call.info.entry.decode()
            row.update(flexjit_ms=ms, flexjit_min_ms=mn, flexjit_tflops=flops / (ms * 1e-3) / 1e12)
            row["speed_ratio"] = row["flexjit_tflops"] / row["torch_tflops"]
            if "cudnn_tflops" in row:
                row["cudnn_ratio"] = row["flexjit_tflops"] / row["cudnn_tflops"]
            # Variants in the same process, then the default again: drift
            # between the first and the last timing of the default shows.
            variants = []
            if on_gpu:
                variants += [(off_name(off), dict(block_n=args.block_n, stages=args.stages,
                                                  sm90_off=args.sm90_off | off))
                             for off in args.also_off]
            if on_gpu:
                variants += [(tile_name(t), dict(block_n=t[0], stages=t[1], rows_per_warp=t[2],
                                                 sm90_off=args.sm90_off))
                             for t in args.also_tiles]
            for vname, knobs in variants:
                try:
                    v_call = module.prepare_attention(
                        q, k, v, out_fj, mask=mask_name, score=score_name, params=fj_params,
                        buffers=fj_buffers, lse=lse_fj, scale=scale, block_mask=fj_mask,
                        stream=torch.cuda.current_stream().cuda_stream,
                        kernel={"auto": 0, "sm80": 80, "sm90": 90}[args.kernel],
                        reference=False, **knobs)
                    v_call()
                    fj.wait_compiles(lib)
                    ms, mn = time_calls(v_call)
                    row[vname + "_entry"] = v_call.info.entry.decode()
                    row[vname + "_ms"] = ms
                    row[vname + "_tflops"] = flops / (ms * 1e-3) / 1e12
                    del v_call
                except Exception as e:  # a tile this template does not take: said, not fatal
                    row[vname + "_error"] = "%s: %s" % (type(e).__name__, e)
            if variants:
                ms, mn = time_calls(call)
                row["flexjit_again_tflops"] = flops / (ms * 1e-3) / 1e12

            # Accuracy on the reference subset (fresh outputs of both).
            out_t, lse_t = run_torch()
            call()
            synchronize()
            errs = {"torch": [0.0, 0.0, 0.0, True], "flexjit": [0.0, 0.0, 0.0, True]}
            mean_acc = {"torch": 0.0, "flexjit": 0.0}
            diff_max = 0.0
            for b, h in pairs:
                ref_o, ref_l = reference(b, h, mask_fn, score_fn)
                for who, o_, l_ in (("torch", out_t, lse_t), ("flexjit", out_fj, lse_fj)):
                    mx, mean = error_stats(o_[b, h, rows], ref_o)
                    le, empty_ok = lse_error(l_[b, h, rows], ref_l)
                    e = errs[who]
                    e[0] = max(e[0], mx)
                    mean_acc[who] += mean / len(pairs)
                    e[2] = max(e[2], le)
                    e[3] = e[3] and empty_ok
                diff_max = max(diff_max, float((out_fj[b, h, rows].double()
                                                - out_t[b, h, rows].double()).abs().max()))
            for who in ("torch", "flexjit"):
                row[who + "_max_err"] = errs[who][0]
                row[who + "_mean_err"] = mean_acc[who]
                row[who + "_lse_max_err"] = errs[who][2]
                row[who + "_lse_empty_rows_ok"] = errs[who][3]
            row["flexjit_vs_torch_max_diff"] = diff_max
            row["max_err_ratio"] = ratio(row["flexjit_max_err"], row["torch_max_err"])
            row["mean_err_ratio"] = ratio(row["flexjit_mean_err"], row["torch_mean_err"])
            row["lse_err_ratio"] = ratio(row["flexjit_lse_max_err"], row["torch_lse_max_err"])
            row["meets_bar"] = (row["max_err_ratio"] <= args.bar and row["mean_err_ratio"] <= args.bar
                                and row["flexjit_lse_empty_rows_ok"]
                                and math.isfinite(row["flexjit_max_err"]))
            if not row["meets_bar"]:
                failed += 1
            del bm, call, fj_mask
        except Exception as e:  # one case's failure is reported, the others still run
            row["error"] = "%s: %s" % (type(e).__name__, e)
            failed += 1
        print("%s: %s" % (name, "error: " + row["error"] if "error" in row else "done"), flush=True)

    print()
    print("B=%d H=%d S=%d D=%d bf16 on %s; times are medians; TFLOP/s = 4*B*H*S*S*D*density / time"
          % (B, H, S, D, dev_name))
    hdr = ("case", "density", "torch ms", "torch TFLOP/s", "flexjit ms", "flexjit TFLOP/s",
           "flexjit/torch", "cuDNN TFLOP/s", "flexjit/cuDNN", "max err torch", "max err flexjit", "max err ratio", "mean err ratio",
           "lse err torch", "lse err flexjit", "bar", "first call torch s", "first call flexjit s")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in results:
        if "error" in r:
            print("| %s | %s |" % (r["case"], "ERROR " + r["error"].replace("|", "/").replace("\n", " ")))
            continue
        cudnn = ("%.1f" % r["cudnn_tflops"], "%.2fx" % r["cudnn_ratio"]) if "cudnn_ratio" in r else (
            ("error", "-") if "cudnn_error" in r else ("-", "-"))
        print("| %s | %.4f | %.3f | %.1f | %.3f | %.1f | %.2fx | %s | %s | %.2e | %.2e | %.2f | %.2f "
              "| %.2e | %.2e | %s | %.1f | %.1f |"
              % (r["case"], r["density"], r["torch_ms"], r["torch_tflops"], r["flexjit_ms"],
                 r["flexjit_tflops"], r["speed_ratio"], cudnn[0], cudnn[1], r["torch_max_err"],
                 r["flexjit_max_err"],
                 r["max_err_ratio"], r["mean_err_ratio"], r["torch_lse_max_err"],
                 r["flexjit_lse_max_err"], "ok" if r["meets_bar"] else "MISSED",
                 r["torch_first_call_s"], r["flexjit_first_call_s"]))
    for off in args.also_off:
        n = off_name(off)
        print()
        print("Same process, also off: " + n[len("off:"):])
        print("| case | flexjit TFLOP/s | also off TFLOP/s | flexjit again TFLOP/s | on/off | kernel off |")
        print("|---|---|---|---|---|---|")
        for r in results:
            if n + "_tflops" in r:
                print("| %s | %.1f | %.1f | %.1f | %.3f | %s |"
                      % (r["case"], r["flexjit_tflops"], r[n + "_tflops"], r["flexjit_again_tflops"],
                         r["flexjit_tflops"] / r[n + "_tflops"], r[n + "_entry"]))
            elif n + "_error" in r:
                print("| %s | %.1f | error: %s |" % (r["case"], r["flexjit_tflops"], r[n + "_error"]))
            elif "flexjit_tflops" in r:
                print("| %s | %.1f | not run (variants run on a GPU only) |"
                      % (r["case"], r["flexjit_tflops"]))
    if args.also_tiles:
        print()
        print("Same process, other tiles (blockN:stages[:rowsPerWarp]): TFLOP/s, and / the "
              "default's first timing")
        names = [tile_name(t) for t in args.also_tiles]
        print("| case | flexjit TFLOP/s | " + " | ".join(names) + " | flexjit again TFLOP/s |")
        print("|---|---|" + "---|" * len(names) + "---|")
        for r in results:
            if "flexjit_tflops" not in r:
                continue
            cells = []
            for n in names:
                if n + "_tflops" in r:
                    cells.append("%.1f (%.3f)" % (r[n + "_tflops"], r[n + "_tflops"] / r["flexjit_tflops"]))
                else:
                    cells.append("error: " + r[n + "_error"].replace("|", "/") if n + "_error" in r
                                 else "not run (variants run on a GPU only)")
            print("| %s | %.1f | %s | %.1f |" % (r["case"], r["flexjit_tflops"], " | ".join(cells),
                                                r.get("flexjit_again_tflops", float("nan"))))
    for r in results:
        if "flexjit_entry" in r:
            print("flexjit kernel on %s (--kernel %s): %s" % (r["case"], args.kernel, r["flexjit_entry"]))
        if "cudnn_error" in r:
            print("cuDNN on %s: %s" % (r["case"], r["cudnn_error"]))
    print("errors: absolute, against fp64 on %d (b, h) pairs x %d rows; bar: flexjit/torch <= %.1f "
          "(max and mean)" % (len(pairs), len(rows), args.bar))

    path = args.json or default_json_path(args)
    if path:
        doc_out = {"torch": torch.__version__, "device": dev_name, "flexjit": lib.version(),
                   "batch": B, "heads": H, "seq": S, "dim": D, "dtype": "bf16",
                   "kernel": args.kernel, "block_n": args.block_n, "stages": args.stages,
                   "sm90_off": args.sm90_off, "also_off": args.also_off, "also_tiles": args.also_tiles, "iters": args.iters, "warmup": args.warmup, "bar": args.bar,
                   "reference": {"pairs": pairs, "rows": len(rows)}, "cases": results}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc_out, f, indent=1, default=str)
        print("results written to", path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
