// flexjit-inline-mods on recursive functions: one error at the call that
// closes the cycle, and no endless copying.
// RUN: %flex-opt %s --flexjit-inline-mods --verify-diagnostics --split-input-file

module attributes {gpu.container_module} {
  gpu.module @m {
    func.func @a(%x: f32) -> f32 {
      %r = func.call @b(%x) : (f32) -> f32
      %s = func.call @b(%r) : (f32) -> f32
      return %s : f32
    }
    func.func @b(%x: f32) -> f32 {
      // expected-error @below {{closes a cycle of calls (@a is already on the way from the kernel)}}
      %r = func.call @a(%x) : (f32) -> f32
      return %r : f32
    }
    gpu.func @k(%out: !llvm.ptr, %s: f32) kernel {
      %v = func.call @a(%s) : (f32) -> f32
      llvm.store %v, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    func.func @self(%x: f32) -> f32 {
      // expected-error @below {{closes a cycle of calls (@self is already on the way from the kernel)}}
      %r = func.call @self(%x) : (f32) -> f32
      return %r : f32
    }
    gpu.func @k(%out: !llvm.ptr, %s: f32) kernel {
      %v = func.call @self(%s) : (f32) -> f32
      llvm.store %v, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}
