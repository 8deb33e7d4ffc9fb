// flexjit-math-to-nvvm: every math op flexjit emits becomes LLVM/NVVM
// intrinsics that NVPTX selects directly (no libdevice __nv_* calls), and
// no FMA appears (the language never contracts).
// RUN: %flex-opt %s --flexjit-math-to-nvvm | FileCheck %s
// RUN: %flex-opt %s --flexjit-math-to-nvvm=approx-tanh | FileCheck %s --check-prefix=APPROX

// CHECK-LABEL: func.func @exp
// CHECK-NOT: math.
// CHECK-NOT: llvm.fma
// CHECK: llvm.call_intrinsic "llvm.roundeven.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.call_intrinsic "llvm.floor.f32"
// CHECK: return
func.func @exp(%x: f32) -> f32 {
  %r = math.exp %x : f32
  return %r : f32
}

// CHECK-LABEL: func.func @exp2
// CHECK: %[[R:.*]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"(%arg0) : (f32) -> f32
// CHECK: return %[[R]]
func.func @exp2(%x: f32) -> f32 {
  %r = math.exp2 %x : f32
  return %r : f32
}

// log: exponent and mantissa from the bits, the atanh series, specials by select.
// CHECK-LABEL: func.func @log
// CHECK-NOT: math.
// CHECK-NOT: lg2
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.divf
// CHECK: arith.cmpf oge, %arg0
// CHECK: return
func.func @log(%x: f32) -> f32 {
  %r = math.log %x : f32
  return %r : f32
}

// CHECK-LABEL: func.func @log2
// CHECK-NOT: math.
func.func @log2(%x: f32) -> f32 {
  %r = math.log2 %x : f32
  return %r : f32
}

// tanh: a polynomial below 0.6, the exp formula above, chosen by select.
// CHECK-LABEL: func.func @tanh
// CHECK-NOT: math.
// CHECK: llvm.call_intrinsic "llvm.fabs.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.call_intrinsic "llvm.copysign.f32"
// CHECK: arith.select
// APPROX-LABEL: func.func @tanh
// APPROX: llvm.inline_asm "tanh.approx.f32 $0, $1;", "=f,f" %arg0 : (f32) -> f32
func.func @tanh(%x: f32) -> f32 {
  %r = math.tanh %x : f32
  return %r : f32
}

// CHECK-LABEL: func.func @direct
// CHECK-DAG: %[[F:.*]] = arith.constant false
// CHECK-DAG: llvm.call_intrinsic "llvm.sqrt.f32"(%arg0)
// CHECK-DAG: llvm.call_intrinsic "llvm.fabs.f32"(%arg0)
// CHECK: llvm.call_intrinsic "llvm.abs.i32"(%arg1, %[[F]]) : (i32, i1) -> i32
// CHECK: llvm.call_intrinsic "llvm.abs.i64"(%arg2, %[[F]]) : (i64, i1) -> i64
func.func @direct(%x: f32, %i: i32, %l: i64) -> (f32, f32, i32, i64) {
  %s = math.sqrt %x : f32
  %a = math.absf %x : f32
  %b = math.absi %i : i32
  %c = math.absi %l : i64
  return %s, %a, %b, %c : f32, f32, i32, i64
}


// f32 division: div.full.f32 in a function a kernel template marked
// (ModSlot::approxDivision: attention score mods), LLVM's correctly rounded
// fdiv elsewhere; approx-division makes every one approximate.
// RUN: %flex-opt %s --flexjit-math-to-nvvm=approx-division | FileCheck %s --check-prefix=ALLDIV
// CHECK-LABEL: func.func @div_marked
// CHECK: llvm.inline_asm "div.full.f32 $0, $1, $2;", "=f,f,f" %arg0, %arg1 : (f32, f32) -> f32
// CHECK-NOT: arith.divf
// ALLDIV-LABEL: func.func @div_marked
// ALLDIV: div.full.f32
func.func @div_marked(%x: f32, %y: f32) -> f32 attributes {flexjit.approx_division} {
  %r = arith.divf %x, %y : f32
  return %r : f32
}

// CHECK-LABEL: func.func @div_unmarked
// CHECK: arith.divf %arg0, %arg1 : f32
// CHECK-NOT: div.full
// ALLDIV-LABEL: func.func @div_unmarked
// ALLDIV: llvm.inline_asm "div.full.f32 $0, $1, $2;"
// ALLDIV-NOT: arith.divf
func.func @div_unmarked(%x: f32, %y: f32) -> f32 {
  %r = arith.divf %x, %y : f32
  return %r : f32
}

// f64 stays exact even when marked.
// CHECK-LABEL: func.func @div_f64
// CHECK: arith.divf %arg0, %arg1 : f64
// ALLDIV-LABEL: func.func @div_f64
// ALLDIV: arith.divf %arg0, %arg1 : f64
func.func @div_f64(%x: f64, %y: f64) -> f64 attributes {flexjit.approx_division} {
  %r = arith.divf %x, %y : f64
  return %r : f64
}
