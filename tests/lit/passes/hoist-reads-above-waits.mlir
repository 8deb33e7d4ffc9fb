// flexjit-hoist-reads-above-waits: the invariant loads after a wait marked
// flexjit.hoist_reads_above, with the ops computing their addresses, move
// above it when they do not depend on it; the mark is removed.
// RUN: %flex-opt %s --flexjit-hoist-reads-above-waits | FileCheck %s

// CHECK-LABEL: gpu.func @k
// The independent read (a bias indexed by kv): its address and load first.
// CHECK: %[[KV:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CHECK-NEXT: %[[IDX:.*]] = arith.extsi %[[KV]] : i32 to i64
// CHECK-NEXT: %[[P:.*]] = llvm.getelementptr %{{.*}}[%[[IDX]]]
// CHECK-NEXT: %[[BIAS:.*]] = llvm.load %[[P]] invariant : !llvm.ptr -> f32
// Then the wait, unmarked.
// CHECK-NEXT: %[[W:.*]] = llvm.inline_asm has_side_effects {{.*}}"wgmma.wait_group.sync.aligned 1;"
// CHECK-NOT: flexjit.hoist_reads_above
// Whatever depends on the wait stays after it: a read indexed by the score,
// a read that is not invariant, a read in a region, and the arithmetic.
// CHECK: llvm.extractvalue %[[W]][0]
// CHECK: llvm.load %{{.*}} invariant : !llvm.ptr -> f32
// CHECK: llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK: scf.if
// CHECK: llvm.load %{{.*}} invariant : !llvm.ptr -> f32
// CHECK: arith.addf %{{.*}}, %[[BIAS]]
// CHECK: gpu.return

// A wait without the mark keeps every read after it.
// CHECK-LABEL: gpu.func @unmarked
// CHECK: llvm.inline_asm
// CHECK: llvm.load %{{.*}} invariant
// CHECK-LABEL: gpu.func @after_a_store
// A read whose address comes from an op with a memory effect stays.
// CHECK: llvm.inline_asm
// CHECK: llvm.alloca
// CHECK: llvm.load %{{.*}} invariant
module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    gpu.func @k(%out: !llvm.ptr, %bias: !llvm.ptr, %kvStart: i32, %col: i32, %acc: f32, %c: i1) kernel {
      %w = llvm.inline_asm has_side_effects {flexjit.hoist_reads_above} "wgmma.wait_group.sync.aligned 1;", "=f,0" %acc : (f32) -> !llvm.struct<(f32)>
      %s = llvm.extractvalue %w[0] : !llvm.struct<(f32)>
      // The score's read: after the wait.
      %si = arith.fptosi %s : f32 to i64
      %sp = llvm.getelementptr %bias[%si] : (!llvm.ptr, i64) -> !llvm.ptr, f32
      %sb = llvm.load %sp invariant : !llvm.ptr -> f32
      // The bias read: before.
      %kv = arith.addi %kvStart, %col : i32
      %idx = arith.extsi %kv : i32 to i64
      %p = llvm.getelementptr %bias[%idx] : (!llvm.ptr, i64) -> !llvm.ptr, f32
      %b = llvm.load %p invariant : !llvm.ptr -> f32
      // Not invariant: stays.
      %plain = llvm.load %p : !llvm.ptr -> f32
      // In a region: stays.
      %r = scf.if %c -> (f32) {
        %x = llvm.load %p invariant : !llvm.ptr -> f32
        scf.yield %x : f32
      } else {
        scf.yield %acc : f32
      }
      %t0 = arith.addf %s, %b : f32
      %t1 = arith.addf %t0, %sb : f32
      %t2 = arith.addf %t1, %plain : f32
      %t3 = arith.addf %t2, %r : f32
      llvm.store %t3, %out : f32, !llvm.ptr
      gpu.return
    }
    gpu.func @unmarked(%out: !llvm.ptr, %bias: !llvm.ptr, %acc: f32) kernel {
      %w = llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 1;", "=f,0" %acc : (f32) -> !llvm.struct<(f32)>
      %b = llvm.load %bias invariant : !llvm.ptr -> f32
      %s = llvm.extractvalue %w[0] : !llvm.struct<(f32)>
      %t = arith.addf %s, %b : f32
      llvm.store %t, %out : f32, !llvm.ptr
      gpu.return
    }
    gpu.func @after_a_store(%out: !llvm.ptr, %acc: f32) kernel {
      %w = llvm.inline_asm has_side_effects {flexjit.hoist_reads_above} "wgmma.wait_group.sync.aligned 1;", "=f,0" %acc : (f32) -> !llvm.struct<(f32)>
      %one = llvm.mlir.constant(1 : i64) : i64
      %slot = llvm.alloca %one x f32 : (i64) -> !llvm.ptr
      %b = llvm.load %slot invariant : !llvm.ptr -> f32
      %s = llvm.extractvalue %w[0] : !llvm.struct<(f32)>
      %t = arith.addf %s, %b : f32
      llvm.store %t, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}
