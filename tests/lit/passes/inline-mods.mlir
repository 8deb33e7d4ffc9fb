// flexjit-inline-mods: a kernel's calls of one-block func.funcs become copies
// of their bodies, calls inside the copies too; the callees stay, and
// functions that are not kernels keep their calls.
// RUN: %flex-opt %s --flexjit-inline-mods | FileCheck %s
// RUN: %flex-opt %s --flexjit-inline-mods --mlir-print-debuginfo --mlir-print-local-scope \
// RUN:   | FileCheck %s --check-prefix=LOC

// CHECK-LABEL: func.func @flexjit_mod_inner
// CHECK-LABEL: func.func @flexjit_mod_outer
// CHECK: call @flexjit_mod_inner
// CHECK-LABEL: func.func private @external
// CHECK-LABEL: gpu.func @k
// CHECK-NOT: func.call @flexjit_mod_
// CHECK: %[[M:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[A:.*]] = arith.addf %[[M]], %{{.*}} : f32
// CHECK: func.call @external(%[[A]])
// CHECK: llvm.store
// CHECK: gpu.return

// The copy's locations say where the callee's op came from and where the
// call was.
// LOC: arith.mulf {{.*}} loc(callsite("inner.flex":1:1 at callsite("outer.flex":2:2 at "kernel":3:3)))

module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    func.func @flexjit_mod_inner(%x: f32) -> f32 {
      %r = arith.mulf %x, %x : f32 loc("inner.flex":1:1)
      return %r : f32
    }
    func.func @flexjit_mod_outer(%x: f32, %y: f32) -> f32 {
      %m = func.call @flexjit_mod_inner(%x) : (f32) -> f32 loc("outer.flex":2:2)
      %r = arith.addf %m, %y : f32
      return %r : f32
    }
    func.func private @external(f32) -> f32
    gpu.func @k(%out: !llvm.ptr, %s: f32) kernel {
      %v = func.call @flexjit_mod_outer(%s, %s) : (f32, f32) -> f32 loc("kernel":3:3)
      %w = func.call @external(%v) : (f32) -> f32
      llvm.store %w, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}
