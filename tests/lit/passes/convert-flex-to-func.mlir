// convert-flex-to-func: mods become functions with the ABI of ModABI.h.
// RUN: %flex-opt %s --convert-flex-to-func | FileCheck %s
// RUN: %flex-opt %s --convert-flex-to-func --canonicalize --cse | FileCheck %s --check-prefix=OPT

// The declarations are gone; only upstream ops remain.
// CHECK-NOT: flex.param
// CHECK-NOT: flex.buffer
// OPT-NOT: {{^ *(%.* = )?flex\.}}
flex.param @enabled : i1
flex.param @prefix_len : i32
flex.param @scale : f32
flex.param @wide : i64
flex.buffer @bias : f32 [H, M]
flex.buffer @doc_id : i32 [N]
flex.buffer @flags : i1 [K]

// A mask returns i8 (0/1) and takes the context pointer last.
// CHECK-LABEL: func.func @causal(%arg0: i32, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: !llvm.ptr) -> i8
// CHECK-SAME: flex.buffers = []
// CHECK-SAME: flex.kind = "mask"
// CHECK-SAME: flex.params = []
// CHECK-SAME: passthrough = ["alwaysinline"]
// CHECK: %[[C:.*]] = arith.cmpi sge, %arg2, %arg3 : i32
// CHECK: %[[R:.*]] = arith.extui %[[C]] : i1 to i8
// CHECK: return %[[R]] : i8
flex.mask @causal(%b: i32, %h: i32, %q: i32, %kv: i32) {
  %0 = arith.cmpi sge, %q, %kv : i32
  flex.yield %0 : i1
}

// Params: slot = position in the mod's params list; the 8-byte slot is
// loaded once, in the prologue, and truncated (i32), compared with 0 (bool),
// taken whole (i64) or bitcast from its low 32 bits (f32). Every load of the
// context is invariant (the mod never writes it).
// CHECK-LABEL: func.func @params(%arg0: f32, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32, %arg5: !llvm.ptr) -> f32
// CHECK-SAME: flex.kind = "score"
// CHECK-SAME: flex.params = ["enabled", "prefix_len", "scale", "wide"]
// CHECK: %[[FP:.*]] = llvm.getelementptr %arg5[0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, ptr, ptr, ptr)>
// CHECK: %[[P:.*]] = llvm.load %[[FP]] invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S0:.*]] = arith.constant 0 : i64
// CHECK: %[[A0:.*]] = llvm.getelementptr %[[P]][%[[S0]]] : (!llvm.ptr, i64) -> !llvm.ptr, i64
// CHECK: %[[V0:.*]] = llvm.load %[[A0]] invariant : !llvm.ptr -> i64
// CHECK: %[[E:.*]] = arith.cmpi ne, %[[V0]]
// CHECK: %[[S1:.*]] = arith.constant 1 : i64
// CHECK: %[[A1:.*]] = llvm.getelementptr %[[P]][%[[S1]]]
// CHECK: %[[V1:.*]] = llvm.load %[[A1]] invariant : !llvm.ptr -> i64
// CHECK: %[[PL:.*]] = arith.trunci %[[V1]] : i64 to i32
// CHECK: %[[S2:.*]] = arith.constant 2 : i64
// CHECK: %[[A2:.*]] = llvm.getelementptr %[[P]][%[[S2]]]
// CHECK: %[[V2:.*]] = llvm.load %[[A2]] invariant : !llvm.ptr -> i64
// CHECK: %[[B2:.*]] = arith.trunci %[[V2]] : i64 to i32
// CHECK: %[[SC:.*]] = arith.bitcast %[[B2]] : i32 to f32
// CHECK: %[[S3:.*]] = arith.constant 3 : i64
// CHECK: %[[A3:.*]] = llvm.getelementptr %[[P]][%[[S3]]]
// CHECK: %[[W:.*]] = llvm.load %[[A3]] invariant : !llvm.ptr -> i64
// CHECK: arith.cmpi slt, %{{.*}}, %[[W]] : i64
// CHECK: arith.cmpi slt, %arg4, %[[PL]] : i32
// CHECK: arith.andi %[[E]], %{{.*}} : i1
// CHECK: arith.mulf %arg0, %[[SC]] : f32
// CHECK: return %{{.*}} : f32
flex.score @params(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) params(@enabled, @prefix_len, @scale, @wide) {
  %e = flex.param_get @enabled : i1
  %p = flex.param_get @prefix_len : i32
  %sc = flex.param_get @scale : f32
  %w = flex.param_get @wide : i64
  %kv64 = arith.extsi %kv : i32 to i64
  %lt = arith.cmpi slt, %kv64, %w : i64
  %pl = arith.cmpi slt, %kv, %p : i32
  %c0 = arith.andi %e, %lt : i1
  %c = arith.andi %c0, %pl : i1
  %x = arith.mulf %s, %sc : f32
  %r = arith.select %c, %x, %s : f32
  flex.yield %r : f32
}

