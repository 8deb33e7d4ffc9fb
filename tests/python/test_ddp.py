"""A torch.distributed DDP step with a flexjit attention layer: 2 processes
(gloo; both on cuda:0 when one GPU is there, else cuda:0 and cuda:1) sharing
one disk cache, each with its own in-process cache entries; the averaged
gradients equal those of one process on the whole batch. Needs a GPU and
flexjit's backward pass; skips without a GPU (FLEXJIT_REQUIRE_GPU=1 makes
that a failure).

    FLEXJIT_LIBRARY=dist/libflexjit_capi.so PYTHONPATH=python FLEXJIT_REQUIRE_GPU=1 \\
        python -m pytest -q tests/python/test_ddp.py
"""
import os
import sys
import tempfile

import pytest
import torch

REQUIRE_GPU = os.environ.get("FLEXJIT_REQUIRE_GPU") == "1"
B, H, S, D = 4, 2, 512, 64


def _need_gpu():
    if torch.cuda.is_available():
        return
    why = "no CUDA GPU available to PyTorch"
    if REQUIRE_GPU:
        raise AssertionError("FLEXJIT_REQUIRE_GPU=1 but " + why)
    pytest.skip(why)


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.qkv = torch.nn.Linear(H * D, 3 * H * D)
        self.proj = torch.nn.Linear(H * D, H * D)

    def forward(self, x):
        from flexjit.torch import create_block_mask, flex_attention

        def causal(b, h, q_idx, kv_idx):
            return q_idx >= kv_idx

        n = x.shape[0]
        q, k, v = self.qkv(x).view(n, S, 3, H, D).permute(2, 0, 3, 1, 4) \
            .to(torch.bfloat16).unbind(0)
        mask = create_block_mask(causal, None, None, S, S, device=x.device)
        a = flex_attention(q, k, v, block_mask=mask)
        return self.proj(a.transpose(1, 2).reshape(n, S, H * D).float())


def _data(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, S, H * D, generator=g)
    y = torch.randn(B, S, H * D, generator=g)
    return x.to(device), y.to(device)


def _grads(model):
    return {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()}


def _rank(rank, world, init_file, out_dir):
    import torch.distributed as dist
    device = torch.device("cuda", rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=world)
    model = torch.nn.parallel.DistributedDataParallel(Layer().to(device))
    x, y = _data(device)
    per = B // world
    xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    loss = torch.nn.functional.mse_loss(model(xs), ys)
    loss.backward()
    torch.save(_grads(model.module), os.path.join(out_dir, "rank%d.pt" % rank))
    dist.destroy_process_group()


def test_ddp_gradients_match_one_process():
    _need_gpu()
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLEXJIT_CACHE_DIR"] = os.path.join(tmp, "disk-cache")  # shared by the ranks
        ref_model = Layer().cuda()
        x, y = _data("cuda")
        torch.nn.functional.mse_loss(ref_model(x), y).backward()
        ref = _grads(ref_model)
        mp.spawn(_rank, args=(2, os.path.join(tmp, "init"), tmp), nprocs=2, join=True)
        for rank in range(2):
            got = torch.load(os.path.join(tmp, "rank%d.pt" % rank))
            for name, g in ref.items():
                torch.testing.assert_close(got[name], g, rtol=2e-2, atol=2e-3,
                                           msg=lambda m: "rank %d, %s: %s" % (rank, name, m))
        # The disk cache holds the kernels both ranks used (each compiled once).
        assert os.listdir(os.environ["FLEXJIT_CACHE_DIR"])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
