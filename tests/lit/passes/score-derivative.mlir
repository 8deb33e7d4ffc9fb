// flex-score-derivative: the reverse-mode rules, one score mod each
// (docs/backward.md), and a branch that reads a buffer.
// RUN: %flex-opt %s --flex-score-derivative | FileCheck %s
// RUN: %flex-opt %s --flex-score-derivative=mod=arith | FileCheck %s --check-prefix=ONLY

flex.buffer @bias : f32 [H, N]
flex.buffer @ids : i32 [N]

flex.score @arith(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %c = arith.constant 2.0 : f32
  %0 = arith.mulf %s, %s : f32
  %1 = arith.divf %0, %c : f32
  %2 = arith.subf %1, %s : f32
  %3 = arith.negf %2 : f32
  %4 = arith.addf %3, %c : f32
  flex.yield %4 : f32
}
// The adjoint of s: g through -(s*s/2 - s) + 2, both uses of s in s*s.
// CHECK-LABEL: flex.score_grad @arith__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @arith}
// A factor that may be infinite (s) is guarded: an adjoint of 0 gives 0;
// a finite constant one (the divisor 2.0) is not.
// CHECK: %[[NEG:.*]] = arith.negf %g : f32
// CHECK: %[[NNEG:.*]] = arith.negf %[[NEG]] : f32
// CHECK: %[[DIV:.*]] = arith.divf %[[NEG]], %{{.*}} : f32
// CHECK-NOT: arith.select
// CHECK: %[[A:.*]] = arith.mulf %[[DIV]], %s : f32
// CHECK: %[[Z:.*]] = arith.cmpf oeq, %[[DIV]], %{{.*}} : f32
// CHECK: %[[SA:.*]] = arith.select %[[Z]], %{{.*}}, %[[A]] : f32
// CHECK: %[[SUM:.*]] = arith.addf %[[NNEG]], %[[SA]] : f32
// CHECK: arith.mulf %[[DIV]], %s : f32
// CHECK: %[[SB:.*]] = arith.select
// CHECK: %[[R:.*]] = arith.addf %[[SUM]], %[[SB]] : f32
// CHECK: flex.yield %[[R]] : f32

// ONLY: flex.score_grad @arith__grad
// ONLY-NOT: flex.score_grad

flex.score @where_max(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %c = arith.cmpi sge, %q, %kv : i32
  %ninf = arith.constant 0xFF800000 : f32
  %one = arith.constant 1.0 : f32
  %m = arith.maximumf %s, %one : f32
  %r = arith.select %c, %m, %ninf : f32
  flex.yield %r : f32
}
// where routes g to the taken branch; max splits it at a tie.
// CHECK-LABEL: flex.score_grad @where_max__grad
// CHECK: %[[C:.*]] = arith.cmpi sge, %q, %kv : i32
// CHECK: %[[TAKEN:.*]] = arith.select %[[C]], %g, %{{.*}} : f32
// CHECK: %[[HALF:.*]] = arith.mulf %[[TAKEN]], %{{.*}} : f32
// CHECK: %[[TIE:.*]] = arith.cmpf oeq, %s, %{{.*}} : f32
// CHECK: %[[LOSES:.*]] = arith.cmpf olt, %s, %{{.*}} : f32
// CHECK: %[[SHARE:.*]] = arith.select %[[TIE]], %[[HALF]], %[[TAKEN]] : f32
// CHECK: %[[DS:.*]] = arith.select %[[LOSES]], %{{.*}}, %[[SHARE]] : f32
// CHECK: flex.yield %[[DS]] : f32

flex.score @clamped(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %lo = arith.constant -1.0 : f32
  %hi = arith.constant 1.0 : f32
  %0 = arith.maximumf %s, %lo : f32
  %1 = arith.minimumf %0, %hi {flex.clamp} : f32
  flex.yield %1 : f32
}
// clamp as torch.clamp: s gets g when lo <= s <= hi (no half at the ends).
// CHECK-LABEL: flex.score_grad @clamped__grad
// CHECK-DAG: %[[GE:.*]] = arith.cmpf oge, %s, %{{.*}} : f32
// CHECK-DAG: %[[LE:.*]] = arith.cmpf ole, %s, %{{.*}} : f32
// CHECK: %[[IN:.*]] = arith.andi %[[GE]], %[[LE]] : i1
// CHECK: %[[DS:.*]] = arith.select %[[IN]], %g, %{{.*}} : f32
// CHECK-NOT: arith.mulf
// CHECK: flex.yield %[[DS]] : f32

