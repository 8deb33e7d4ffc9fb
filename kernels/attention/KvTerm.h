// Whether a score mod adds to the score a term that depends on (b, h, kv)
// only, so that the sm_90a kernel can add that term inside Q·Kᵀ
// (Sm90MainloopConfig::kvTerms, docs/attention-hopper.md "Kv terms in the
// GEMM"): `s + bias[h, kv]` has one, `s + slope[h] * (kv - q)` and
// `tanh(s)` do not.
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace flexjit::attn {

/// True when `score` (lowered: (s, b, h, q, kv, ctx) -> f32) returns
/// `s + t` or `t + s` where t uses neither s nor q, and nothing in it
/// writes memory or holds a region, but the out-of-bounds reports of
/// checked reads (kernels/ModReports.h) that neither s nor q reaches: then
/// score(0, b, h, q', kv) is t for every q', makes the reports
/// score(s, b, h, q, kv) makes, and score(s, ...) = s + t.
bool scoreModAddsKvTerm(mlir::func::FuncOp score);

} // namespace flexjit::attn
