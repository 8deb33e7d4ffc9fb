// The flex dialect's textual form round-trips: print, parse, print again is
// stable, and user names of mod parameters survive.
// RUN: %flex-opt %s > %t.1.mlir
// RUN: %flex-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir
// RUN: %flex-opt %s -mlir-print-op-generic | %flex-opt | FileCheck %s

// CHECK-LABEL: module
// CHECK: flex.param @prefix_len : i32
// CHECK: flex.param @scale : f32
// CHECK: flex.param @wide : i64
// CHECK: flex.param @enabled : i1
// CHECK: flex.buffer @doc_id : i32 [N]
// CHECK: flex.buffer @bias : f32 [H, M]
// CHECK: flex.buffer @flags : i1 [B, H, Q, KV]
flex.param @prefix_len : i32
flex.param @scale : f32
flex.param @wide : i64
flex.param @enabled : i1
flex.buffer @doc_id : i32 [N]
flex.buffer @bias : f32 [H, M]
flex.buffer @flags : i1 [B, H, Q, KV]

// CHECK: flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
// CHECK-NEXT: %[[C:.*]] = arith.cmpi sge, %q, %kv : i32
// CHECK-NEXT: flex.yield %[[C]] : i1
flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}

// CHECK: flex.mask @document(%batch: i32, %head: i32, %query: i32, %key: i32) buffers(@doc_id) {
// CHECK: flex.buffer_load @doc_id[%{{.*}}] : i32
flex.mask @document(%batch: i32, %head: i32, %query: i32, %key: i32) buffers(@doc_id) {
  %q64 = arith.extsi %query : i32 to i64
  %kv64 = arith.extsi %key : i32 to i64
  %0 = flex.buffer_load @doc_id[%q64] : i32
  %1 = flex.buffer_load @doc_id[%kv64] : i32
  %2 = arith.cmpi eq, %0, %1 : i32
  flex.yield %2 : i1
}

// CHECK: flex.mask @mixed(%b: i32, %h: i32, %q: i32, %kv: i32) params(@enabled, @prefix_len) buffers(@doc_id, @flags) attributes {note = "kept"} {
// CHECK: flex.call @document(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
// CHECK: flex.param_get @prefix_len : i32
// CHECK: scf.if
// CHECK: flex.buffer_load @flags[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : i1
flex.mask @mixed(%b: i32, %h: i32, %q: i32, %kv: i32) params(@enabled, @prefix_len) buffers(@doc_id, @flags) attributes {note = "kept"} {
  %0 = flex.call @document(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  %p = flex.param_get @prefix_len : i32
  %e = flex.param_get @enabled : i1
  %1 = arith.cmpi slt, %kv, %p : i32
  %2 = arith.andi %1, %e : i1
  %3 = scf.if %2 -> (i1) {
    %b64 = arith.extsi %b : i32 to i64
    %h64 = arith.extsi %h : i32 to i64
    %q64 = arith.extsi %q : i32 to i64
    %k64 = arith.extsi %kv : i32 to i64
    %f = flex.buffer_load @flags[%b64, %h64, %q64, %k64] : i1
    scf.yield %f : i1
  } else {
    scf.yield %0 : i1
  }
  flex.yield %3 : i1
}

// CHECK: flex.score @semantics(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) {
// CHECK: flex.floordiv %{{.*}}, %{{.*}} : i32
// CHECK: flex.floormod %{{.*}}, %{{.*}} : i64
// CHECK: flex.to_int %{{.*}} : f32 -> i32
// CHECK: flex.to_int %{{.*}} : f32 -> i64
// CHECK: flex.sigmoid %{{.*}} : f32
// CHECK: flex.yield %{{.*}} : f32
flex.score @semantics(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) {
  %d = flex.floordiv %q, %kv : i32
  %w = flex.param_get @wide : i64
  %kv64 = arith.extsi %kv : i32 to i64
  %m = flex.floormod %w, %kv64 : i64
  %h64 = arith.extsi %h : i32 to i64
  %x = flex.buffer_load @bias[%h64, %m] : f32
  %sc = flex.param_get @scale : f32
  %y = arith.mulf %x, %sc : f32
  %i = flex.to_int %y : f32 -> i32
  %j = flex.to_int %s : f32 -> i64
  %z = arith.addf %s, %y : f32
  %sg = flex.sigmoid %z : f32
  flex.yield %sg : f32
}

// A score may call an earlier mask and score.
// CHECK: flex.score @caller(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) {
// CHECK: flex.call @semantics(%s, %b, %h, %q, %kv) : (f32, i32, i32, i32, i32) -> f32
flex.score @caller(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) {
  %0 = flex.call @semantics(%s, %b, %h, %q, %kv) : (f32, i32, i32, i32, i32) -> f32
  %1 = flex.call @causal(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  %ninf = arith.constant 0xFF800000 : f32
  %2 = arith.select %1, %0, %ninf : f32
  flex.yield %2 : f32
}

// A score mod's derivative (made by flex-score-derivative, docs/backward.md).
// CHECK: flex.score_grad @semantics__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) attributes {primal = @semantics} {
// CHECK: flex.buffer_grad_add @bias[%{{.*}}, %{{.*}}], %g : f32
// CHECK: flex.yield %g : f32
flex.score_grad @semantics__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@scale, @wide) buffers(@bias) attributes {primal = @semantics} {
  %h64 = arith.extsi %h : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  flex.buffer_grad_add @bias[%h64, %kv64], %g : f32
  flex.yield %g : f32
}
