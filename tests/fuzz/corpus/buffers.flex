buffer v: bool[A]
buffer w: i64[A, B]
buffer x: f32[A, B, C, D]
mask m(b, h, q, kv) = v[q] && w[q, i64(kv)] > 0 && x[b, h, q, kv] < 1.0
score n(s, b, h, q, kv) = where(v[kv], s, x[0, 0, 0, q % 3]) + float(w[1, 1])
