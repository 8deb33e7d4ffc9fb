// flex-score-derivative never makes a wrong derivative: what it cannot
// differentiate is a located error.
// RUN: not %flex-opt %s --split-input-file --flex-score-derivative 2>&1 | FileCheck %s
// RUN: not %flex-opt %s --split-input-file --flex-score-derivative=mod=nope 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not %flex-opt %s --split-input-file --flex-score-derivative=mod=causal 2>&1 | FileCheck %s --check-prefix=MASK

flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}
flex.score @callee(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
flex.score @caller(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  // CHECK: error: 'flex.call' op must be inlined before flex-score-derivative (run flex-inline-calls)
  %0 = flex.call @callee(%s, %b, %h, %q, %kv) : (f32, i32, i32, i32, i32) -> f32
  flex.yield %0 : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  // CHECK: [[@LINE+1]]:8: error: 'math.sin' op cannot be differentiated: flex-score-derivative has no rule for it
  %0 = math.sin %s : f32
  flex.yield %0 : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  // An op outside the rules that reads f32 is an error even when its
  // result is an integer: the derivative could not treat it as a constant.
  // CHECK: error: 'arith.bitcast' op cannot be differentiated
  %0 = arith.bitcast %s : f32 to i32
  %1 = arith.bitcast %0 : i32 to f32
  flex.yield %1 : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  // CHECK: error: 'scf.for' op cannot be differentiated: flex-score-derivative handles no region op but scf.if
  %0 = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %s) -> (f32) {
    %1 = arith.addf %acc, %acc : f32
    scf.yield %1 : f32
  }
  flex.yield %0 : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
// CHECK: error: 'flex.score' op cannot get a derivative: the name 's__grad' is taken
flex.score @s__grad(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}

// NONE: error: flex-score-derivative: no score mod named 'nope'
// MASK: error: 'flex.mask' op has no derivative: 'causal' is a mask mod, and only score mods are differentiated
