// flex-inline-calls replaces every flex.call by a copy of the callee's body,
// through chains of calls, and keeps the callee's ops' locations as call sites.
// RUN: %flex-opt %s --flex-inline-calls | FileCheck %s
// RUN: %flex-opt %s --flex-inline-calls --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=LOC

flex.buffer @doc_id : i32 [N]

// CHECK-LABEL: flex.mask @causal
flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32 loc("m.flex":1:30)
  flex.yield %0 : i1
}

// CHECK-LABEL: flex.mask @document
flex.mask @document(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc_id) {
  %q64 = arith.extsi %q : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %0 = flex.buffer_load @doc_id[%q64] : i32
  %1 = flex.buffer_load @doc_id[%kv64] : i32
  %2 = arith.cmpi eq, %0, %1 : i32
  flex.yield %2 : i1
}

// CHECK-LABEL: flex.mask @doc_causal
// CHECK-NOT: flex.call
// CHECK: %[[Q:.*]] = arith.extsi %q
// CHECK: %[[KV:.*]] = arith.extsi %kv
// CHECK: %[[A:.*]] = flex.buffer_load @doc_id[%[[Q]]]
// CHECK: %[[B:.*]] = flex.buffer_load @doc_id[%[[KV]]]
// CHECK: %[[D:.*]] = arith.cmpi eq, %[[A]], %[[B]]
// CHECK: %[[C:.*]] = arith.cmpi sge, %q, %kv
// CHECK: %[[R:.*]] = arith.andi %[[D]], %[[C]]
// CHECK: flex.yield %[[R]] : i1
flex.mask @doc_causal(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc_id) {
  %0 = flex.call @document(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  %1 = flex.call @causal(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1 loc("m.flex":3:40)
  %2 = arith.andi %0, %1 : i1
  flex.yield %2 : i1
}

// A call of a mod that itself called others; arguments are remapped (the
// callee's q is the caller's kv here).
// CHECK-LABEL: flex.score @chained
// CHECK-NOT: flex.call
// CHECK: arith.cmpi eq
// CHECK: %[[C2:.*]] = arith.cmpi sge, %kv, %q
// CHECK: arith.select
flex.score @chained(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc_id) {
  %0 = flex.call @doc_causal(%b, %h, %kv, %q) : (i32, i32, i32, i32) -> i1
  %ninf = arith.constant 0xFF800000 : f32
  %1 = arith.select %0, %s, %ninf : f32
  flex.yield %1 : f32
}

// The inlined compare of @causal keeps its own location, at the call site.
// LOC: arith.cmpi sge, %q, %kv : i32 loc(callsite("m.flex":1:30 at "m.flex":3:40))
