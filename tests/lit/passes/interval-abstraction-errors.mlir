// The interval abstraction needs call-free masks and a free name.
// RUN: not %flex-opt %s --split-input-file --flex-interval-abstraction 2>&1 | FileCheck %s
// RUN: not %flex-opt %s --split-input-file --flex-interval-abstraction=mod=nope 2>&1 | FileCheck %s --check-prefix=NONE

flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}
flex.mask @caller(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // CHECK: error: 'flex.call' op must be inlined before flex-interval-abstraction (run flex-inline-calls)
  %0 = flex.call @causal(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %0 : i1
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}
// CHECK: error: 'flex.mask' op cannot get a block classifier: the name 'm__interval' is taken
flex.mask @m__interval(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}

// NONE: error: flex-interval-abstraction: no mask named 'nope'
