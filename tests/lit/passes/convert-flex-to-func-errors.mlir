// convert-flex-to-func needs inlined calls and lowered semantics ops.
// RUN: %flex-opt %s -split-input-file --convert-flex-to-func -verify-diagnostics

flex.mask @c(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{must be inlined before convert-flex-to-func (run flex-inline-calls)}}
  %x = flex.call @c(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{must be lowered before convert-flex-to-func (run flex-lower-semantics)}}
  %x = flex.floordiv %q, %kv : i32
  %z = arith.constant 0 : i32
  %r = arith.cmpi eq, %x, %z : i32
  flex.yield %r : i1
}
