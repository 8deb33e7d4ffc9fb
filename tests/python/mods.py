"""FlexAttention's documented mods, written as PyTorch users write them (the
FlexAttention blog and torch.nn.attention.flex_attention's docs): causal,
sliding window, prefix LM, document masking, ALiBi, tanh soft-capping and a
relative-position bias. Shared by the CPU and GPU tests."""
import torch
from torch.nn.attention.flex_attention import and_masks, or_masks

# Each case: (score_mod or None, mask_mod or None).
NAMES = ("causal", "sliding_window", "prefix_lm", "document", "document_causal", "alibi",
         "alibi_causal", "softcap", "softcap_causal", "relative_bias", "relative_position")

# A module constant, not a local of make(): PyTorch 2.11's torch.compile turns
# a float that a mod's closure captures into a CPU scalar tensor and then fails
# to lower flex_attention with it (InductorError "unbacked_bindings"), which
# would break the GPU tests' reference; a global is folded in as a constant.
SOFTCAP = 20.0


def make(H, S, device="cpu", seed=0):
    """The cases for H heads and sequence length S, their captured tensors on
    `device`."""
    g = torch.Generator().manual_seed(seed)
    WINDOW = S // 4
    prefix_length = S // 3
    # Documents of uneven lengths, as packed sequences have.
    cuts = sorted(torch.randperm(S - 2, generator=g)[:4].add(1).tolist())
    doc_id = torch.zeros(S, dtype=torch.int64)
    for c in cuts:
        doc_id[c:] += 1
    doc_id = doc_id.to(device)
    alibi_slopes = torch.exp2(-8.0 * torch.arange(1, H + 1, dtype=torch.float32) / H).to(device)
    rel_bias = torch.randn(H, 2 * S - 1, generator=g).to(device)

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def sliding_window(b, h, q_idx, kv_idx):
        causal_mask = q_idx >= kv_idx
        window_mask = q_idx - kv_idx <= WINDOW
        return causal_mask & window_mask

    def prefix_mask(b, h, q_idx, kv_idx):
        return kv_idx <= prefix_length

    def document_masking(b, h, q_idx, kv_idx):
        return doc_id[q_idx] == doc_id[kv_idx]

    def alibi(score, b, h, q_idx, kv_idx):
        bias = alibi_slopes[h] * (kv_idx - q_idx)
        return score + bias

    def soft_cap(score, b, h, q_idx, kv_idx):
        score = score / SOFTCAP
        score = torch.tanh(score)
        score = score * SOFTCAP
        return score

    def relative_bias(score, b, h, q_idx, kv_idx):
        return score + rel_bias[h, q_idx - kv_idx]

    def relative_positional(score, b, h, q_idx, kv_idx):
        return score + (q_idx - kv_idx)

    return {
        "causal": (None, causal),
        "sliding_window": (None, sliding_window),
        "prefix_lm": (None, or_masks(prefix_mask, causal)),
        "document": (None, document_masking),
        "document_causal": (None, and_masks(document_masking, causal)),
        "alibi": (alibi, None),
        "alibi_causal": (alibi, causal),
        "softcap": (soft_cap, None),
        "softcap_causal": (soft_cap, causal),
        "relative_bias": (relative_bias, None),
        "relative_position": (relative_positional, causal),
    }


# The flex body each mod translates to (tests/python/test_translate.py),
# with S = 256, H = 4.
EXPECTED_BODIES = {
    "causal": "q_idx >= kv_idx",
    "sliding_window": "q_idx >= kv_idx && q_idx - kv_idx <= 64",
    "prefix_lm": "kv_idx <= 85 || q_idx >= kv_idx",
    "document": "doc_id[q_idx] == doc_id[kv_idx]",
    "document_causal": "doc_id[q_idx] == doc_id[kv_idx] && q_idx >= kv_idx",
    "alibi": "s + alibi_slopes[h] * float(kv_idx - q_idx)",
    "softcap": "tanh(s / 20.0) * 20.0",
    "relative_bias": "s + rel_bias[h, where(q_idx - kv_idx < 0, q_idx - kv_idx + 511, "
                     "q_idx - kv_idx)]",
    "relative_position": "s + float(q_idx - kv_idx)",
}
