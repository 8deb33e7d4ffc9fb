// Every verifier of the flex dialect, with its located diagnostic.
// RUN: %flex-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{has rank 0; buffers have 1 to 4 dimensions}}
flex.buffer @b : f32 []

// -----

// expected-error @+1 {{has rank 5; buffers have 1 to 4 dimensions}}
flex.buffer @b : f32 [A, B, C, D, E]

// -----

// expected-error @+1 {{flex scalar (i1, i32, i64 or f32)}}
flex.param @p : f16

// -----

// expected-error @+1 {{takes (i32, i32, i32, i32) as its parameters}}
flex.mask @m(%b: i32, %h: i32, %q: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}

// -----

// expected-error @+1 {{takes (f32, i32, i32, i32, i32) as its parameters}}
flex.score @s(%s: i32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %x = arith.constant 1.0 : f32
  flex.yield %x : f32
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %x = arith.constant 1.0 : f32
  // expected-error @+1 {{yields 'f32', but a mask mod yields 'i1'}}
  flex.yield %x : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  // expected-error @+1 {{yields 'i1', but a score mod yields 'f32'}}
  flex.yield %t : i1
}

// -----

func.func @f(%x: i1) {
  // expected-error @+1 {{expects parent op to be one of 'flex.mask, flex.score, flex.score_grad'}}
  flex.yield %x : i1
}

// -----

// Outside a mod, the read is checked on its own.
func.func @f() -> i1 {
  // expected-error @+1 {{@p does not name a flex.param}}
  %p = flex.param_get @p : i1
  return %p : i1
}

// -----

flex.param @p : i32
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) params(@p) {
  // expected-error @+1 {{reads param @p of type 'i32' as 'i1'}}
  %p = flex.param_get @p : i1
  flex.yield %p : i1
}

// -----

flex.param @p : i1
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{reads @p, which @m does not list in its params}}
  %p = flex.param_get @p : i1
  flex.yield %p : i1
}

// -----

flex.param @a : i1
flex.param @b : i1
// expected-error @+1 {{lists its params out of order or twice (@b, @a): they must be sorted by name}}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) params(@b, @a) {
  %p = flex.param_get @a : i1
  flex.yield %p : i1
}

// -----

flex.param @a : i1
// expected-error @+1 {{lists its params out of order or twice (@a, @a)}}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) params(@a, @a) {
  %p = flex.param_get @a : i1
  flex.yield %p : i1
}

// -----

flex.buffer @doc : i32 [N]
// expected-error @+1 {{lists @doc in its params, but no such flex.param is declared}}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) params(@doc) {
  %t = arith.constant true
  flex.yield %t : i1
}

// -----

flex.param @p : i32
// expected-error @+1 {{lists @p in its buffers, but no such flex.buffer is declared}}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@p) {
  %t = arith.constant true
  flex.yield %t : i1
}

// -----

flex.buffer @bias : f32 [H, M]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %i = arith.extsi %h : i32 to i64
  // expected-error @+1 {{indexes buffer @bias of rank 2 with 1 index}}
  %x = flex.buffer_load @bias[%i] : f32
  flex.yield %x : f32
}

// -----

flex.buffer @bias : f32 [H]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %i = arith.extsi %h : i32 to i64
  // expected-error @+1 {{indexes buffer @bias of rank 1 with 2 indices}}
  %x = flex.buffer_load @bias[%i, %i] : f32
  flex.yield %x : f32
}

// -----

flex.buffer @doc : i32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc) {
  %i = arith.extsi %h : i32 to i64
  // expected-error @+1 {{reads buffer @doc of 'i32' as 'f32'}}
  %x = flex.buffer_load @doc[%i] : f32
  flex.yield %x : f32
}

// -----

flex.param @doc : f32
func.func @f(%i: i64) -> f32 {
  // expected-error @+1 {{@doc does not name a flex.buffer}}
  %x = flex.buffer_load @doc[%i] : f32
  return %x : f32
}

// -----

flex.buffer @doc : f32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  %i = arith.extsi %h : i32 to i64
  // expected-error @+1 {{reads @doc, which @s does not list in its buffers}}
  %x = flex.buffer_load @doc[%i] : f32
  flex.yield %x : f32
}

// -----

flex.buffer @doc : f32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc) {
  // expected-error @+1 {{operand #0 must be variadic of 64-bit signless integer}}
  %x = "flex.buffer_load"(%h) <{buffer = @doc}> : (i32) -> f32
  flex.yield %x : f32
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{@nope does not name a flex.mask or flex.score}}
  %x = flex.call @nope(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{calls @m from its own body: mods cannot be recursive}}
  %x = flex.call @m(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{calls @later, which is declared after the caller: a mod may only call mods declared before it}}
  %x = flex.call @later(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}
