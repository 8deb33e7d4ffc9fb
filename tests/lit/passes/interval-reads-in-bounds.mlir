// flex-interval-abstraction{reads-in-bounds}: @<mod>__reads_in_bounds for
// masks and score mods, 1 when no buffer read can be out of bounds over the
// box whatever the buffers hold (their elements are never read), else 0.
// RUN: %flex-opt %s --flex-interval-abstraction="reads-in-bounds=true" | FileCheck %s
// RUN: %flex-opt %s --flex-interval-abstraction="reads-in-bounds=true" --canonicalize --cse | FileCheck %s --check-prefix=CANON
// RUN: %flex-opt %s --flex-interval-abstraction="reads-in-bounds=true mod=bias_2d" | FileCheck %s --check-prefix=ONLY

flex.buffer @bias : f32 [H, N]
flex.buffer @doc_id : i32 [N]

// A score mod: its score is any f32; b, h, q, kv are the box.
// CHECK-LABEL: flex.score @bias_2d
// CHECK: func.func @bias_2d__reads_in_bounds(%{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> i8
// CHECK-SAME: flex.kind = "reads_in_bounds"
// CHECK-SAME: flex.reads_of = @bias_2d
// In bounds iff 0 <= h0, h1 < dims[0], 0 <= kv0 and kv1 < dims[1]: the
// buffer sizes are loaded from the context, never its data.
// CANON-LABEL: func.func @bias_2d__reads_in_bounds(
// CANON-SAME: %[[B0:[^:]*]]: i32, %[[B1:[^:]*]]: i32, %[[H0:[^:]*]]: i32, %[[H1:[^:]*]]: i32, %[[Q0:[^:]*]]: i32, %[[Q1:[^:]*]]: i32, %[[K0:[^:]*]]: i32, %[[K1:[^:]*]]: i32
// CANON-NOT: scf.for
// CANON: return
flex.score @bias_2d(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %h64 = arith.extsi %h : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %x = flex.buffer_load @bias[%h64, %kv64] : f32
  %r = arith.addf %s, %x : f32
  flex.yield %r : f32
}

// An index read from a buffer may be anything of its type: never proved,
// and the buffer holding the index is not scanned (no loop).
// CHECK-LABEL: func.func @bias_by_doc__reads_in_bounds
// CHECK-NOT: scf.for
// CHECK: return
// ONLY-NOT: func.func @bias_by_doc__reads_in_bounds
// ONLY-NOT: func.func @document__reads_in_bounds
flex.score @bias_by_doc(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias, @doc_id) {
  %q64 = arith.extsi %q : i32 to i64
  %d = flex.buffer_load @doc_id[%q64] : i32
  %d64 = arith.extsi %d : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %x = flex.buffer_load @bias[%d64, %kv64] : f32
  %r = arith.addf %s, %x : f32
  flex.yield %r : f32
}

// Masks get one too (next to no block classifier).
// CHECK-LABEL: flex.mask @document
// CHECK: func.func @document__reads_in_bounds
// CHECK-NOT: func.func @document__interval
flex.mask @document(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc_id) {
  %q64 = arith.extsi %q : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %a = flex.buffer_load @doc_id[%q64] : i32
  %c = flex.buffer_load @doc_id[%kv64] : i32
  %e = arith.cmpi eq, %a, %c : i32
  flex.yield %e : i1
}
