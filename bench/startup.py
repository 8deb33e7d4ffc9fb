"""Start-up of 20 attention variants: flexjit cold (empty disk cache, new
process), flexjit warm (disk cache filled, new process), and PyTorch's
torch.compile(flex_attention) first calls for the same 20 variants, in the
same run. Needs a GPU; writes a Markdown table (stdout and --out).

    FLEXJIT_LIBRARY=dist/libflexjit_capi.so PYTHONPATH=python \
        python bench/startup.py --out bench/results/startup.md
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

S, H = 1024, 4


def variants(torch):
    """20 (name, score_mod, mask_mod, dtype, head_dim)."""
    dev = "cuda"
    doc = (torch.arange(S, device=dev) // 300).view(1, S)
    slopes = torch.exp2(-8.0 * torch.arange(1, H + 1, device=dev) / H)

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def sliding(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx <= 256)

    def document(b, h, q_idx, kv_idx):
        return (doc[0, q_idx] == doc[0, kv_idx]) & (q_idx >= kv_idx)

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    def softcap(score, b, h, q_idx, kv_idx):
        return 30.0 * torch.tanh(score / 30.0)

    pairs = [("causal", None, causal), ("sliding", None, sliding),
             ("document", None, document), ("alibi+causal", alibi, causal),
             ("softcap+causal", softcap, causal)]
    out = []
    for name, score, mask in pairs:
        for dtype in (torch.bfloat16, torch.float16):
            for d in (64, 128):
                out.append(("%s %s d%d" % (name, str(dtype)[6:], d), score, mask, dtype, d))
    return out


def child(mode):
    import torch
    if mode == "torch":
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        # Every variant compiled: past Dynamo's recompile limit (8 by default)
        # PyTorch would run the rest unfused, which is not what users time.
        torch._dynamo.config.recompile_limit = 64
        fa = torch.compile(flex_attention)
    else:
        import flexjit
        from flexjit.torch import create_block_mask, flex_attention
        fa = flex_attention
    vs = variants(torch)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    pre_ms = 0.0
    if mode != "torch":
        done = flexjit.precompile([{"score_mod": s, "mask_mod": m, "dtype": dt,
                                    "head_dim": d, "device": "cuda"} for _, s, m, dt, d in vs])
        pre_ms = (time.perf_counter() - t0) * 1e3
        # Each variant's own time: their sum over the wall time is how many
        # compiled at once.
        variant_ms = [r["ms"] for r in done]
    for _, s, m, dt, d in vs:
        q, k, v = (torch.randn(1, H, S, d, device="cuda", dtype=dt) for _ in range(3))
        bm = create_block_mask(m, None, None, S, S, device="cuda")
        fa(q, k, v, score_mod=s, block_mask=bm)
    torch.cuda.synchronize()
    total = (time.perf_counter() - t0) * 1e3
    row = {"mode": mode, "precompile_ms": pre_ms, "total_ms": total}
    if mode != "torch":
        row.update(variant_ms_sum=sum(variant_ms), variant_ms_max=max(variant_ms),
                   threads=os.cpu_count())
    print(json.dumps(row))


def run_child(mode, env, timeout=None):
    """One new process; past `timeout` seconds its row says so (at least
    that long) instead of a figure."""
    try:
        r = subprocess.run([sys.executable, __file__, "--child", mode], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        row = {"mode": mode, "timeout_s": timeout}
        print(json.dumps(row), flush=True)
        return row
    if r.returncode != 0:
        sys.exit("%s run failed:\n%s" % (mode, r.stderr[-4000:]))
    row = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--out")
    ap.add_argument("--torch-timeout", type=float, default=None,
                    help="seconds PyTorch's process may take (default: no limit)")
    a = ap.parse_args()
    if a.child:
        return child(a.child)
    import torch
    if not torch.cuda.is_available():
        sys.exit("bench/startup.py needs a GPU")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as inductor:
        env = dict(os.environ, FLEXJIT_CACHE_DIR=cache, TORCHINDUCTOR_CACHE_DIR=inductor)
        cold = run_child("flexjit", env)
        warm = run_child("flexjit", env)
        torch_cold = run_child("torch", env, a.torch_timeout)
    rows = [("flexjit cold (empty disk cache, new process)", cold),
            ("flexjit warm (disk cache filled, new process)", warm),
            ("PyTorch torch.compile(flex_attention), empty inductor cache", torch_cold)]
    lines = ["| 20 variants, %s, S=%d, H=%d | precompile | precompile + first calls |"
             % (torch.cuda.get_device_name(), S, H), "|---|---|---|"]
    for name, r in rows:
        if "timeout_s" in r:
            lines.append("| %s | — | more than %.0f s (stopped) |" % (name, r["timeout_s"]))
            continue
        pre = "%.0f ms" % r["precompile_ms"] if r["mode"] != "torch" else "—"
        lines.append("| %s | %s | %.0f ms |" % (name, pre, r["total_ms"]))
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
