const A: i32 = 2147483647
const B: i64 = 2147483648
const C: i64 = 9223372036854775807
const D: f32 = 3.4028234e38
const E: f32 = 1.
const F: f32 = 2.0e-3
const G: f32 = 3e4
const H: bool = true != false
mask m(b, h, q, kv) = H && A > 0 && B > C
