// BlockMask: PyTorch FlexAttention's block-sparse mask, field for field
// (docs/runtime.md, "BlockMask").
//
// For Q_LEN, KV_LEN and block sizes (QB, KVB): nQ = ceil(Q_LEN/QB),
// nKV = ceil(KV_LEN/KVB). Eight int32 arrays, row-major:
//   kv_num_blocks, full_kv_num_blocks  [B,H,nQ]
//   kv_indices, full_kv_indices        [B,H,nQ,nKV]
//   q_num_blocks, full_q_num_blocks    [B,H,nKV]
//   q_indices, full_q_indices          [B,H,nKV,nQ]
// A block is full when every (q,kv) in it is allowed, partial when some are,
// empty otherwise; kv_* lists partial blocks, full_kv_* full ones. Each
// index row holds its `count` listed blocks ascending, then the remaining
// block indices ascending (exactly what PyTorch's argsort-based
// _dense_to_ordered produces, so the arrays compare equal to PyTorch's).
// A tail block (reaching past Q_LEN or KV_LEN) is never full. B or H of 1
// broadcasts over batches or heads.
#pragma once

#include "flexjit/Error.hpp"
#include "flexjit/ModABI.h"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace flexjit {

enum class BlockKind : uint8_t { Empty = 0, Partial = 1, Full = 2 };

/// The most threads CPU work (block-mask creation, the reference attention)
/// may be asked for; more is an Error. A request is a cap: at most the
/// machine's hardware threads run.
constexpr unsigned kMaxThreads = 1024;
/// An Error saying `what` asked for more than kMaxThreads.
Status checkThreads(unsigned threads, const std::string &what);

/// What a static analysis (or a few probes) knows about a mask over a whole
/// block: nothing, no element allowed, every element allowed, or some
/// allowed and some not (the block is partial; Mixed is what probing a few
/// points of a block can prove).
enum class BlockVerdict : uint8_t { Unknown = 0, SurelyFalse = 1, SurelyTrue = 2, Mixed = 3 };

struct BlockMaskShape {
  int64_t B = 1, H = 1;
  int64_t qLen = 0, kvLen = 0;
  int qBlock = 128, kvBlock = 128;

  int64_t numQBlocks() const { return qBlock > 0 ? (qLen + qBlock - 1) / qBlock : 0; }
  int64_t numKvBlocks() const { return kvBlock > 0 ? (kvLen + kvBlock - 1) / kvBlock : 0; }
  /// Block sizes powers of two in 16..256; B, H, lengths in 1..2^31-1; the
  /// mask no larger than 64 GiB.
  Status validate() const;
};

/// The work of a block mask's rows (query blocks of each b, h): the kv
/// blocks each computes, partial and full. A kernel's schedule depends on
/// whether the rows do about the same work (docs/attention-hopper.md,
/// "Persistent scheduler").
struct BlockRowWork {
  int64_t rows = 0; ///< B·H·nQ; 0: not known
  int64_t maxBlocks = 0;
  int64_t totalBlocks = 0;

  bool known() const { return rows > 0; }
  /// Known, and no row computes more than 5/4 of the mean (sliding windows
  /// and equal documents do; causal masks, whose longest row is twice the
  /// mean, do not).
  bool even() const { return known() && 4 * maxBlocks * rows <= 5 * totalBlocks; }
  /// From kv_num_blocks and full_kv_num_blocks ([B,H,nQ], `rows` each).
  static BlockRowWork of(const int32_t *kvNumBlocks, const int32_t *fullKvNumBlocks,
                         size_t rows);
};

/// One block's elements: [qBegin, qEnd) x [kvBegin, kvEnd), clipped to the
/// sequence lengths; `tail` when the block reaches past either length.
struct BlockRange {
  int32_t b, h;
  int32_t qBlockIndex, kvBlockIndex;
  int32_t qBegin, qEnd, kvBegin, kvEnd;
  bool tail;
};