flex.score @transcendental(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = math.exp %s : f32
  %1 = math.log %0 : f32
  %2 = math.tanh %1 : f32
  %3 = flex.sigmoid %2 : f32
  %4 = math.sqrt %3 : f32
  %5 = math.exp2 %4 : f32
  %6 = math.log2 %5 : f32
  %7 = math.absf %6 : f32
  flex.yield %7 : f32
}
// Each rule uses the primal value PyTorch's uses (the result for exp, exp2,
// sqrt, tanh, sigmoid; the input for log, log2, abs).
// CHECK-LABEL: flex.score_grad @transcendental__grad
// CHECK-DAG: %[[E:.*]] = math.exp %s : f32
// CHECK-DAG: %[[L:.*]] = math.log %[[E]] : f32
// CHECK-DAG: %[[T:.*]] = math.tanh %[[L]] : f32
// CHECK-DAG: %[[SG:.*]] = flex.sigmoid %[[T]] : f32
// CHECK-DAG: %[[SQ:.*]] = math.sqrt %[[SG]] : f32
// CHECK-DAG: %[[E2:.*]] = math.exp2 %[[SQ]] : f32
// CHECK-DAG: %[[L2:.*]] = math.log2 %[[E2]] : f32
// abs: sign(x), 0 at 0
// CHECK-DAG: arith.cmpf ogt, %[[L2]], %{{.*}} : f32
// CHECK-DAG: arith.cmpf olt, %[[L2]], %{{.*}} : f32
// (each then guarded: 0 where the adjoint is 0)
// log2: g / (x ln 2)
// CHECK: arith.mulf %[[E2]], %{{.*}} : f32
// CHECK: arith.divf
// CHECK: arith.select
// exp2: g y ln 2
// CHECK: arith.mulf %{{.*}}, %[[E2]] : f32
// CHECK: arith.select
// sqrt: g / (2 y)
// CHECK: arith.mulf %{{.*}}, %[[SQ]] : f32
// CHECK: arith.divf
// CHECK: arith.select
// sigmoid: g (1 - y) y
// CHECK: arith.subf %{{.*}}, %[[SG]] : f32
// CHECK: arith.mulf
// CHECK: arith.mulf %{{.*}}, %[[SG]] : f32
// CHECK: arith.select
// tanh: g (1 - y^2)
// CHECK: arith.mulf %[[T]], %[[T]] : f32
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: arith.select
// log: g / x
// CHECK: arith.divf %{{.*}}, %[[E]] : f32
// CHECK: arith.select
// exp: g y
// CHECK: arith.mulf %{{.*}}, %[[E]] : f32
// CHECK: %[[DS:.*]] = arith.select
// CHECK: flex.yield %[[DS]] : f32

flex.score @biased(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias, @ids) {
  %c = arith.cmpi sge, %q, %kv : i32
  %r = scf.if %c -> (f32) {
    %kv64 = arith.extsi %kv : i32 to i64
    %id = flex.buffer_load @ids[%kv64] : i32
    %id64 = arith.extsi %id : i32 to i64
    %h64 = arith.extsi %h : i32 to i64
    %x = flex.buffer_load @bias[%h64, %id64] : f32
    %y = flex.buffer_load @bias[%h64, %kv64] : f32
    %xy = arith.mulf %x, %y : f32
    %a = arith.addf %s, %xy : f32
    scf.yield %a : f32
  } else {
    scf.yield %s : f32
  }
  flex.yield %r : f32
}
// The branch runs again in the derivative (the same reads, reported the
// same way) and carries out the values the reverse branch needs; each read
// of bias adds its own contribution at its own indices; ids (i32) none.
// CHECK-LABEL: flex.score_grad @biased__grad
// CHECK-SAME: buffers(@bias, @ids)
// CHECK: %[[C:.*]] = arith.cmpi sge, %q, %kv : i32
// CHECK: %[[F:.*]]:5 = scf.if %[[C]] -> (i64, i64, i64, f32, f32) {
// CHECK: %[[KV:.*]] = arith.extsi %kv
// CHECK: flex.buffer_load @ids
// CHECK: %[[X:.*]] = flex.buffer_load @bias
// CHECK: %[[Y:.*]] = flex.buffer_load @bias
// CHECK: scf.yield %[[KV]], %{{.*}}, %{{.*}}, %[[X]], %[[Y]] : i64, i64, i64, f32, f32
// CHECK: } else {
// CHECK: %[[R:.*]] = scf.if %[[C]] -> (f32) {
// CHECK-NOT: flex.buffer_load
// CHECK: arith.mulf %g, %[[F]]#4 : f32
// CHECK: %[[DX:.*]] = arith.select
// CHECK: arith.mulf %g, %[[F]]#3 : f32
// CHECK: %[[DY:.*]] = arith.select
// CHECK: flex.buffer_grad_add @bias[%[[F]]#2, %[[F]]#0], %[[DY]] : f32
// CHECK: flex.buffer_grad_add @bias[%[[F]]#2, %[[F]]#1], %[[DX]] : f32
// CHECK-NOT: @ids
// CHECK: scf.yield %g : f32
// CHECK: } else {
// CHECK: scf.yield %g : f32
// CHECK: flex.yield %[[R]] : f32

flex.score @constant(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.subi %kv, %q : i32
  %1 = arith.sitofp %0 : i32 to f32
  %2 = flex.to_int %s : f32 -> i32
  %3 = arith.sitofp %2 : i32 to f32
  %4 = arith.addf %1, %3 : f32
  flex.yield %4 : f32
}
// Integer values and int(s) carry nothing back: the derivative is 0.
// CHECK-LABEL: flex.score_grad @constant__grad
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: flex.yield %[[Z]] : f32