flex.mask @later(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{passes (i32, i32, i32, i32) to score @s, which takes (f32, i32, i32, i32, i32)}}
  %x = flex.call @s(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> f32
  %t = arith.constant true
  flex.yield %t : i1
}

// -----

flex.mask @c(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{expects 'f32' from @c, which returns 'i1'}}
  %x = flex.call @c(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> f32
  flex.yield %x : f32
}

// -----

flex.param @p : i1
flex.mask @c(%b: i32, %h: i32, %q: i32, %kv: i32) params(@p) {
  %p = flex.param_get @p : i1
  flex.yield %p : i1
}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{calls @c, which reads @p, but the caller does not list it in its params}}
  %x = flex.call @c(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}

// -----

flex.buffer @d : i1 [N]
flex.mask @c(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@d) {
  %i = arith.extsi %q : i32 to i64
  %x = flex.buffer_load @d[%i] : i1
  flex.yield %x : i1
}
flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  // expected-error @+1 {{calls @c, which reads @d, but the caller does not list it in its buffers}}
  %x = flex.call @c(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  flex.yield %x : i1
}

// -----

flex.mask @c(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}
func.func @f(%b: i32, %h: i32, %q: i32, %kv: i32) -> i1 {
  // expected-error @+1 {{must be inside a flex.mask or flex.score}}
  %x = flex.call @c(%b, %h, %q, %kv) : (i32, i32, i32, i32) -> i1
  return %x : i1
}

// -----

func.func @f(%x: f32) -> f32 {
  // expected-error @+1 {{operand #0 must be i32 or i64}}
  %y = flex.floordiv %x, %x : f32
  return %y : f32
}

// -----

func.func @f(%x: i32, %y: i64) -> i64 {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %z = "flex.floormod"(%x, %y) : (i32, i64) -> i64
  return %z : i64
}

// -----

func.func @f(%x: f32) -> f32 {
  // expected-error @+1 {{result #0 must be i32 or i64}}
  %y = flex.to_int %x : f32 -> f32
  return %y : f32
}

// -----

func.func @f(%x: i32) -> i32 {
  // expected-error @+1 {{operand #0 must be 32-bit float}}
  %y = "flex.sigmoid"(%x) : (i32) -> i32
  return %y : i32
}

// -----

func.func @f() {
  // expected-error @+1 {{expects parent op 'builtin.module'}}
  flex.param @p : i32
  return
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
// expected-error @+1 {{takes (f32, f32, i32, i32, i32, i32) as its parameters}}
flex.score_grad @s__grad(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @s} {
  flex.yield %s : f32
}

// -----

flex.mask @m(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %t = arith.constant true
  flex.yield %t : i1
}
// expected-error @+1 {{is the derivative of @m, which does not name a flex.score}}
flex.score_grad @m__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @m} {
  flex.yield %g : f32
}

// -----

flex.buffer @bias : f32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  flex.yield %s : f32
}
// expected-error @+1 {{must list the params and buffers of its primal @s}}
flex.score_grad @s__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @s} {
  flex.yield %g : f32
}

// -----

flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
flex.score_grad @s__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @s} {
  %c = arith.constant true
  // expected-error @+1 {{yields 'i1', but a score derivative yields 'f32'}}
  flex.yield %c : i1
}

// -----

flex.buffer @bias : f32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias) {
  %i = arith.constant 0 : i64
  // expected-error @+1 {{must be inside a flex.score_grad}}
  flex.buffer_grad_add @bias[%i], %s : f32
  flex.yield %s : f32
}

// -----

flex.buffer @ids : i32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@ids) {
  flex.yield %s : f32
}
flex.score_grad @s__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@ids) attributes {primal = @s} {
  %i = arith.constant 0 : i64
  // expected-error @+1 {{adds to the gradient of buffer @ids of 'i32': only f32 buffers have gradients}}
  flex.buffer_grad_add @ids[%i], %g : f32
  flex.yield %g : f32
}

// -----

flex.buffer @bias : f32 [N]
flex.score @s(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) {
  flex.yield %s : f32
}
flex.score_grad @s__grad(%g: f32, %s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) attributes {primal = @s} {
  %i = arith.constant 0 : i64
  // expected-error @+1 {{adds to the gradient of @bias, which @s__grad does not list in its buffers}}
  flex.buffer_grad_add @bias[%i], %g : f32
  flex.yield %g : f32
}
