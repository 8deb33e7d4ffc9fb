const A: i32 = 99999999999999999999999
const B: f32 = 1e39
const C: f32 = .5
mask m(b, h, q, kv) = q @ kv $ "str
