mask l(b, h, q, kv) = let a = q + 1, b = a * 2, q = b - kv in let a = q in a >= 0 && b != 3
score s2(s, b, h, q, kv) = let s = s * 2.0 in let t = s + 1. in t / s
