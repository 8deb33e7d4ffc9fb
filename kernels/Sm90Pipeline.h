// A ring of shared-memory slots that the copy engine fills and consumer
// warpgroups read (kernels/Sm90Ops.h for the instructions): per slot a
// "full" mbarrier (the producer's arrive.expect_tx, and as many more
// arrivals as the ring was made with; its phase completes when they are in
// and the slot's bytes have landed) and an "empty" mbarrier (one
// arrival per consumer warpgroup, after the wgmmas that read the slot have
// completed).
//
// Use n (i32) counts every tile that went through the ring since the
// kernel began, across work tiles: slot n % stages, phase parity
// (n / stages) & 1. A fresh mbarrier counts as having completed the phase
// before phase 0, so the producer's first pass over the ring (waiting on
// the empty barriers with the opposite parity) does not block.
#pragma once

#include "kernels/Sm90Ops.h"

namespace flexjit {

class TmaRing {
public:
  /// `barriers`: shared memory for 2 * stages mbarriers (8-byte aligned).
  /// `producerArrivals`: arrivals on a full barrier, the expect_tx's among them.
  TmaRing(Sm90Ops &s, mlir::Value barriers, int stages, int consumerArrivals,
          int producerArrivals = 1)
      : s_(s), barriers_(barriers), stages_(stages), consumers_(consumerArrivals),
        producers_(producerArrivals) {}

  static int barrierBytes(int stages) { return 16 * stages; }
  int stages() const { return stages_; }

  /// Initializes every barrier (one thread; then fenceMbarrierInit and a CTA
  /// barrier before any use).
  void init();

  mlir::Value slot(mlir::Value use);
  mlir::Value full(mlir::Value use);
  mlir::Value empty(mlir::Value use);

  /// Producer: waits until use n's slot is free (its previous tile read by
  /// every consumer).
  void acquire(mlir::Value use);
  /// Producer (one thread): announces the bytes use n's copies bring, which
  /// then complete on full(use).
  void expect(mlir::Value use, mlir::Value bytes);
  /// Consumer: waits until use n's bytes have landed.
  void wait(mlir::Value use);
  /// Consumer (one thread per warpgroup): use n's slot may be refilled.
  void release(mlir::Value use);

private:
  mlir::Value parity(mlir::Value use);
  mlir::Value barrierAt(int first, mlir::Value slot);
  Sm90Ops &s_;
  mlir::Value barriers_;
  int stages_, consumers_, producers_;
};

} // namespace flexjit
