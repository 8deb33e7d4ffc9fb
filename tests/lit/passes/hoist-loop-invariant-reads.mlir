// flexjit-hoist-loop-invariant-reads: in a loop marked
// flexjit.hoist_invariant_reads, the invariant loads whose addresses do not
// change in the loop, with their address computations and their
// out-of-bounds reports, move before it under a check that it runs; the
// mark is removed.
// RUN: %flex-opt %s --flexjit-hoist-loop-invariant-reads | FileCheck %s

// CHECK-LABEL: gpu.func @k
// The body's constant: before the loop, outside the guard.
// CHECK: %[[C12:.*]] = arith.constant 12 : i64
// CHECK: %[[RUNS:.*]] = arith.cmpi slt, %[[LB:.*]], %[[UB:.*]] : index
// CHECK-NEXT: %[[H:.*]]:{{[0-9]+}} = scf.if %[[RUNS]]
// The row's read: its address, the load, and its report.
// CHECK: %[[ROWP:.*]] = llvm.getelementptr %arg1[%{{.*}}]
// CHECK: %[[SAFE:.*]] = arith.select %{{.*}}, %[[ROWP]], %{{.*}} : !llvm.ptr
// CHECK: %[[ROW:.*]] = llvm.load %[[SAFE]] invariant : !llvm.ptr -> i32
// CHECK: %[[OLD:.*]] = llvm.load %arg2 : !llvm.ptr -> i64
// CHECK: %[[NEW:.*]] = arith.select %{{.*}}, %{{.*}}, %[[OLD]] : i64
// CHECK: llvm.store %[[NEW]], %arg2 : i64, !llvm.ptr
// The row's address stays in use in the loop (by the read in a region).
// CHECK: scf.yield %[[ROWP]], %[[ROW]] : !llvm.ptr, i32
// CHECK: } else {
// CHECK: llvm.mlir.poison : i32
// CHECK: scf.for
// CHECK-NOT: flexjit.hoist_invariant_reads
// In the loop: the column's read (its index is the induction variable),
// the read in a region, the plain load, the report of the column's read.
// CHECK: arith.index_cast %{{.*}} : index to i64
// CHECK: llvm.load %{{.*}} invariant : !llvm.ptr -> i32
// CHECK: llvm.load %arg2 : !llvm.ptr -> i64
// CHECK: arith.shli %{{.*}}, %[[C12]] : i64
// CHECK: llvm.store
// CHECK: scf.if
// CHECK: llvm.load %[[H]]#0 invariant
// CHECK: llvm.load %arg3 : !llvm.ptr -> i32
// CHECK: arith.cmpi eq, %[[H]]#1, %{{.*}} : i32
// CHECK: gpu.return

// A loop comparing its bounds unsigned: so does the guard.
// CHECK-LABEL: gpu.func @unsigned_loop
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : index
// CHECK-NEXT: scf.if
// CHECK: llvm.load %{{.*}} invariant
// CHECK: scf.for unsigned

// An unmarked loop keeps its reads.
// CHECK-LABEL: gpu.func @unmarked
// CHECK-NOT: scf.if
// CHECK: scf.for
// CHECK: llvm.load %{{.*}} invariant
module attributes {gpu.container_module} {
  gpu.module @flexjit_kernels {
    gpu.func @k(%out: !llvm.ptr, %doc: !llvm.ptr, %error: !llvm.ptr, %plain: !llvm.ptr,
                %q: i64, %n: i64, %lb: index, %ub: index, %c: i1) kernel {
      %c1 = arith.constant 1 : index
      %zero = llvm.mlir.zero : !llvm.ptr
      %one = arith.constant 1 : i64
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %one) -> (i64) {
        // doc[q]: the same on every iteration, reported out of bounds.
        %qin = arith.cmpi ult, %q, %n : i64
        %qp = llvm.getelementptr %doc[%q] : (!llvm.ptr, i64) -> !llvm.ptr, i32
        %qsafe = arith.select %qin, %qp, %zero : !llvm.ptr
        %dq = llvm.load %qsafe invariant : !llvm.ptr -> i32
        %qout = arith.cmpi uge, %q, %n : i64
        %qold = llvm.load %error : !llvm.ptr -> i64
        %c12 = arith.constant 12 : i64
        %qshift = arith.shli %q, %c12 : i64
        %qword = arith.ori %qshift, %one : i64
        %qnew = arith.select %qout, %qword, %qold : i64
        llvm.store %qnew, %error : i64, !llvm.ptr
        // doc[kv]: kv is the induction variable.
        %kv = arith.index_cast %t : index to i64
        %kin = arith.cmpi ult, %kv, %n : i64
        %kp = llvm.getelementptr %doc[%kv] : (!llvm.ptr, i64) -> !llvm.ptr, i32
        %ksafe = arith.select %kin, %kp, %zero : !llvm.ptr
        %dk = llvm.load %ksafe invariant : !llvm.ptr -> i32
        %kout = arith.cmpi uge, %kv, %n : i64
        %kold = llvm.load %error : !llvm.ptr -> i64
        %kword = arith.shli %kv, %c12 : i64
        %knew = arith.select %kout, %kword, %kold : i64
        llvm.store %knew, %error : i64, !llvm.ptr
        // In a region: stays.
        %x = scf.if %c -> (i32) {
          %y = llvm.load %qp invariant : !llvm.ptr -> i32
          scf.yield %y : i32
        } else {
          scf.yield %dk : i32
        }
        // Not invariant: stays.
        %p = llvm.load %plain : !llvm.ptr -> i32
        %same = arith.cmpi eq, %dq, %dk : i32
        %xs = arith.cmpi eq, %x, %p : i32
        %both = arith.andi %same, %xs : i1
        %e = arith.extui %both : i1 to i64
        %next = arith.addi %acc, %e : i64
        scf.yield %next : i64
      } {flexjit.hoist_invariant_reads}
      llvm.store %r, %out : i64, !llvm.ptr
      gpu.return
    }
    gpu.func @unsigned_loop(%out: !llvm.ptr, %doc: !llvm.ptr, %lb: index, %ub: index) kernel {
      %c1 = arith.constant 1 : index
      %zero = arith.constant 0 : i32
      %r = scf.for unsigned %t = %lb to %ub step %c1 iter_args(%acc = %zero) -> (i32) {
        %d = llvm.load %doc invariant : !llvm.ptr -> i32
        %next = arith.addi %acc, %d : i32
        scf.yield %next : i32
      } {flexjit.hoist_invariant_reads}
      llvm.store %r, %out : i32, !llvm.ptr
      gpu.return
    }
    gpu.func @unmarked(%out: !llvm.ptr, %doc: !llvm.ptr, %lb: index, %ub: index) kernel {
      %c1 = arith.constant 1 : index
      %zero = arith.constant 0 : i32
      %r = scf.for %t = %lb to %ub step %c1 iter_args(%acc = %zero) -> (i32) {
        %d = llvm.load %doc invariant : !llvm.ptr -> i32
        %next = arith.addi %acc, %d : i32
        scf.yield %next : i32
      }
      llvm.store %r, %out : i32, !llvm.ptr
      gpu.return
    }
  }
}