struct BlockMaskCreateOptions {
  /// Worker threads; 0: all cores (std::thread::hardware_concurrency), more
  /// than there are cores: all cores; more than kMaxThreads: an Error.
  unsigned threads = 0;
  /// Decides whole blocks without evaluating elements (the interval
  /// analysis of docs/analysis.md plugs in here). Must be sound: SurelyTrue only if every
  /// element in the range is allowed, SurelyFalse only if none is, Mixed
  /// only if at least one is and one is not. May be called from several
  /// threads at once.
  std::function<BlockVerdict(const BlockRange &)> preclassify;
};

struct BlockMaskCreateStats {
  int64_t blocks = 0;            ///< B·H·nQ·nKV
  int64_t elementwiseBlocks = 0; ///< blocks evaluated element by element
  int64_t surelyTrueBlocks = 0;  ///< decided by preclassify
  int64_t surelyFalseBlocks = 0;
  int64_t mixedBlocks = 0;
  /// For compiled mask mods: the first out-of-bounds buffer read reported
  /// (the ABI's error slots; [0] == 0 when none), first in block order.
  std::array<int64_t, FLEXJIT_MOD_ERROR_SLOTS> modError{};
};

class BlockMask {
public:
  /// From each block's kind, a dense [B,H,nQ,nKV] array of BlockKind values.
  static Result<BlockMask> fromBlockKinds(const BlockMaskShape &shape,
                                          const std::vector<uint8_t> &kinds);

  /// From a per-block classification callable (b, h, q block, kv block).
  static Result<BlockMask>
  fromClassifier(const BlockMaskShape &shape,
                 const std::function<BlockKind(int64_t, int64_t, int64_t, int64_t)> &classify);

  /// PyTorch's BlockMask.from_kv_blocks: the q_* lists are derived. The
  /// first count entries of each row must be distinct in-range block
  /// indices in ascending order (later entries are ignored and rewritten in
  /// PyTorch's layout); a block may not be both partial and full; a tail
  /// block may not be full. Empty full lists mean "no full blocks".
  static Result<BlockMask> fromKvBlocks(const BlockMaskShape &shape,
                                        const std::vector<int32_t> &kvNumBlocks,
                                        const std::vector<int32_t> &kvIndices,
                                        const std::vector<int32_t> &fullKvNumBlocks = {},
                                        const std::vector<int32_t> &fullKvIndices = {});

  /// On the CPU, from an element predicate allowed(b, h, q, kv), on all
  /// cores: threads take (b, h, q-block) rows. Blocks the preclassifier
  /// decides are not evaluated element-wise.
  using ElementFn = bool (*)(void *user, int32_t b, int32_t h, int32_t q, int32_t kv);
  static Result<BlockMask> fromPredicate(const BlockMaskShape &shape, ElementFn fn,
                                         void *user,
                                         const BlockMaskCreateOptions &options = {},
                                         BlockMaskCreateStats *stats = nullptr);

  template <class F>
  static Result<BlockMask> fromPredicate(const BlockMaskShape &shape, const F &f,
                                         const BlockMaskCreateOptions &options = {},
                                         BlockMaskCreateStats *stats = nullptr) {
    return fromPredicate(
        shape,
        [](void *u, int32_t b, int32_t h, int32_t q, int32_t kv) -> bool {
          return (*static_cast<const F *>(u))(b, h, q, kv);
        },
        const_cast<void *>(static_cast<const void *>(&f)), options, stats);
  }

  /// From a compiled mask mod (ModABI.h). Each thread evaluates with its own
  /// copy of `ctx` (own error slots); the first out-of-bounds report goes
  /// to stats->modError.
  using MaskModFn = int8_t (*)(int32_t, int32_t, int32_t, int32_t,
                               const flexjit_mod_context *);
  static Result<BlockMask> fromMaskMod(const BlockMaskShape &shape, MaskModFn mod,
                                       const flexjit_mod_context &ctx,
                                       const BlockMaskCreateOptions &options = {},
                                       BlockMaskCreateStats *stats = nullptr);

  BlockMask() = default;

