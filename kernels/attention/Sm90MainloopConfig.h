// What the sm_90a mainloop (Sm90Mainloop.h) is built for, and where it puts
// things in shared memory: no MLIR, so that a template's description
// (its shared memory, its check) uses it without the builders.
#pragma once

#include "flexjit/DType.hpp"

#include <string>

namespace flexjit {

struct Sm90MainloopConfig {
  DType dtype = DType::BF16;
  int headDim = 128;      ///< D of Q and K: 64, 128 or 256
  int valueHeadDim = 128; ///< Dv of V and O: 64, 128 or 256
  int blockN = 128;       ///< kv rows per tile: a multiple of 16, at most 256
  int stages = 2;         ///< K and V tiles in flight
  int consumers = 2;      ///< consumer warpgroups, 64 query rows each
  /// A producer warpgroup issues every copy. Off: no producer; thread 0 of
  /// consumer 0 issues them, each work tile's first `stages` tiles at its
  /// start and tile t + stages once tile t's slot is released.
  bool warpSpecialized = true;
  bool pingPong = true;   ///< consumers take turns to issue (needs 2 consumers)
  bool intraOverlap = true;
  /// The transform's buffer reads that need no score are issued before the
  /// wait for S, on the first tile and on full tiles (on partial tiles the
  /// reads' clamped addresses and values cost registers that spill).
  bool earlyReads = true;
  bool persistent = true;
  /// With intraOverlap: the wait for P·V sits behind a branch ptxas cannot
  /// see through (Sm90Ops::wgmmaWaitPinned), so that the transform stays
  /// before it in the SASS too.
  bool pinnedWait = true;
  /// The kv loops are marked for flexjit-unswitch-invariant-reports with
  /// the consumers' warpgroup vote (kUnswitchReportsAttr).
  bool unswitchReports = true;
  /// Q·Kᵀ gets one more k-step of 16 (bf16): Q's side ones in its first
  /// three columns, K's side written by the producer per kv row (the
  /// kernel's Sm90Hooks::kvTerm, split into three bf16 parts), so S comes
  /// out with the term added. Needs warp specialization, bf16, blockN <= 128
  /// and at most 3 stages (the slab of Q and the K slots share one
  /// swizzled [128 x 64] tile, 32 bytes a row each).
  bool kvTerms = false;
  int producerRegisters = 40;
  int consumerRegisters = 232;

  int blockM() const { return 64 * consumers; }
  int threads() const { return 128 * (consumers + (warpSpecialized ? 1 : 0)); }
  /// Bytes of dynamic shared memory: Sm90SharedLayout's, and 1 KB to align
  /// the start to 1024 bytes.
  unsigned sharedBytes() const;
  /// An error naming what this loop does not support, or "".
  std::string unsupported() const;
};

/// The dynamic shared memory a CTA may take on sm_90 (227 KB).
constexpr unsigned kSm90SharedLimitBytes = 227 * 1024;

/// Byte offsets in the dynamic shared memory (from its start rounded up to
/// 1024 bytes): Q [blockM x D], the K ring, the V ring (tiles of 16-bit
/// elements, multiples of 1024 bytes), with kvTerms the terms tile, the mbarriers (Q's, the K ring's
/// full and empty ones, the V ring's), one i32 tag per K slot.
struct Sm90SharedLayout {
  explicit Sm90SharedLayout(const Sm90MainloopConfig &c);
  int qBytes, kBytes, vBytes; ///< one tile of each
  /// With kvTerms: the terms tile [kTermRows x 64] (16 KB) after the V ring.
  int termsBytes;
  int kBase, vBase, termsBase, barriers, kRing, vRing, tags, end;
  static constexpr int kTermRows = 128;
};

} // namespace flexjit
