const X: i32 = Y
param X: f32
buffer where: i32[N]
mask rec(b, h, q, kv) = rec(b, h, q, kv) || later(b, h, q, kv) || k > 0
mask later(b, h, q) = true
mask div(b, h, q, kv) = q / 0 == q % (1 - 1)
