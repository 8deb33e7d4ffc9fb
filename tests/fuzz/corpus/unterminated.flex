mask m(b, h, q, kv) = let a = (q + [kv in where(a,
