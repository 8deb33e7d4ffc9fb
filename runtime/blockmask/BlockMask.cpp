// BlockMask construction from block kinds and from kv lists; the shape rules.
#include "flexjit/BlockMask.hpp"
#include "support/ThreadPool.hpp"

#include <algorithm>

namespace flexjit {

namespace {
bool powerOfTwoInRange(int v) { return v >= 16 && v <= 256 && (v & (v - 1)) == 0; }
constexpr int64_t kInt32Max = 2147483647;
constexpr uint64_t kMaxMaskBytes = uint64_t(64) << 30;

std::string idx(std::initializer_list<int64_t> is) {
  std::string s;
  for (int64_t i : is)
    s += "[" + std::to_string(i) + "]";
  return s;
}
} // namespace

Status BlockMaskShape::validate() const {
  if (!powerOfTwoInRange(qBlock) || !powerOfTwoInRange(kvBlock))
    return Error{ErrorKind::InvalidArgument,
                 "block mask: block sizes must be powers of two from 16 to 256, got (" +
                     std::to_string(qBlock) + ", " + std::to_string(kvBlock) + ")"};
  struct {
    const char *name;
    int64_t v;
  } dims[] = {{"B", B}, {"H", H}, {"Q_LEN", qLen}, {"KV_LEN", kvLen}};
  for (auto &d : dims)
    if (d.v < 1 || d.v > kInt32Max)
      return Error{ErrorKind::InvalidArgument, std::string("block mask: ") + d.name +
                                                   " must be in 1.." + std::to_string(kInt32Max) +
                                                   ", got " + std::to_string(d.v)};
  // Overflow-free size check: every factor is below 2^31.
  long double bytes = (long double)B * H *
                      (16.0L * numQBlocks() * numKvBlocks() +
                       8.0L * (numQBlocks() + numKvBlocks()));
  if (bytes > (long double)kMaxMaskBytes)
    return Error{ErrorKind::InvalidArgument,
                 "block mask: B=" + std::to_string(B) + " H=" + std::to_string(H) +
                     " Q_LEN=" + std::to_string(qLen) + " KV_LEN=" + std::to_string(kvLen) +
                     " with blocks (" + std::to_string(qBlock) + ", " + std::to_string(kvBlock) +
                     ") would take more than 64 GiB"};
  return Status::success();
}

size_t BlockMask::bytesFor(const BlockMaskShape &s) {
  size_t nQ = size_t(s.numQBlocks()), nKV = size_t(s.numKvBlocks());
  return size_t(s.B) * size_t(s.H) * (16 * nQ * nKV + 8 * (nQ + nKV));
}

const std::array<const char *, 8> &BlockMask::fieldNames() {
  static const std::array<const char *, 8> names = {
      "kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
      "q_num_blocks",  "q_indices",  "full_q_num_blocks",  "full_q_indices"};
  return names;
}

const std::vector<int32_t> *BlockMask::field(const std::string &name) const {
  const std::vector<int32_t> *fields[] = {&kvNum_, &kvIdx_, &fullKvNum_, &fullKvIdx_,
                                          &qNum_,  &qIdx_,  &fullQNum_,  &fullQIdx_};
  for (size_t i = 0; i < 8; ++i)
    if (name == fieldNames()[i])
      return fields[i];
  return nullptr;
}

bool BlockMask::operator==(const BlockMask &o) const {
  return shape_.B == o.shape_.B && shape_.H == o.shape_.H &&
         shape_.qLen == o.shape_.qLen && shape_.kvLen == o.shape_.kvLen &&
         shape_.qBlock == o.shape_.qBlock && shape_.kvBlock == o.shape_.kvBlock &&
         kvNum_ == o.kvNum_ && kvIdx_ == o.kvIdx_ && fullKvNum_ == o.fullKvNum_ &&
         fullKvIdx_ == o.fullKvIdx_ && qNum_ == o.qNum_ && qIdx_ == o.qIdx_ &&
         fullQNum_ == o.fullQNum_ && fullQIdx_ == o.fullQIdx_;
}

namespace {
/// One ordered row: the `want` entries of `kinds` (stride apart) ascending,
/// then every other index ascending. Returns the count.
int32_t orderRow(const uint8_t *kinds, int64_t n, int64_t stride, uint8_t want,
                 int32_t *out) {
  int32_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (kinds[i * stride] == want)
      out[count++] = int32_t(i);
  int32_t pos = count;
  for (int64_t i = 0; i < n; ++i)
    if (kinds[i * stride] != want)
      out[pos++] = int32_t(i);
  return count;
}
} // namespace

Result<BlockMask> BlockMask::build(const BlockMaskShape &s,
                                   const std::vector<uint8_t> &kinds,
                                   unsigned threads) {
  BlockMask m;
  m.shape_ = s;
  int64_t nQ = m.nQ_ = s.numQBlocks(), nKV = m.nKV_ = s.numKvBlocks();
  size_t BH = size_t(s.B * s.H);
  m.kvNum_.assign(BH * nQ, 0);
  m.fullKvNum_.assign(BH * nQ, 0);
  m.kvIdx_.assign(BH * nQ * nKV, 0);
  m.fullKvIdx_.assign(BH * nQ * nKV, 0);
  m.qNum_.assign(BH * nKV, 0);
  m.fullQNum_.assign(BH * nKV, 0);
  m.qIdx_.assign(BH * nKV * nQ, 0);
  m.fullQIdx_.assign(BH * nKV * nQ, 0);
  // Rows of both orientations are independent: (b,h,q) rows then (b,h,kv).
  int64_t rowsQ = int64_t(BH) * nQ, rowsKV = int64_t(BH) * nKV;
  // Threads only pay off for big masks (a row costs ~nKV steps).
  if (int64_t(BH) * nQ * nKV < (int64_t(1) << 15))
    threads = 1;
  rt::parallelFor(rowsQ + rowsKV, threads, [&](int64_t r) {
    if (r < rowsQ) {
      const uint8_t *row = kinds.data() + r * nKV;
      m.kvNum_[r] = orderRow(row, nKV, 1, uint8_t(BlockKind::Partial),
                             m.kvIdx_.data() + r * nKV);
      m.fullKvNum_[r] = orderRow(row, nKV, 1, uint8_t(BlockKind::Full),
                                 m.fullKvIdx_.data() + r * nKV);
    } else {
      int64_t c = r - rowsQ, bh = c / nKV, kv = c % nKV;
      const uint8_t *col = kinds.data() + bh * nQ * nKV + kv;
      m.qNum_[c] = orderRow(col, nQ, nKV, uint8_t(BlockKind::Partial),
                            m.qIdx_.data() + c * nQ);
      m.fullQNum_[c] = orderRow(col, nQ, nKV, uint8_t(BlockKind::Full),
                                m.fullQIdx_.data() + c * nQ);
    }
  });
  return m;
}

namespace {
/// Checks a dense kinds array against the shape and the tail rule.
Status checkKinds(const BlockMaskShape &s, const std::vector<uint8_t> &kinds) {
  int64_t nQ = s.numQBlocks(), nKV = s.numKvBlocks();
  size_t want = size_t(s.B * s.H * nQ * nKV);
  if (kinds.size() != want)
    return Error{ErrorKind::InvalidArgument,
                 "block mask: block kinds have " + std::to_string(kinds.size()) +
                     " elements, expected B*H*nQ*nKV = " + std::to_string(want)};
  bool qTail = s.qLen % s.qBlock != 0, kvTail = s.kvLen % s.kvBlock != 0;
  for (int64_t b = 0, i = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t q = 0; q < nQ; ++q)
        for (int64_t kv = 0; kv < nKV; ++kv, ++i) {
          uint8_t k = kinds[size_t(i)];
          if (k > 2)
            return Error{ErrorKind::InvalidArgument,
                         "block mask: block kind " + std::to_string(int(k)) + " at " +
                             idx({b, h, q, kv}) + " is not 0 (empty), 1 (partial) or 2 (full)"};
          if (k == 2 && ((qTail && q == nQ - 1) || (kvTail && kv == nKV - 1)))
            return Error{ErrorKind::InvalidArgument,
                         "block mask: block " + idx({b, h, q, kv}) +
                             " is marked full but reaches past Q_LEN=" + std::to_string(s.qLen) +
                             " or KV_LEN=" + std::to_string(s.kvLen) +
                             "; a tail block is never full"};
        }
  return Status::success();
}
} // namespace

Result<BlockMask> BlockMask::fromBlockKinds(const BlockMaskShape &shape,
                                            const std::vector<uint8_t> &kinds) {
  if (Status st = shape.validate(); !st)
    return st.error();
  if (Status st = checkKinds(shape, kinds); !st)
    return st.error();
  return build(shape, kinds, 0);
}

Result<BlockMask> BlockMask::fromClassifier(
    const BlockMaskShape &shape,
    const std::function<BlockKind(int64_t, int64_t, int64_t, int64_t)> &classify) {
  if (Status st = shape.validate(); !st)
    return st.error();
  int64_t nQ = shape.numQBlocks(), nKV = shape.numKvBlocks();
  std::vector<uint8_t> kinds(size_t(shape.B * shape.H * nQ * nKV));
  size_t i = 0;
  for (int64_t b = 0; b < shape.B; ++b)
    for (int64_t h = 0; h < shape.H; ++h)
      for (int64_t q = 0; q < nQ; ++q)
        for (int64_t kv = 0; kv < nKV; ++kv)
          kinds[i++] = uint8_t(classify(b, h, q, kv));
  if (Status st = checkKinds(shape, kinds); !st)
    return st.error();
  return build(shape, kinds, 0);
}

Result<BlockMask> BlockMask::fromKvBlocks(const BlockMaskShape &shape,
                                          const std::vector<int32_t> &kvNum,
                                          const std::vector<int32_t> &kvIdx,
                                          const std::vector<int32_t> &fullNum,
                                          const std::vector<int32_t> &fullIdx) {
  if (Status st = shape.validate(); !st)
    return st.error();
  int64_t nQ = shape.numQBlocks(), nKV = shape.numKvBlocks();
  size_t rows = size_t(shape.B * shape.H * nQ);
  bool haveFull = !fullNum.empty() || !fullIdx.empty();
  auto sizeCheck = [&](const char *name, size_t got, size_t want) -> Status {
    if (got != want)
      return Error{ErrorKind::InvalidArgument,
                   std::string("from_kv_blocks: ") + name + " has " + std::to_string(got) +
                       " elements, expected " + std::to_string(want) +
                       " for B=" + std::to_string(shape.B) + " H=" + std::to_string(shape.H) +
                       " nQ=" + std::to_string(nQ) + " nKV=" + std::to_string(nKV)};
    return Status::success();
  };
  if (Status st = sizeCheck("kv_num_blocks", kvNum.size(), rows); !st)
    return st.error();
  if (Status st = sizeCheck("kv_indices", kvIdx.size(), rows * nKV); !st)
    return st.error();
  if (haveFull) {
    if (Status st = sizeCheck("full_kv_num_blocks", fullNum.size(), rows); !st)
      return st.error();
    if (Status st = sizeCheck("full_kv_indices", fullIdx.size(), rows * nKV); !st)
      return st.error();
  }
  std::vector<uint8_t> kinds(rows * nKV, uint8_t(BlockKind::Empty));
  auto mark = [&](const char *numName, const char *idxName,
                  const std::vector<int32_t> &num, const std::vector<int32_t> &ind,
                  BlockKind kind) -> Status {
    for (size_t r = 0; r < rows; ++r) {
      int64_t b = int64_t(r) / (shape.H * nQ), h = (int64_t(r) / nQ) % shape.H,
              q = int64_t(r) % nQ;
      int32_t count = num[r];
      if (count < 0 || count > nKV)
        return Error{ErrorKind::InvalidArgument,
                     std::string("from_kv_blocks: ") + numName + idx({b, h, q}) + " = " +
                         std::to_string(count) + " is outside 0.." + std::to_string(nKV)};
      for (int32_t j = 0; j < count; ++j) {
        int32_t kv = ind[r * nKV + j];
        if (kv < 0 || kv >= nKV)
          return Error{ErrorKind::InvalidArgument,
                       std::string("from_kv_blocks: ") + idxName + idx({b, h, q, j}) + " = " +
                           std::to_string(kv) + " is out of range [0, " + std::to_string(nKV) +
                           ")"};
        if (j > 0 && kv <= ind[r * nKV + j - 1])
          return Error{ErrorKind::InvalidArgument,
                       std::string("from_kv_blocks: ") + idxName + idx({b, h, q}) +
                           " must list its first " + std::to_string(count) +
                           " blocks in strictly ascending order; entry " + std::to_string(j) +
                           " is " + std::to_string(kv) + " after " +
                           std::to_string(ind[r * nKV + j - 1])};
        uint8_t &k = kinds[r * nKV + size_t(kv)];
        if (k != uint8_t(BlockKind::Empty))
          return Error{ErrorKind::InvalidArgument, "from_kv_blocks: block " + idx({b, h, q, kv}) +
                                                       " is listed as both partial and full"};
        k = uint8_t(kind);
      }
    }
    return Status::success();
  };
  if (Status st = mark("kv_num_blocks", "kv_indices", kvNum, kvIdx, BlockKind::Partial); !st)
    return st.error();
  if (haveFull)
    if (Status st = mark("full_kv_num_blocks", "full_kv_indices", fullNum, fullIdx,
                         BlockKind::Full);
        !st)
      return st.error();
  if (Status st = checkKinds(shape, kinds); !st)
    return st.error();
  return build(shape, kinds, 0);
}

std::vector<uint8_t> BlockMask::toBlockKinds() const {
  std::vector<uint8_t> kinds(kvIdx_.size(), uint8_t(BlockKind::Empty));
  size_t rows = kvNum_.size();
  for (size_t r = 0; r < rows; ++r) {
    for (int32_t j = 0; j < kvNum_[r]; ++j)
      kinds[r * nKV_ + kvIdx_[r * nKV_ + j]] = uint8_t(BlockKind::Partial);
    for (int32_t j = 0; j < fullKvNum_[r]; ++j)
      kinds[r * nKV_ + fullKvIdx_[r * nKV_ + j]] = uint8_t(BlockKind::Full);
  }
  return kinds;
}

std::vector<uint8_t> BlockMask::toDense() const {
  std::vector<uint8_t> d = toBlockKinds();
  for (uint8_t &v : d)
    v = v != 0;
  return d;
}

double BlockMask::sparsity() const {
  int64_t computed = 0;
  for (int32_t v : kvNum_)
    computed += v;
  for (int32_t v : fullKvNum_)
    computed += v;
  return sparsityFor(shape_, computed);
}

double BlockMask::sparsityFor(const BlockMaskShape &shape, int64_t computedBlocks) {
  double numel = double(shape.B) * double(shape.H) * double(shape.qLen) * double(shape.kvLen);
  double computedSize = double(computedBlocks) * shape.qBlock * shape.kvBlock;
  return 100 * (1 - computedSize / numel);
}

BlockRowWork BlockRowWork::of(const int32_t *kvNumBlocks, const int32_t *fullKvNumBlocks,
                              size_t rows) {
  BlockRowWork w;
  w.rows = int64_t(rows);
  for (size_t i = 0; i < rows; ++i) {
    // Counts of a malformed mask (negative) count as none.
    int64_t n = std::max<int64_t>(kvNumBlocks[i], 0) + std::max<int64_t>(fullKvNumBlocks[i], 0);
    w.maxBlocks = std::max(w.maxBlocks, n);
    w.totalBlocks += n;
  }
  return w;
}

std::array<size_t, 8> BlockMask::packedOffsets() const {
  const std::vector<int32_t> *fields[] = {&kvNum_, &kvIdx_, &fullKvNum_, &fullKvIdx_,
                                          &qNum_,  &qIdx_,  &fullQNum_,  &fullQIdx_};
  std::array<size_t, 8> off{};
  size_t at = 0;
  for (size_t i = 0; i < 8; ++i) {
    off[i] = at;
    at += fields[i]->size();
  }
  return off;
}

std::vector<int32_t> BlockMask::packed() const {
  std::vector<int32_t> out;
  out.reserve(bytes() / 4);
  for (const auto *f : {&kvNum_, &kvIdx_, &fullKvNum_, &fullKvIdx_, &qNum_, &qIdx_,
                        &fullQNum_, &fullQIdx_})
    out.insert(out.end(), f->begin(), f->end());
  return out;
}

} // namespace flexjit
