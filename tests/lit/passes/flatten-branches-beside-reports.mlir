// flexjit-flatten-branches-beside-reports: a branch kept for speed (an scf.if
// marked flexjit.then_arm_suffices; here a pinned wait, whose arms are the
// same wait) becomes its then arm in a loop that holds an out-of-bounds
// report; elsewhere it stays, unmarked.
// RUN: %flex-opt %s --split-input-file --verify-diagnostics --flexjit-flatten-branches-beside-reports | FileCheck %s
// After the unswitching, the loop that keeps the report loses the branch and
// its copy without it keeps it.
// RUN: %flex-opt %s --split-input-file --verify-diagnostics --flexjit-unswitch-invariant-reports --flexjit-flatten-branches-beside-reports | FileCheck %s --check-prefix=BOTH

// CHECK-LABEL: gpu.func @with_report
// CHECK: scf.for
// CHECK-NOT: scf.if
// CHECK: %[[W:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "wgmma.wait_group.sync.aligned 0;", "=f,0" %{{.*}} : (f32) -> f32
// CHECK-NOT: { wgmma.wait_group
// CHECK: scf.yield %[[W]] : f32

// A report as inlining leaves it (the select's arms swapped, its record's
// pointer loaded in the loop) counts too.
// CHECK-LABEL: gpu.func @folded_report
// CHECK: scf.for
// CHECK-NOT: scf.if
// CHECK: gpu.return

// Lazy rescaling's branch (O multiplied, or kept where the scale is 1)
// beside a report: always multiplied.
// CHECK-LABEL: gpu.func @lazy_rescale_with_report
// CHECK: scf.for
// CHECK-NOT: scf.if
// CHECK: %[[M:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: scf.yield %[[M]] : f32

// CHECK-LABEL: gpu.func @without_report
// CHECK: scf.for
// CHECK: scf.if
// CHECK: "wgmma.wait_group.sync.aligned 0;"
// CHECK: } else {
// CHECK: "{ wgmma.wait_group.sync.aligned 0; }"
// CHECK-NOT: flexjit.then_arm_suffices
// CHECK: gpu.return

