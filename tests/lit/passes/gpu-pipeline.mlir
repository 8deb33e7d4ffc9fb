// flexjit-gpu-to-nvvm: a kernel module (mods + kernel in a gpu.module) to
// the llvm and nvvm dialects; the mods' func.func become llvm.func, and
// their bodies are copied into the kernel (flexjit-inline-mods).
// RUN: %flex-opt %s --flexjit-gpu-to-nvvm | FileCheck %s

// CHECK: gpu.module @flexjit_kernels
// CHECK: llvm.func @flexjit_mod_soft(%{{.*}}: f32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: !llvm.ptr) -> f32
// CHECK-NOT: math.
// CHECK-NOT: __nv_
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.func @k(%{{.*}}: !llvm.ptr, %{{.*}}: f32) attributes {gpu.kernel, nvvm.kernel}
// CHECK: nvvm.read.ptx.sreg.tid.x
// CHECK-NOT: llvm.call @flexjit_mod_soft
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.return
module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    func.func @flexjit_mod_soft(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32, %ctx: !llvm.ptr) -> f32 {
      %c = arith.constant 3.0e+01 : f32
      %d = arith.divf %s, %c : f32
      %t = math.tanh %d : f32
      %r = arith.mulf %c, %t : f32
      return %r : f32
    }
    gpu.func @k(%out: !llvm.ptr, %s: f32) kernel {
      %t = gpu.thread_id x
      %i = arith.index_cast %t : index to i32
      llvm.store %i, %out : i32, !llvm.ptr
      %v = func.call @flexjit_mod_soft(%s, %i, %i, %i, %i, %out) : (f32, i32, i32, i32, i32, !llvm.ptr) -> f32
      llvm.store %v, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}
