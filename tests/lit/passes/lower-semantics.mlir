// flex-lower-semantics expands the language's total integer division, its
// saturating float->int and sigmoid into branch-free arith/math.
// RUN: %flex-opt %s --flex-lower-semantics | FileCheck %s
// RUN: %flex-opt %s --flex-lower-semantics --canonicalize | FileCheck %s --check-prefix=FOLD
// RUN: %flex-opt %s --canonicalize | FileCheck %s --check-prefix=FOLDER

// CHECK-LABEL: func.func @floordiv
// CHECK-NOT: flex.
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[MIN:.*]] = arith.constant -2147483648 : i32
// CHECK-DAG: %[[M1:.*]] = arith.constant -1 : i32
// CHECK-DAG: %[[DZ:.*]] = arith.cmpi eq, %arg1, %[[ZERO]]
// CHECK-DAG: %[[AMIN:.*]] = arith.cmpi eq, %arg0, %[[MIN]]
// CHECK-DAG: %[[DM1:.*]] = arith.cmpi eq, %arg1, %[[M1]]
// CHECK: %[[OVF:.*]] = arith.andi %[[AMIN]], %[[DM1]]
// CHECK: %[[REPL:.*]] = arith.ori %[[DZ]], %[[OVF]]
// CHECK: %[[SAFE:.*]] = arith.select %[[REPL]], %{{.*}}, %arg1
// CHECK: %[[REM:.*]] = arith.remsi %arg0, %[[SAFE]]
// CHECK: %[[Q:.*]] = arith.divsi %arg0, %[[SAFE]]
// CHECK: %[[QM1:.*]] = arith.subi %[[Q]]
// CHECK: %[[FL:.*]] = arith.select %{{.*}}, %[[QM1]], %[[Q]]
// CHECK: %[[R:.*]] = arith.select %[[DZ]], %{{.*}}, %[[FL]]
// CHECK: return %[[R]]
func.func @floordiv(%a: i32, %b: i32) -> i32 {
  %0 = flex.floordiv %a, %b : i32
  return %0 : i32
}

// CHECK-LABEL: func.func @floormod
// CHECK-NOT: flex.
// CHECK: arith.remsi
// CHECK: arith.xori
// CHECK: arith.addi
// CHECK: arith.select
// CHECK: arith.select
func.func @floormod(%a: i64, %b: i64) -> i64 {
  %0 = flex.floormod %a, %b : i64
  return %0 : i64
}

// CHECK-LABEL: func.func @to_int
// CHECK-DAG: arith.constant 2.14748365E+9 : f32
// CHECK-DAG: arith.constant -2.14748365E+9 : f32
// CHECK: arith.cmpf oge
// CHECK: arith.cmpf olt
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK-DAG: arith.constant 2147483647 : i32
// CHECK-DAG: arith.constant -2147483648 : i32
// CHECK: return
func.func @to_int(%x: f32) -> i32 {
  %0 = flex.to_int %x : f32 -> i32
  return %0 : i32
}

// CHECK-LABEL: func.func @to_i64
// CHECK: arith.constant 9.22337203E+18 : f32
// CHECK: arith.fptosi %{{.*}} : f32 to i64
func.func @to_i64(%x: f32) -> i64 {
  %0 = flex.to_int %x : f32 -> i64
  return %0 : i64
}

// CHECK-LABEL: func.func @sigmoid
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[N:.*]] = arith.negf %arg0
// CHECK: %[[E:.*]] = math.exp %[[N]]
// CHECK: %[[D:.*]] = arith.addf %[[ONE]], %[[E]]
// CHECK: arith.divf %[[ONE]], %[[D]]
func.func @sigmoid(%x: f32) -> f32 {
  %0 = flex.sigmoid %x : f32
  return %0 : f32
}

// The lowered forms fold to the language's results on constants.
// FOLD-LABEL: func.func @folded
// FOLD-DAG: %[[M4:.*]] = arith.constant -4 : i32
// FOLD-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// FOLD-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// FOLD-DAG: %[[MIN:.*]] = arith.constant -2147483648 : i32
// FOLD-DAG: %[[MAX:.*]] = arith.constant 2147483647 : i32
// FOLD: return %[[M4]], %[[ONE]], %[[ZERO]], %[[MIN]], %[[ZERO]], %[[MAX]], %[[ZERO]], %[[MIN]]
func.func @folded() -> (i32, i32, i32, i32, i32, i32, i32, i32) {
  %m7 = arith.constant -7 : i32
  %two = arith.constant 2 : i32
  %zero = arith.constant 0 : i32
  %min = arith.constant -2147483648 : i32
  %m1 = arith.constant -1 : i32
  %big = arith.constant 1.0e10 : f32
  %nbig = arith.constant -1.0e10 : f32
  %nan = arith.constant 0x7FC00000 : f32
  %d = flex.floordiv %m7, %two : i32      // -4
  %r = flex.floormod %m7, %two : i32      // 1
  %dz = flex.floordiv %m7, %zero : i32    // 0
  %ov = flex.floordiv %min, %m1 : i32     // MIN
  %om = flex.floormod %min, %m1 : i32     // 0
  %sat = flex.to_int %big : f32 -> i32    // MAX
  %n = flex.to_int %nan : f32 -> i32      // 0
  %nsat = flex.to_int %nbig : f32 -> i32  // MIN
  return %d, %r, %dz, %ov, %om, %sat, %n, %nsat : i32, i32, i32, i32, i32, i32, i32, i32
}

// The flex folders give the same results without lowering.
// FOLDER-LABEL: func.func @folder
// FOLDER-DAG: %[[M4:.*]] = arith.constant -4 : i32
// FOLDER-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// FOLDER-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// FOLDER-DAG: %[[MIN:.*]] = arith.constant -2147483648 : i32
// FOLDER-DAG: %[[THREE:.*]] = arith.constant 3 : i32
// FOLDER: return %[[M4]], %[[ONE]], %[[ZERO]], %[[MIN]], %[[ZERO]], %[[ZERO]], %[[M4]], %[[THREE]]
func.func @folder() -> (i32, i32, i32, i32, i32, i32, i32, i32) {
  %m7 = arith.constant -7 : i32
  %two = arith.constant 2 : i32
  %zero = arith.constant 0 : i32
  %min = arith.constant -2147483648 : i32
  %m1 = arith.constant -1 : i32
  %seven = arith.constant 7 : i32
  %m2 = arith.constant -2 : i32
  %five = arith.constant 5 : i32
  %d = flex.floordiv %m7, %two : i32      // -4
  %r = flex.floormod %m7, %two : i32      // 1
  %dz = flex.floordiv %m7, %zero : i32    // 0
  %ov = flex.floordiv %min, %m1 : i32     // MIN
  %om = flex.floormod %min, %m1 : i32     // 0
  %mz = flex.floormod %m7, %zero : i32    // 0
  %d2 = flex.floordiv %seven, %m2 : i32   // -4
  %r2 = flex.floormod %m7, %five : i32    // 3
  return %d, %r, %dz, %ov, %om, %mz, %d2, %r2 : i32, i32, i32, i32, i32, i32, i32, i32
}