// BOTH-LABEL: gpu.func @with_report
// BOTH: scf.if
// The loop as it was, with the report: unpinned.
// BOTH: scf.for
// BOTH-NOT: scf.if
// BOTH: llvm.store %{{.*}}, %arg2 : i64, !llvm.ptr
// BOTH: } else {
// The copy without it: pinned.
// BOTH: scf.for
// BOTH: scf.if
// BOTH: "{ wgmma.wait_group.sync.aligned 0; }"
// BOTH-NOT: flexjit.then_arm_suffices
// BOTH-LABEL: gpu.func @folded_report
// BOTH-LABEL: gpu.func @lazy_rescale_with_report
// BOTH-LABEL: gpu.func @without_report
module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    func.func private @vote(%p: i1) -> i1 {
      return %p : i1
    }
    gpu.func @with_report(%out: !llvm.ptr, %lb: index, %error: !llvm.ptr, %h: i64, %n: i64,
                          %ub: index, %tag: i32) kernel {
      %c1 = arith.constant 1 : index
      %x = arith.constant 1.0 : f32
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %x) -> (f32) {
        %kv = arith.index_cast %t : index to i64
        %ge = arith.cmpi uge, %kv, %h : i64
        %hout = arith.cmpi uge, %h, %n : i64
        %g = arith.andi %hout, %ge : i1
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %g, %h, %old : i64
        llvm.store %new, %error : i64, !llvm.ptr
        %m1 = arith.constant -1 : i32
        %on = arith.cmpi ne, %tag, %m1 : i32
        %w = scf.if %on -> (f32) {
          %a = llvm.inline_asm has_side_effects asm_dialect = att "wgmma.wait_group.sync.aligned 0;", "=f,0" %acc : (f32) -> f32
          scf.yield %a : f32
        } else {
          %b = llvm.inline_asm has_side_effects asm_dialect = att "{ wgmma.wait_group.sync.aligned 0; }", "=f,0" %acc : (f32) -> f32
          scf.yield %b : f32
        } {flexjit.then_arm_suffices}
        scf.yield %w : f32
      } {flexjit.unswitch_reports = @vote}
      llvm.store %r, %out : f32, !llvm.ptr
      gpu.return
    }
    gpu.func @folded_report(%out: !llvm.ptr, %lb: index, %ub: index, %ctx: !llvm.ptr, %n: i64,
                            %tag: i32) kernel {
      %c1 = arith.constant 1 : index
      %x = arith.constant 1.0 : f32
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %x) -> (f32) {
        %kv = arith.index_cast %t : index to i64
        %in = arith.cmpi ult, %kv, %n : i64
        %error = llvm.load %ctx invariant : !llvm.ptr -> !llvm.ptr
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %in, %old, %kv : i64
        llvm.store %new, %error : i64, !llvm.ptr
        %m1 = arith.constant -1 : i32
        %on = arith.cmpi ne, %tag, %m1 : i32
        %w = scf.if %on -> (f32) {
          %a = llvm.inline_asm has_side_effects asm_dialect = att "wgmma.wait_group.sync.aligned 0;", "=f,0" %acc : (f32) -> f32
          scf.yield %a : f32
        } else {
          %b = llvm.inline_asm has_side_effects asm_dialect = att "{ wgmma.wait_group.sync.aligned 0; }", "=f,0" %acc : (f32) -> f32
          scf.yield %b : f32
        } {flexjit.then_arm_suffices}
        scf.yield %w : f32
      }
      llvm.store %r, %out : f32, !llvm.ptr
      gpu.return
    }
    gpu.func @lazy_rescale_with_report(%out: !llvm.ptr, %lb: index, %ub: index,
                                       %error: !llvm.ptr, %n: i64, %scale: f32,
                                       %needed: i32) kernel {
      %c1 = arith.constant 1 : index
      %x = arith.constant 1.0 : f32
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%o = %x) -> (f32) {
        %kv = arith.index_cast %t : index to i64
        %out_of = arith.cmpi uge, %kv, %n : i64
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %out_of, %kv, %old : i64
        llvm.store %new, %error : i64, !llvm.ptr
        %z = arith.constant 0 : i32
        %any = arith.cmpi ne, %needed, %z : i32
        %scaled = scf.if %any -> (f32) {
          %m = arith.mulf %o, %scale : f32
          scf.yield %m : f32
        } else {
          scf.yield %o : f32
        } {flexjit.then_arm_suffices}
        scf.yield %scaled : f32
      }
      llvm.store %r, %out : f32, !llvm.ptr
      gpu.return
    }
    gpu.func @without_report(%out: !llvm.ptr, %lb: index, %ub: index, %tag: i32) kernel {
      %c1 = arith.constant 1 : index
      %x = arith.constant 1.0 : f32
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %x) -> (f32) {
        %m1 = arith.constant -1 : i32
        %on = arith.cmpi ne, %tag, %m1 : i32
        %w = scf.if %on -> (f32) {
          %a = llvm.inline_asm has_side_effects asm_dialect = att "wgmma.wait_group.sync.aligned 0;", "=f,0" %acc : (f32) -> f32
          scf.yield %a : f32
        } else {
          %b = llvm.inline_asm has_side_effects asm_dialect = att "{ wgmma.wait_group.sync.aligned 0; }", "=f,0" %acc : (f32) -> f32
          scf.yield %b : f32
        } {flexjit.then_arm_suffices}
        scf.yield %w : f32
      }
      llvm.store %r, %out : f32, !llvm.ptr
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    gpu.func @k(%c: i1) kernel {
      // expected-error @below {{is marked flexjit.then_arm_suffices but has no else arm or no results (not a branch whose then arm suffices)}}
      scf.if %c {
        scf.yield
      } {flexjit.then_arm_suffices}
      gpu.return
    }
  }
}
