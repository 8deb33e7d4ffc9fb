// The CPU reference attention (flexjit/ReferenceAttention.hpp): FlexAttention's
// forward pass element by element, the definition the GPU kernel is tested
// against. See docs/reference.md.
//
// Work is split into tasks of (b, h, a chunk of query rows), run on the
// worker pool. A task converts the K and V rows of its kv head into the
// computation's precision T once (K transposed, so that the dot products of
// one query row with every key vectorize), then per query row: all scores
// q . k * scale, the mask mod and the score mod per position, the row
// maximum, exp and the weighted sum of V rows (two passes over the row's
// scores), out = sum / l and LSE = max + log(l). The mask is evaluated
// first, so that dot products are computed only between the row's first
// and last allowed keys (half the work for causal, a band for windows).
//
// Mods run with a per-task copy of their context whose error slots are the
// task's own, so threads never write shared memory; afterwards the first
// report in task order goes to the caller's error slots (when those are
// still clear), which makes the report independent of scheduling.
#include "flexjit/ReferenceAttention.hpp"
#include "flexjit/Cache.hpp"

#include "flexjit/BlockMask.hpp"

#include "attention/ReferenceSupport.hpp"
#include "support/ThreadPool.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

namespace flexjit {

namespace {

using reference::ErrorSlots;
using reference::mergeReport;
using reference::readRow;
using reference::rowPtr;
using reference::shapeStr;

const char *kTensorNames[] = {"q", "k", "v", "out"};

Error fail(const std::string &what) {
  return Error{ErrorKind::InvalidArgument, "referenceAttention: " + what};
}

Status checkArguments(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                      const TensorRef &out, const ReferenceMods &mods) {
  const TensorRef *all[] = {&q, &k, &v, &out};
  for (int i = 0; i < 4; ++i)
    if (Status s = reference::checkTensor(*all[i], kTensorNames[i], "referenceAttention"); !s)
      return s;
  if (out.dtype != DType::F32 && out.dtype != DType::F64)
    return fail("out must be f32 or f64 (it chooses the precision of the computation), given " +
                std::string(dtypeName(out.dtype)));
  const int64_t B = q.sizes[0], Hq = q.sizes[1], Q = q.sizes[2], D = q.sizes[3];
  const int64_t Hkv = k.sizes[1], KV = k.sizes[2], Dv = v.sizes[3];
  auto mismatch = [&](const std::string &what) {
    return fail(what + " (q " + shapeStr(q) + ", k " + shapeStr(k) + ", v " + shapeStr(v) +
                ", out " + shapeStr(out) + ", as [B, H, S, D])");
  };
  if (k.sizes[0] != B || v.sizes[0] != B || out.sizes[0] != B)
    return mismatch("q, k, v and out must have the same batch size B");
  if (v.sizes[1] != Hkv)
    return mismatch("k and v must have the same number of heads");
  if (v.sizes[2] != KV)
    return mismatch("k and v must have the same sequence length KV_LEN");
  if (k.sizes[3] != D)
    return mismatch("q and k must have the same head dimension D");
  if (Hkv == 0 && Hq != 0)
    return mismatch("k and v have no heads but q has " + std::to_string(Hq));
  if (Hkv != 0 && Hq % Hkv != 0)
    return mismatch("q's heads (" + std::to_string(Hq) + ") must be a multiple of k's and v's (" +
                    std::to_string(Hkv) + ")");
  if (out.sizes[1] != Hq || out.sizes[2] != Q || out.sizes[3] != Dv)
    return mismatch("out must be [B, Hq, Q_LEN, Dv]");
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (B > kI32Max || Hq > kI32Max || Q > kI32Max || KV > kI32Max)
    return mismatch("B, H, Q_LEN and KV_LEN must fit in i32 (the mods' index arguments)");
  if (mods.mask && !mods.maskCtx)
    return fail("a mask mod is given without its context (ReferenceMods::maskCtx is null)");
  if (mods.score && !mods.scoreCtx)
    return fail("a score mod is given without its context (ReferenceMods::scoreCtx is null)");
  return Status::success();
}

template <class T>
Status run(const TensorRef &q, const TensorRef &k, const TensorRef &v, const TensorRef &out,
           void *lsePtr, double scale, const ReferenceMods &mods, unsigned threads) {
  const int64_t B = q.sizes[0], Hq = q.sizes[1], Q = q.sizes[2], D = q.sizes[3];
  const int64_t Hkv = k.sizes[1], KV = k.sizes[2], Dv = v.sizes[3];
  if (B == 0 || Hq == 0 || Q == 0)
    return Status::success();
  const int64_t group = Hq / Hkv;
  const unsigned workers = rt::resolveThreads(threads);

  // Rows per task: about four tasks per thread, 16..128 rows each (a task
  // converts KV_LEN x (D + Dv) elements, worth it over 16 rows or more).
  const int64_t heads = B * Hq;
  const int64_t chunksPerHead = std::max<int64_t>(1, (4 * int64_t(workers) + heads - 1) / heads);
  const int64_t rows = std::clamp<int64_t>((Q + chunksPerHead - 1) / chunksPerHead, 16, 128);
  const int64_t chunks = (Q + rows - 1) / rows;
  const int64_t tasks = heads * chunks;

  std::vector<ErrorSlots> maskErrors(size_t(tasks), ErrorSlots{}),
      scoreErrors(size_t(tasks), ErrorSlots{});
  std::atomic<bool> outOfMemory{false};
  const T scaleT = T(scale);
  const T negInf = -std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  T *lse = static_cast<T *>(lsePtr);
  unsigned char *outBase = reinterpret_cast<unsigned char *>(uintptr_t(out.data));

  auto task = [&](int64_t t) {
    const int64_t chunk = t % chunks, bh = t / chunks;
    const int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
    flexjit_mod_context maskCtx{}, scoreCtx{};
    if (mods.mask) {
      maskCtx = *mods.maskCtx;
      maskCtx.error = maskErrors[size_t(t)].data();
    }
    if (mods.score) {
      scoreCtx = *mods.scoreCtx;
      scoreCtx.error = scoreErrors[size_t(t)].data();
    }
    std::vector<T> kt, vr, qrow, s, o;
    std::vector<uint8_t> allowed;
    try {
      allowed.resize(mods.mask ? size_t(KV) : 0);
      kt.resize(size_t(D * KV));
      vr.resize(size_t(KV * Dv));
      qrow.resize(size_t(D));
      s.resize(size_t(KV));
      o.resize(size_t(Dv));
    } catch (const std::bad_alloc &) {
      outOfMemory = true;
      return;
    }
    // K transposed ([D][KV]) and V ([KV][Dv]) of head hk, in T.
    for (int64_t j = 0; j < KV; ++j) {
      readRow(rowPtr(k, b, hk, j), k.dtype, k.strides[3], D, kt.data() + j, KV);
      readRow(rowPtr(v, b, hk, j), v.dtype, v.strides[3], Dv, vr.data() + j * Dv, 1);
    }
    const int32_t b32 = int32_t(b), h32 = int32_t(h);
    const int64_t q0 = chunk * rows, q1 = std::min(Q, q0 + rows);
    for (int64_t i = q0; i < q1; ++i) {
      const int32_t i32 = int32_t(i);
      readRow(rowPtr(q, b, h, i), q.dtype, q.strides[3], D, qrow.data(), 1);
      // The mask first: dot products only over [lo, hi], the allowed span.
      int64_t lo = 0, hi = KV;
      if (mods.mask) {
        lo = KV;
        hi = 0;
        for (int64_t j = 0; j < KV; ++j) {
          const bool a = mods.mask(b32, h32, i32, int32_t(j), &maskCtx) != 0;
          allowed[size_t(j)] = a;
          if (a) {
            lo = std::min(lo, j);
            hi = j + 1;
          }
        }
      }
      // The dot products, d outermost (vectorizes over kv).
      T *sp = s.data();
      std::fill(sp + lo, sp + std::max(lo, hi), T(0));
      for (int64_t d = 0; d < D; ++d) {
        const T qd = qrow[size_t(d)];
        const T *kd = kt.data() + d * KV;
        for (int64_t j = lo; j < hi; ++j)
          sp[j] += qd * kd[j];
      }
      // Scale, mask, score mod; the row's maximum.
      T mx = negInf;
      bool sawNaN = false;
      for (int64_t j = lo; j < hi; ++j) {
        if (mods.mask && !allowed[size_t(j)]) {
          sp[j] = negInf;
          continue;
        }
        T x = sp[j] * scaleT;
        if (mods.score)
          x = T(mods.score(float(x), b32, h32, i32, int32_t(j), &scoreCtx));
        sp[j] = x;
        if (x > mx)
          mx = x;
        else if (x != x)
          sawNaN = true;
      }
      // exp, the sum l and sum p * v.
      std::fill(o.begin(), o.end(), T(0));
      T l = 0;
      T rowLse;
      if (sawNaN) {
        std::fill(o.begin(), o.end(), nan);
        rowLse = nan;
      } else if (mx == negInf) { // nothing allowed (or every score -inf)
        rowLse = negInf;
      } else {
        for (int64_t j = lo; j < hi; ++j) {
          if (sp[j] == negInf)
            continue;
          const T p = std::exp(sp[j] - mx);
          l += p;
          const T *vj = vr.data() + j * Dv;
          T *op = o.data();
          for (int64_t d = 0; d < Dv; ++d)
            op[d] += p * vj[d];
        }
        for (int64_t d = 0; d < Dv; ++d)
          o[size_t(d)] /= l;
        rowLse = mx + std::log(l);
      }
      // The row of out, and its LSE.
      unsigned char *dst = outBase + (b * out.strides[0] + h * out.strides[1] +
                                      i * out.strides[2]) * int64_t(sizeof(T));
      for (int64_t d = 0; d < Dv; ++d)
        std::memcpy(dst + d * out.strides[3] * int64_t(sizeof(T)), &o[size_t(d)], sizeof(T));
      if (lse)
        lse[(b * Hq + h) * Q + i] = rowLse;
    }
  };
  rt::parallelFor(tasks, unsigned(std::min<int64_t>(workers, tasks)), task);

  if (outOfMemory)
    return Error{ErrorKind::OutOfMemory,
                 "referenceAttention: out of memory for a task's K and V (" +
                     std::to_string(KV) + " x (" + std::to_string(D) + " + " +
                     std::to_string(Dv) + ") elements of " + std::to_string(sizeof(T)) +
                     " bytes)"};
  if (mods.mask)
    mergeReport(maskErrors, mods.maskCtx);
  if (mods.score)
    mergeReport(scoreErrors, mods.scoreCtx);
  return Status::success();
}

} // namespace

Status referenceAttention(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                          const TensorRef &out, void *lse, double scale,
                          const ReferenceMods &mods, unsigned threads) {
  if (Status s = checkArguments(q, k, v, out, mods); !s)
    return s;
  if (Status s = checkThreads(threads, "reference attention"); !s)
    return s;
  if (out.dtype == DType::F64)
    return run<double>(q, k, v, out, lse, scale, mods, threads);
  return run<float>(q, k, v, out, lse, scale, mods, threads);
}

} // namespace flexjit