// Buffers: slot = position in the buffers list; sizes of earlier slots come
// first in buffer_dims (bias has 2, so doc_id's size is buffer_dims[2]). The
// prologue loads each buffer's data pointer and sizes once. Every index is
// compared unsigned with its size; the element is loaded only in bounds; out
// of bounds yields 0 and reports (slot+1, dim, index, bound).
// CHECK-LABEL: func.func @buffers(
// CHECK-SAME: flex.buffers = ["bias", "doc_id", "flags"]
// CHECK: %[[BUFSF:.*]] = llvm.getelementptr %arg5[0, 1]
// CHECK: %[[BUFS:.*]] = llvm.load %[[BUFSF]] invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[DIMSF:.*]] = llvm.getelementptr %arg5[0, 2]
// CHECK: %[[DIMS:.*]] = llvm.load %[[DIMSF]] invariant : !llvm.ptr -> !llvm.ptr
// bias: slot 0, sizes buffer_dims[0], buffer_dims[1].
// CHECK: %[[K0:.*]] = arith.constant 0 : i64
// CHECK: %[[DP0:.*]] = llvm.getelementptr %[[BUFS]][%[[K0]]] : (!llvm.ptr, i64) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[BIASDATA:.*]] = llvm.load %[[DP0]] invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[O0:.*]] = arith.constant 0 : i64
// CHECK: %[[DA0:.*]] = llvm.getelementptr %[[DIMS]][%[[O0]]] : (!llvm.ptr, i64) -> !llvm.ptr, i64
// CHECK: %[[D0:.*]] = llvm.load %[[DA0]] invariant : !llvm.ptr -> i64
// CHECK: %[[O1:.*]] = arith.constant 1 : i64
// CHECK: %[[DA1:.*]] = llvm.getelementptr %[[DIMS]][%[[O1]]]
// CHECK: %[[D1:.*]] = llvm.load %[[DA1]] invariant : !llvm.ptr -> i64
// CHECK: %[[ERRF:.*]] = llvm.getelementptr %arg5[0, 3]
// CHECK: %[[ERR:.*]] = llvm.load %[[ERRF]] invariant : !llvm.ptr -> !llvm.ptr
// doc_id: slot 1, size buffer_dims[2].
// CHECK: %[[K1:.*]] = arith.constant 1 : i64
// CHECK: llvm.getelementptr %[[BUFS]][%[[K1]]]
// CHECK: %[[DOCDATA:.*]] = llvm.load %{{.*}} invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[O2:.*]] = arith.constant 2 : i64
// CHECK: llvm.getelementptr %[[DIMS]][%[[O2]]]
// CHECK: %[[DOCN:.*]] = llvm.load %{{.*}} invariant : !llvm.ptr -> i64
// flags: slot 2, size buffer_dims[3].
// CHECK: %[[K2:.*]] = arith.constant 2 : i64
// CHECK: llvm.getelementptr %[[BUFS]][%[[K2]]]
// CHECK: %[[FLAGDATA:.*]] = llvm.load %{{.*}} invariant : !llvm.ptr -> !llvm.ptr
// CHECK: %[[O3:.*]] = arith.constant 3 : i64
// CHECK: llvm.getelementptr %[[DIMS]][%[[O3]]]
// CHECK: %[[FLAGN:.*]] = llvm.load %{{.*}} invariant : !llvm.ptr -> i64

