import json, sys, torch
from torch.nn.attention.flex_attention import create_block_mask
print("torch", torch.__version__)
docs = torch.zeros(2, 2048, dtype=torch.int32)
at = 0
for d, n in enumerate([100, 300, 37, 500, 211, 400, 300, 200]):
    docs[0, at:at+n] = d; at += n
docs[0, at:] = 7
docs[1, :700] = 0; docs[1, 700:1500] = 1; docs[1, 1500:] = 2
docs = docs.cuda()
mods = {
 "causal": lambda b,h,q,kv: q >= kv,
 "causal_odd": lambda b,h,q,kv: q >= kv,
 "sliding": lambda b,h,q,kv: (q >= kv) & (q - kv <= 256 + 128*h),
 "prefix_lm": lambda b,h,q,kv: (kv < 300) | (q >= kv),
 "document": lambda b,h,q,kv: docs[b, q] == docs[b, kv],
 "heads": lambda b,h,q,kv: ((q + h*17 + kv//3 + b) % 5 != 0) & (q + 40*h >= kv),
 "all_tail": lambda b,h,q,kv: q >= 0,
 "big_causal": lambda b,h,q,kv: q >= kv,
 "five_heads": lambda b,h,q,kv: q + h*16 >= kv,
}
fields = ["kv_num_blocks","kv_indices","full_kv_num_blocks","full_kv_indices","q_num_blocks","q_indices","full_q_num_blocks","full_q_indices"]
bad = 0
for line in open(sys.argv[1]):
    c = json.loads(line)
    m = c["mask"]
    B = len(m["kv_num_blocks"]); H = len(m["kv_num_blocks"][0])
    Q, KV = m["seq_lengths"]; QB, KVB = m["block_size"]
    bm = create_block_mask(mods[c["name"]], B, H, Q, KV, device="cuda", BLOCK_SIZE=(QB, KVB))
    diffs = []
    for f in fields:
        t = getattr(bm, f)
        if t is None:
            diffs.append(f + ": torch None"); continue
        if t.cpu().tolist() != m[f]:
            # compare only the valid prefix of index rows to tell layout from content
            diffs.append(f)
    if abs(bm.sparsity() - m["sparsity"]) > 1e-9: diffs.append("sparsity %r vs %r" % (bm.sparsity(), m["sparsity"]))
    if str(bm) != c["str"]:
        diffs.append("str")
        print("--- torch str:\n" + str(bm) + "\n--- flexjit str:\n" + c["str"])
    print(c["name"], "OK" if not diffs else "DIFF " + ", ".join(diffs))
    if diffs and "kv_indices" in diffs:
        t = bm.kv_indices.cpu().tolist(); print(" torch kv_indices[0][0][:3]", t[0][0][:3]); print(" ours  kv_indices[0][0][:3]", m["kv_indices"][0][0][:3])
    bad += bool(diffs)
print("cases with differences:", bad)
