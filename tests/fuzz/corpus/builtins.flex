const C: f32 = exp(1.0) + exp2(3.0) + log(2.0) + log2(8.0) + sqrt(2.0) + tanh(0.5) + sigmoid(0.0)
const I: i64 = i64(3.5) + 4294967296
const J: i32 = int(-2.5) + int(9223372036854775807) + abs(-7) + min(3, 4) + max(5, 6) + clamp(9, 0, 4)
param t: f32
score all(s, b, h, q, kv) = where(q > kv, float(J) + C, min(s, max(t, -inf))) + float(I) + abs(s)
mask m(b, h, q, kv) = i64(q) * I > 0 && !(float(kv) != float(q)) || int(t) == 0
