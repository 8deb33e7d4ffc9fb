// flexjit-unswitch-invariant-reports: a loop marked flexjit.unswitch_reports
// whose reports' gates hold an operand that does not change in it runs as
// the loop itself where the mark's function says some thread's operand
// holds, and as a copy without those reports where none does.
// RUN: %flex-opt %s --split-input-file --verify-diagnostics --flexjit-unswitch-invariant-reports | FileCheck %s

// CHECK-LABEL: gpu.func @k
// The operands' or, where the loop runs at least once: the index's compare
// (out of the loop's body) and the argument (from outside it), each once
// although the loop reports them twice; the report gated by the induction
// variable alone is not unswitched.
// CHECK: %[[RUNS:.*]] = arith.cmpi slt, %[[LB:.*]], %[[UB:.*]] : index
// CHECK-NEXT: %[[POSSIBLE:.*]] = scf.if %[[RUNS]] -> (i1) {
// CHECK-NEXT: %[[HOUT:.*]] = arith.cmpi uge, %arg3, %arg4 : i64
// CHECK-NEXT: %[[BOTH:.*]] = arith.andi %[[HOUT]], %arg5 : i1
// CHECK-NEXT: scf.yield %[[BOTH]] : i1
// CHECK-NEXT: } else {
// CHECK-NEXT: %[[FALSE:.*]] = arith.constant false
// CHECK-NEXT: scf.yield %[[FALSE]] : i1
// The vote's body, copied in.
// CHECK: %[[FLIP:.*]] = arith.xori %[[POSSIBLE]], %{{.*}} : i1
// CHECK-NEXT: %[[ANY:.*]] = arith.xori %[[FLIP]], %{{.*}} : i1
// CHECK-NEXT: %[[CHOSEN:.*]] = scf.if %[[ANY]] -> (i64) {
// The loop as it was: three reports.
// CHECK: scf.for
// CHECK-NOT: flexjit.unswitch_reports
// CHECK-COUNT-3: llvm.store %{{.*}}, %arg2 : i64, !llvm.ptr
// CHECK: } else {
// The copy: only the report gated by the induction variable.
// CHECK: scf.for
// CHECK-NOT: flexjit.unswitch_reports
// CHECK-COUNT-1: llvm.store %{{.*}}, %arg2 : i64, !llvm.ptr
// CHECK-NOT: llvm.store %{{.*}}, %arg2
// CHECK: llvm.store %[[CHOSEN]], %arg0
// CHECK: gpu.return

// A loop without results: the choice yields none.
// CHECK-LABEL: gpu.func @no_results
// CHECK: scf.if %{{.*}} {
// CHECK: scf.for
// CHECK: llvm.store %{{.*}}, %arg2 : i64, !llvm.ptr
// CHECK: } else {
// CHECK: scf.for
// CHECK-NOT: llvm.store
// CHECK: gpu.return

// A loop with no such report stays as it is, without its mark.
// CHECK-LABEL: gpu.func @varying
// CHECK-NOT: scf.if
// CHECK: scf.for
// CHECK-NOT: flexjit.unswitch_reports
// CHECK: gpu.return
module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    // Stands for a warpgroup's vote: any observable copy of its body will do.
    func.func private @vote(%p: i1) -> i1 {
      %t = arith.constant true
      %r = arith.xori %p, %t : i1
      %s = arith.xori %r, %t : i1
      return %s : i1
    }
    gpu.func @k(%out: !llvm.ptr, %lb: index, %error: !llvm.ptr, %h: i64, %n: i64, %c: i1,
                %ub: index) kernel {
      %c1 = arith.constant 1 : index
      %one = arith.constant 1 : i64
      %true = arith.constant true
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %one) -> (i64) {
        %kv = arith.index_cast %t : index to i64
        %ge = arith.cmpi uge, %kv, %one : i64
        // slopes[h] under where(kv >= 1, ..): gated by (h out of bounds) and (kv >= 1).
        %hout = arith.cmpi uge, %h, %n : i64
        %g0 = arith.andi %hout, %true : i1
        %g1 = arith.andi %g0, %ge : i1
        %g2 = arith.andi %g1, %c : i1
        %old0 = llvm.load %error : !llvm.ptr -> i64
        %new0 = arith.select %g2, %h, %old0 : i64
        llvm.store %new0, %error : i64, !llvm.ptr
        // The same read at the next score: the same operands.
        %ge2 = arith.cmpi ugt, %kv, %one : i64
        %g3 = arith.andi %hout, %ge2 : i1
        %g4 = arith.andi %g3, %c : i1
        %old1 = llvm.load %error : !llvm.ptr -> i64
        %new1 = arith.select %g4, %h, %old1 : i64
        llvm.store %new1, %error : i64, !llvm.ptr
        // A read whose index is kv: nothing invariant in its gate.
        %kout = arith.cmpi uge, %kv, %n : i64
        %old2 = llvm.load %error : !llvm.ptr -> i64
        %new2 = arith.select %kout, %kv, %old2 : i64
        llvm.store %new2, %error : i64, !llvm.ptr
        %next = arith.addi %acc, %kv : i64
        scf.yield %next : i64
      } {flexjit.unswitch_reports = @vote}
      llvm.store %r, %out : i64, !llvm.ptr
      gpu.return
    }
    gpu.func @no_results(%lb: index, %ub: index, %error: !llvm.ptr, %h: i64, %n: i64) kernel {
      %c1 = arith.constant 1 : index
      scf.for %t = %lb to %ub step %c1 {
        %kv = arith.index_cast %t : index to i64
        %ge = arith.cmpi uge, %kv, %h : i64
        %hout = arith.cmpi uge, %h, %n : i64
        %g = arith.andi %ge, %hout : i1
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %g, %h, %old : i64
        llvm.store %new, %error : i64, !llvm.ptr
      } {flexjit.unswitch_reports = @vote}
      gpu.return
    }
    gpu.func @varying(%out: !llvm.ptr, %lb: index, %ub: index, %error: !llvm.ptr, %n: i64) kernel {
      %c1 = arith.constant 1 : index
      %zero = arith.constant 0 : i64
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %zero) -> (i64) {
        %kv = arith.index_cast %t : index to i64
        %kout = arith.cmpi uge, %kv, %n : i64
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %kout, %kv, %old : i64
        llvm.store %new, %error : i64, !llvm.ptr
        %next = arith.addi %acc, %kv : i64
        scf.yield %next : i64
      } {flexjit.unswitch_reports = @vote}
      llvm.store %r, %out : i64, !llvm.ptr
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    func.func private @not_a_vote(%p: i32) -> i1 {
      %t = arith.constant true
      return %t : i1
    }
    gpu.func @k(%lb: index, %ub: index, %error: !llvm.ptr, %bad: i1) kernel {
      %c1 = arith.constant 1 : index
      %w = arith.constant 7 : i64
      // expected-error @below {{is marked flexjit.unswitch_reports with @not_a_vote, which is not a one-block func.func (i1) -> i1 of its module}}
      scf.for %t = %lb to %ub step %c1 {
        %old = llvm.load %error : !llvm.ptr -> i64
        %new = arith.select %bad, %w, %old : i64
        llvm.store %new, %error : i64, !llvm.ptr
      } {flexjit.unswitch_reports = @not_a_vote}
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    gpu.func @k(%lb: index, %ub: index) kernel {
      %c1 = arith.constant 1 : index
      // expected-error @below {{is marked flexjit.unswitch_reports with 1 : i32, not a symbol}}
      scf.for %t = %lb to %ub step %c1 {
      } {flexjit.unswitch_reports = 1 : i32}
      gpu.return
    }
  }
}
