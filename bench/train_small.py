"""A 200-step training run of a small transformer (random tokens in
documents, causal document mask) with flexjit's flex_attention and with
PyTorch's FlexAttention (torch.compile'd): same initial weights, same data.
Prints both loss curves and the time per step. Needs a GPU.

    FLEXJIT_LIBRARY=dist/libflexjit_capi.so PYTHONPATH=python \
        python bench/train_small.py --steps 200
"""
import argparse
import copy
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        docs = doc_ids[step % len(doc_ids)]

        def document_causal(b, h, q_idx, kv_idx):
            return (docs[b, q_idx] == docs[b, kv_idx]) & (q_idx >= kv_idx)

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


if __name__ == "__main__":
    main()
