param d: i32
param e: i64
mask dm(b, h, q, kv) = (q / kv) * kv + q % kv == q && (-7) / 2 == -4 && -7 % 2 == 1 && q / d == q % e
