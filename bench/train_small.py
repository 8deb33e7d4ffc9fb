"""A 200-step training run of a small transformer (random tokens in
documents, causal document mask) with flexjit's flex_attention and with
PyTorch's FlexAttention (torch.compile'd): same initial weights, same data.
Prints both loss curves, the time per step, and a verdict: "loss curves
agree: yes" when the curves match within the loss's step-to-step noise (the
exit status is 1 when they clearly disagree, or a loss is not finite). Needs a
GPU.

    FLEXJIT_LIBRARY=dist/libflexjit_capi.so PYTHONPATH=python \
        python bench/train_small.py --steps 200
"""
import argparse
import copy
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# The document ids of the current step's batch [batch, seq]: one module-level
# tensor whose contents each step overwrites, read by the mask mod below. A
# global (not a closure variable of a function made per step) keeps
# torch.compile's graph for PyTorch's run: the same function and tensor every
# step, so no recompilation.
DOC_IDS = None

# The verdict (loss_verdict): over the last TAIL steps, the mean absolute
# difference of the two curves at most MEAN_BOUND times the loss's step-to-step
# noise, and the final losses' difference at most FINAL_BOUND times it.
TAIL = 50
MEAN_BOUND = 2.0
FINAL_BOUND = 3.0


def document_causal(b, h, q_idx, kv_idx):
    return (DOC_IDS[b, q_idx] == DOC_IDS[b, kv_idx]) & (q_idx >= kv_idx)


def step_noise(losses):
    """The standard deviation of one step's loss around its trend: that of the
    differences of consecutive losses, over sqrt(2)."""
    d = [b - a for a, b in zip(losses, losses[1:])]
    if len(d) < 2:
        return 0.0
    m = sum(d) / len(d)
    return math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / 2)


def loss_verdict(a, b, tail=TAIL):
    """(agree, explanation) for two loss curves of the same steps on the same
    batches: the paired differences of the last `tail` steps against the
    step-to-step noise of both curves there."""
    a, b = a[-tail:], b[-tail:]
    if not all(math.isfinite(x) for x in a + b):
        return False, "a loss is not finite"
    noise = max((step_noise(a) + step_noise(b)) / 2, 1e-3 * abs(sum(a) / len(a)), 1e-9)
    mean_diff = sum(abs(x - y) for x, y in zip(a, b)) / len(a)
    final_diff = abs(a[-1] - b[-1])
    agree = mean_diff <= MEAN_BOUND * noise and final_diff <= FINAL_BOUND * noise
    return agree, ("last %d steps: mean |difference| %.4f, final losses %.4f vs %.4f "
                   "(difference %.4f), step-to-step noise %.4f; bounds %.0fx and %.0fx the "
                   "noise" % (len(a), mean_diff, a[-1], b[-1], final_diff, noise, MEAN_BOUND,
                              FINAL_BOUND))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, attend, block_mask):
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, S, 3, self.heads, D // self.heads) \
            .permute(2, 0, 3, 1, 4).to(torch.bfloat16).unbind(0)
        a = attend(q, k, v, block_mask=block_mask)
        x = x + self.proj(a.transpose(1, 2).reshape(B, S, D).float())
        return x + self.mlp(self.ln2(x))


class Model(nn.Module):
    def __init__(self, vocab, d, heads, layers, seq):
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, d), nn.Parameter(torch.zeros(seq, d))
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.out = nn.Linear(d, vocab)

    def forward(self, tokens, attend, block_mask):
        x = self.emb(tokens) + self.pos
        for b in self.blocks:
            x = b(x, attend, block_mask)
        return self.out(x)


def run(name, model, attend, make_mask, batches, doc_ids, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    losses, times = [], []
    for step in range(steps):
        tokens = batches[step % len(batches)]
        DOC_IDS.copy_(doc_ids[step % len(doc_ids)])
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        mask = make_mask(document_causal, tokens.shape[0], None, tokens.shape[1],
                         tokens.shape[1], device="cuda")
        logits = model(tokens, attend, mask)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                               tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    return losses, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args()
    global DOC_IDS
    if not torch.cuda.is_available():
        sys.exit("bench/train_small.py needs a GPU")
    from torch.nn.attention.flex_attention import create_block_mask as torch_mask
    from torch.nn.attention.flex_attention import flex_attention as torch_fa
    import flexjit.torch as fj

    torch.manual_seed(0)
    vocab, d, heads = 256, 256, 4
    base = Model(vocab, d, heads, a.layers, a.seq).cuda()
    # 16 batches of random tokens cut into documents of random lengths; the
    # next token repeats the one 3 back 50% of the time, so there is
    # something to learn.
    g = torch.Generator(device="cuda").manual_seed(1)
    batches, doc_ids = [], []
    for _ in range(16):
        t = torch.randint(0, vocab, (a.batch, a.seq), device="cuda", generator=g)
        rep = torch.rand(a.batch, a.seq, device="cuda", generator=g) < 0.5
        t[:, 3:] = torch.where(rep[:, 3:], t[:, :-3], t[:, 3:])
        lengths = torch.randint(64, 512, (a.batch, a.seq), device="cuda", generator=g)
        starts = torch.zeros(a.batch, a.seq, dtype=torch.int32, device="cuda")
        for b in range(a.batch):
            pos, doc = 0, 0
            while pos < a.seq:
                n = int(lengths[b, doc])
                starts[b, pos:pos + n] = doc
                pos, doc = pos + n, doc + 1
        batches.append(t)
        doc_ids.append(starts)

    DOC_IDS = torch.zeros(a.batch, a.seq, dtype=torch.int32, device="cuda")
    started = time.perf_counter()
    results = {}
    for name, attend, make_mask in (
            ("flexjit", fj.flex_attention, fj.create_block_mask),
            ("FlexAttention", torch.compile(torch_fa), torch_mask)):
        model = copy.deepcopy(base)
        results[name] = run(name, model, attend, make_mask, batches, doc_ids, a.steps)

    print("| step | flexjit loss | FlexAttention loss |")
    print("|---|---|---|")
    for s in list(range(0, a.steps, 10)) + [a.steps - 1]:
        print("| %d | %.4f | %.4f |" % (s, results["flexjit"][0][s], results["FlexAttention"][0][s]))
    print()
    print("| | time per step (median of steps 10..end) | first step |")
    print("|---|---|---|")
    for name, (_, times) in results.items():
        rest = sorted(times[10:]) or times
        print("| %s | %.2f ms | %.0f ms |" % (name, rest[len(rest) // 2] * 1e3, times[0] * 1e3))
    print()
    agree, why = loss_verdict(results["flexjit"][0], results["FlexAttention"][0])
    print("loss curves agree: %s (%s)" % ("yes" if agree else "no", why))
    print("total time: %.1f s" % (time.perf_counter() - started))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