// bias[h, kv], row-major h * M + kv.
// CHECK: %[[H:.*]] = arith.extsi %arg2 : i32 to i64
// CHECK: %[[KV:.*]] = arith.extsi %arg4 : i32 to i64
// CHECK: %[[Q:.*]] = arith.extsi %arg3 : i32 to i64
// CHECK: %[[IN0:.*]] = arith.cmpi ult, %[[H]], %[[D0]] : i64
// CHECK: %[[IN1:.*]] = arith.cmpi ult, %[[KV]], %[[D1]] : i64
// CHECK: %[[ALL:.*]] = arith.andi %[[IN0]], %[[IN1]] : i1
// CHECK: %[[BIAS:.*]] = scf.if %[[ALL]] -> (f32) {
// CHECK:   %[[ROW:.*]] = arith.muli %[[H]], %[[D1]] : i64
// CHECK:   %[[LIN:.*]] = arith.addi %[[ROW]], %[[KV]] : i64
// CHECK:   %[[EP:.*]] = llvm.getelementptr %[[BIASDATA]][%[[LIN]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:   %[[V:.*]] = llvm.load %[[EP]] invariant : !llvm.ptr -> f32
// CHECK:   scf.yield %[[V]] : f32
// CHECK: } else {
// CHECK:   %[[OUT0:.*]] = arith.xori %[[IN0]], %{{.*}} : i1
// CHECK:   %[[DIM:.*]] = arith.select %[[OUT0]], %{{.*}}, %{{.*}} : i64
// CHECK:   %[[IDX:.*]] = arith.select %[[OUT0]], %[[H]], %[[KV]] : i64
// CHECK:   %[[BND:.*]] = arith.select %[[OUT0]], %[[D0]], %[[D1]] : i64
// CHECK:   %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK:   %[[ONE:.*]] = arith.constant 1 : i64
// CHECK:   %[[CAS:.*]] = llvm.cmpxchg %[[ERR]], %[[ZERO]], %[[ONE]] monotonic monotonic : !llvm.ptr, i64
// CHECK:   %[[FIRST:.*]] = llvm.extractvalue %[[CAS]][1] : !llvm.struct<(i64, i1)>
// CHECK:   scf.if %[[FIRST]] {
// CHECK:     %[[E1:.*]] = llvm.getelementptr %[[ERR]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i64
// CHECK:     llvm.store %[[DIM]], %[[E1]] : i64, !llvm.ptr
// CHECK:     llvm.store %[[IDX]], %{{.*}} : i64, !llvm.ptr
// CHECK:     llvm.store %[[BND]], %{{.*}} : i64, !llvm.ptr
// CHECK:   }
// CHECK:   %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:   scf.yield %[[Z]] : f32
// CHECK: }

// doc_id[q]: a report writes slot + 1 = 2.
// CHECK: %[[INQ:.*]] = arith.cmpi ult, %[[Q]], %[[DOCN]] : i64
// CHECK: scf.if %[[INQ]] -> (i32) {
// CHECK:   llvm.getelementptr %[[DOCDATA]][%[[Q]]] : (!llvm.ptr, i64) -> !llvm.ptr, i32
// CHECK: } else {
// CHECK:   %[[TWO:.*]] = arith.constant 2 : i64
// CHECK:   llvm.cmpxchg %[[ERR]], %{{.*}}, %[[TWO]] monotonic monotonic
// CHECK: }

// flags[kv]: bool buffers hold one byte per element.
// CHECK: %[[INF:.*]] = arith.cmpi ult, %[[KV]], %[[FLAGN]] : i64
// CHECK: scf.if %[[INF]] -> (i1) {
// CHECK:   %[[BA:.*]] = llvm.getelementptr %[[FLAGDATA]][%[[KV]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:   %[[BYTE:.*]] = llvm.load %[[BA]] invariant : !llvm.ptr -> i8
// CHECK:   arith.cmpi ne, %[[BYTE]], %{{.*}} : i8
// CHECK: } else {
// CHECK:   %[[THREE:.*]] = arith.constant 3 : i64
// CHECK:   llvm.cmpxchg %[[ERR]], %{{.*}}, %[[THREE]] monotonic monotonic
// CHECK:   arith.constant false
// CHECK: }
flex.score @buffers(%s: f32, %b: i32, %h: i32, %q: i32, %kv: i32) buffers(@bias, @doc_id, @flags) {
  %h64 = arith.extsi %h : i32 to i64
  %kv64 = arith.extsi %kv : i32 to i64
  %q64 = arith.extsi %q : i32 to i64
  %x = flex.buffer_load @bias[%h64, %kv64] : f32
  %d = flex.buffer_load @doc_id[%q64] : i32
  %f = flex.buffer_load @flags[%kv64] : i1
  %df = arith.sitofp %d : i32 to f32
  %y = arith.addf %x, %df : f32
  %r = arith.select %f, %y, %s : f32
  flex.yield %r : f32
}

// An unused read stays: its report is observable.
// OPT-LABEL: func.func @unused_read
// OPT: llvm.cmpxchg
// OPT: return %{{.*}} : i8
flex.mask @unused_read(%b: i32, %h: i32, %q: i32, %kv: i32) buffers(@doc_id) {
  %q64 = arith.extsi %q : i32 to i64
  %d = flex.buffer_load @doc_id[%q64] : i32
  %t = arith.constant true
  flex.yield %t : i1
}
