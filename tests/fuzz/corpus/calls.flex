mask a(b, h, q, kv) = q >= kv
score c(s, b, h, q, kv) = where(a(b, h, q, kv), s, -inf)
mask d(w, x, y, z) = a(w, x, z, y) && c(1.0, w, x, y, z) > 0.0
score e(s, b, h, q, kv) = c(c(s, b, h, q, kv), b, h, kv, q)
