# Comments run from '#' to the end of the line.
const WINDOW: i32 = 1024
param prefix_len: i32
buffer doc_id: i32[N]
buffer slopes: f32[H]
buffer bias: f32[H, M]

mask causal(b, h, q, kv)   = q >= kv
mask sliding(b, h, q, kv)  = q >= kv && q - kv <= WINDOW
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]
mask doc_causal(b, h, q, kv) = document(b, h, q, kv) && causal(b, h, q, kv)
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv
mask natten(b, h, q, kv) =
  let qx = q % 64, qy = q / 64, kx = kv % 64, ky = kv / 64 in
  abs(clamp(qx, 3, 60) - kx) <= 3 && abs(clamp(qy, 3, 60) - ky) <= 3

score alibi(s, b, h, q, kv)   = s + slopes[h] * float(kv - q)
score softcap(s, b, h, q, kv) = 30.0 * tanh(s / 30.0)
score soft_alibi(s, b, h, q, kv) = softcap(alibi(s, b, h, q, kv), b, h, q, kv)
score causal_by_score(s, b, h, q, kv) = where(q >= kv, s, -inf)
score bias2d(s, b, h, q, kv) = s + bias[h, kv]