  const BlockMaskShape &shape() const { return shape_; }
  int64_t numQBlocks() const { return nQ_; }
  int64_t numKvBlocks() const { return nKV_; }

  const std::vector<int32_t> &kvNumBlocks() const { return kvNum_; }
  const std::vector<int32_t> &kvIndices() const { return kvIdx_; }
  const std::vector<int32_t> &fullKvNumBlocks() const { return fullKvNum_; }
  const std::vector<int32_t> &fullKvIndices() const { return fullKvIdx_; }
  const std::vector<int32_t> &qNumBlocks() const { return qNum_; }
  const std::vector<int32_t> &qIndices() const { return qIdx_; }
  const std::vector<int32_t> &fullQNumBlocks() const { return fullQNum_; }
  const std::vector<int32_t> &fullQIndices() const { return fullQIdx_; }

  /// One of the eight arrays by its PyTorch name ("kv_indices"), or nullptr.
  const std::vector<int32_t> *field(const std::string &name) const;
  /// The eight names in PyTorch's order.
  static const std::array<const char *, 8> &fieldNames();

  /// Block kinds, dense [B,H,nQ,nKV] of 0 (empty), 1 (partial), 2 (full).
  std::vector<uint8_t> toBlockKinds() const;
  /// PyTorch's to_dense(): [B,H,nQ,nKV] of 1 where a block is partial or
  /// full, 0 where empty.
  std::vector<uint8_t> toDense() const;

  /// PyTorch's sparsity(): 100·(1 − computed blocks·QB·KVB / (B·H·Q_LEN·KV_LEN)),
  /// computed = partial + full blocks. With lengths that are multiples of
  /// the block sizes this is the percentage of empty blocks; with tail
  /// blocks it is what PyTorch prints (and may be below 0).
  double sparsity() const;
  /// The same from the shape and the number of computed (partial + full)
  /// blocks: the sum of kv_num_blocks and full_kv_num_blocks.
  static double sparsityFor(const BlockMaskShape &shape, int64_t computedBlocks);
  /// The kv blocks its rows compute.
  BlockRowWork rowWork() const {
    return BlockRowWork::of(kvNum_.data(), fullKvNum_.data(), kvNum_.size());
  }

  /// PyTorch's to_string(grid_size, limit): one picture per (b, h), each
  /// cell summarising a rows x cols section of the dense block matrix as
  /// "██" (all computed), "░░" (some), "  " (none).
  std::string toString(int gridRows = 20, int gridCols = 20, int limit = 4) const;
  /// PyTorch's str(block_mask): "BlockMask(shape=(B, H, Q, KV), sparsity=xx.xx%, \n...\n)".
  std::string str() const;

  /// B·H·(16·nQ·nKV + 8·(nQ + nKV)): the eight int32 arrays.
  size_t bytes() const { return bytesFor(shape_); }
  static size_t bytesFor(const BlockMaskShape &shape);

  /// One line of compact JSON: an object with the eight arrays (nested [B][H][...], full rows),
  /// "block_size": [QB, KVB], "seq_lengths": [Q, KV], "bytes", "sparsity",
  /// then `extra` members (name, JSON text) in order.
  std::string toJSON(const std::vector<std::pair<std::string, std::string>> &extra = {}) const;

  /// The eight arrays back to back in fieldNames() order: the layout of the
  /// device copy (bytes() long).
  std::vector<int32_t> packed() const;
  /// Where each array starts in packed(), in int32 elements.
  std::array<size_t, 8> packedOffsets() const;

  bool operator==(const BlockMask &o) const;

private:
  static Result<BlockMask> build(const BlockMaskShape &shape,
                                 const std::vector<uint8_t> &kinds, unsigned threads);

  BlockMaskShape shape_;
  int64_t nQ_ = 0, nKV_ = 0;
  std::vector<int32_t> kvNum_, kvIdx_, fullKvNum_, fullKvIdx_;
  std::vector<int32_t> qNum_, qIdx_, fullQNum_, fullQIdx_;
};

} // namespace flexjit
