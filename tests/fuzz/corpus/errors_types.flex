mask bad(b, h, q, kv) = q + 1.0
score bad2(s, b, h, q, kv) = q >= kv
mask bad3(b, h, q, kv) = exp(q) > 0.0 && q < kv < b
