// The CPU reference backward (flexjit/ReferenceBackward.hpp): FlexAttention's
// gradients by the textbook formulas, element by element. See
// docs/backward.md.
//
// 1. The forward (referenceAttention) gives out and LSE in the computation's
//    precision T.
// 2. Pass A, tasks of (b, h, a chunk of query rows): per row,
//    delta = rowsum(dO * out) - dLse; per allowed key, the score recomputed
//    exactly as the forward computes it (the same dot product order, so the
//    same f32 value reaches the score mod), P = exp(s' - LSE),
//    dS = P (dO . v - delta), dS_raw = the score mod's derivative at (dS, s)
//    (it also adds the buffers' gradients), dQ += scale dS_raw k.
// 3. Pass B, tasks of (b, kv head, a chunk of keys): the same per position
//    for every query row of the kv head's query heads, dV += P dO and
//    dK += scale dS_raw q; the derivative is called without a gradient
//    context, so that each buffer gradient is added once (in pass A).
//
// Buffer gradients: the derivative adds them in f32 (ModABI.h); each pass-A
// task adds into a private f32 array that is moved into f64 sums after
// every row (or, for buffers too large to sweep per row, after the task),
// so the f32 sums stay short. The f64 sums of the scratch sets are added in
// a fixed order, but which tasks share a set depends on scheduling: the
// result is reproducible to f64 rounding.
//
// Mods run with per-task copies of their contexts whose error slots are the
// task's own; the first report in task order goes to the caller's record
// when the forward left it clear (ReferenceSupport.hpp).
#include "flexjit/ReferenceBackward.hpp"
#include "flexjit/BlockMask.hpp"
#include "flexjit/Cache.hpp"

#include "attention/ReferenceSupport.hpp"
#include "support/ThreadPool.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>

namespace flexjit {

namespace {

using reference::ErrorSlots;
using reference::mergeReport;
using reference::readRow;
using reference::shapeStr;
using reference::writeRow;

constexpr const char *kWho = "referenceAttentionBackward";

Error fail(const std::string &what) {
  return Error{ErrorKind::InvalidArgument, std::string(kWho) + ": " + what};
}
Error noMemory(const std::string &what) {
  return Error{ErrorKind::OutOfMemory, std::string(kWho) + ": out of memory " + what};
}

Status checkArguments(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                      const TensorRef &dOut, const TensorRef &dq, const TensorRef &dk,
                      const TensorRef &dv, const ReferenceBackwardMods &mods) {
  const TensorRef *all[] = {&q, &k, &v, &dOut, &dq, &dk, &dv};
  const char *names[] = {"q", "k", "v", "dOut", "dq", "dk", "dv"};
  for (int i = 0; i < 7; ++i)
    if (Status s = reference::checkTensor(*all[i], names[i], kWho); !s)
      return s;
  if (dq.dtype != DType::F32 && dq.dtype != DType::F64)
    return fail("dq must be f32 or f64 (it chooses the precision of the computation), given " +
                std::string(dtypeName(dq.dtype)));
  if (dk.dtype != dq.dtype || dv.dtype != dq.dtype)
    return fail("dq, dk and dv must have the same dtype (given " +
                std::string(dtypeName(dq.dtype)) + ", " + dtypeName(dk.dtype) + ", " +
                dtypeName(dv.dtype) + ")");
  const int64_t B = q.sizes[0], Hq = q.sizes[1], Q = q.sizes[2], D = q.sizes[3];
  const int64_t Hkv = k.sizes[1], KV = k.sizes[2], Dv = v.sizes[3];
  auto mismatch = [&](const std::string &what) {
    return fail(what + " (q " + shapeStr(q) + ", k " + shapeStr(k) + ", v " + shapeStr(v) +
                ", dOut " + shapeStr(dOut) + ", dq " + shapeStr(dq) + ", dk " + shapeStr(dk) +
                ", dv " + shapeStr(dv) + ", as [B, H, S, D])");
  };
  if (k.sizes[0] != B || v.sizes[0] != B)
    return mismatch("q, k and v must have the same batch size B");
  if (v.sizes[1] != Hkv || v.sizes[2] != KV)
    return mismatch("k and v must have the same heads and sequence length KV_LEN");
  if (k.sizes[3] != D)
    return mismatch("q and k must have the same head dimension D");
  if (Hkv == 0 && Hq != 0)
    return mismatch("k and v have no heads but q has " + std::to_string(Hq));
  if (Hkv != 0 && Hq % Hkv != 0)
    return mismatch("q's heads (" + std::to_string(Hq) + ") must be a multiple of k's and v's (" +
                    std::to_string(Hkv) + ")");
  auto same = [](const TensorRef &t, int64_t b, int64_t h, int64_t s, int64_t d) {
    return t.sizes[0] == b && t.sizes[1] == h && t.sizes[2] == s && t.sizes[3] == d;
  };
  if (!same(dOut, B, Hq, Q, Dv))
    return mismatch("dOut must be [B, Hq, Q_LEN, Dv], as out");
  if (!same(dq, B, Hq, Q, D))
    return mismatch("dq must be [B, Hq, Q_LEN, D], as q");
  if (!same(dk, B, Hkv, KV, D))
    return mismatch("dk must be [B, Hkv, KV_LEN, D], as k");
  if (!same(dv, B, Hkv, KV, Dv))
    return mismatch("dv must be [B, Hkv, KV_LEN, Dv], as v");
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  if (B > kI32Max || Hq > kI32Max || Q > kI32Max || KV > kI32Max)
    return mismatch("B, H, Q_LEN and KV_LEN must fit in i32 (the mods' index arguments)");
  const ReferenceMods &f = mods.forward;
  if (f.mask && !f.maskCtx)
    return fail("a mask mod is given without its context (ReferenceMods::maskCtx is null)");
  if (f.score && !f.scoreCtx)
    return fail("a score mod is given without its context (ReferenceMods::scoreCtx is null)");
  if (f.score && !mods.scoreGrad)
    return fail("a score mod is given without its derivative (ReferenceBackwardMods::scoreGrad "
                "is null; Compiler::jitScoreGrad makes it)");
  if (!f.score && mods.scoreGrad)
    return fail("a score mod's derivative is given without the score mod "
                "(ReferenceMods::score is null)");
  if (!f.score && !mods.bufferGrads.empty())
    return fail("buffer gradients are asked for without a score mod");
  for (size_t i = 0; i < mods.bufferGrads.size(); ++i) {
    const auto &g = mods.bufferGrads[i];
    if (g.data && g.elements < 0)
      return fail("buffer slot " + std::to_string(i) + " has a negative element count (" +
                  std::to_string(g.elements) + ")");
  }
  return Status::success();
}

/// One task's private buffer-gradient arrays: f32 where the derivative adds,
/// f64 where they are summed.
struct GradScratch {
  std::vector<std::vector<float>> work;
  std::vector<std::vector<double>> sums;
  std::vector<float *> pointers; // one per slot, null where not wanted
  flexjit_mod_grad_context gctx{};

  explicit GradScratch(const std::vector<ReferenceBackwardMods::BufferGrad> &grads) {
    for (const auto &g : grads) {
      bool wanted = g.data && g.elements > 0;
      work.emplace_back(wanted ? size_t(g.elements) : 0, 0.0f);
      sums.emplace_back(wanted ? size_t(g.elements) : 0, 0.0);
      pointers.push_back(wanted ? work.back().data() : nullptr);
    }
    gctx.buffer_grads = pointers.data();
  }
  void flush() {
    for (size_t k = 0; k < work.size(); ++k)
      for (size_t e = 0; e < work[k].size(); ++e) {
        sums[k][e] += double(work[k][e]);
        work[k][e] = 0.0f;
      }
  }
};

/// Scratch sets handed to tasks, one per task running at a time.
class ScratchPool {
public:
  explicit ScratchPool(const std::vector<ReferenceBackwardMods::BufferGrad> &grads)
      : grads_(grads) {}
  GradScratch *acquire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) {
      sets_.push_back(std::make_unique<GradScratch>(grads_));
      return sets_.back().get();
    }
    GradScratch *s = free_.back();
    free_.pop_back();
    return s;
  }
  void release(GradScratch *s) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(s);
  }
  /// The sums of every set into the caller's arrays (overwritten).
  void write(const std::vector<ReferenceBackwardMods::BufferGrad> &out) const {
    for (size_t k = 0; k < out.size(); ++k) {
      if (!out[k].data || out[k].elements <= 0)
        continue;
      std::fill(out[k].data, out[k].data + out[k].elements, 0.0);
      for (const auto &set : sets_)
        for (int64_t e = 0; e < out[k].elements; ++e)
          out[k].data[e] += set->sums[k][size_t(e)];
    }
  }

private:
  const std::vector<ReferenceBackwardMods::BufferGrad> &grads_;
  std::mutex mu_;
  std::vector<std::unique_ptr<GradScratch>> sets_;
  std::vector<GradScratch *> free_;
};

/// Tasks of (head, a chunk of `length` rows or keys): about four per
/// thread, 16..128 rows each.
struct TaskSplit {
  int64_t length = 16, chunks = 0, tasks = 0;
};
TaskSplit splitTasks(int64_t heads, int64_t length, unsigned workers) {
  TaskSplit t;
  if (heads <= 0 || length <= 0)
    return t;
  const int64_t perHead = std::max<int64_t>(1, (4 * int64_t(workers) + heads - 1) / heads);
  t.length = std::clamp<int64_t>((length + perHead - 1) / perHead, 16, 128);
  t.chunks = (length + t.length - 1) / t.length;
  t.tasks = heads * t.chunks;
  return t;
}

template <class T> DType dtypeOf() { return sizeof(T) == 8 ? DType::F64 : DType::F32; }

template <class T>
Status run(const TensorRef &q, const TensorRef &k, const TensorRef &v, const TensorRef &dOut,
           const T *dLse, const TensorRef &dq, const TensorRef &dk, const TensorRef &dv,
           double scale, const ReferenceBackwardMods &mods, unsigned threads) {
  const int64_t B = q.sizes[0], Hq = q.sizes[1], Q = q.sizes[2], D = q.sizes[3];
  const int64_t Hkv = k.sizes[1], KV = k.sizes[2], Dv = v.sizes[3];
  const int64_t group = Hkv > 0 ? Hq / Hkv : 0;
  const unsigned workers = rt::resolveThreads(threads);
  const ReferenceMods &fwd = mods.forward;
  const bool wantBufferGrads =
      std::any_of(mods.bufferGrads.begin(), mods.bufferGrads.end(),
                  [](const auto &g) { return g.data && g.elements > 0; });
  for (const auto &g : mods.bufferGrads)
    if (g.data && g.elements > 0)
      std::fill(g.data, g.data + g.elements, 0.0);

  // 1. The forward: out and LSE in T.
  std::vector<T> out, lse, delta;
  try {
    out.resize(size_t(B * Hq * Q * Dv));
    lse.resize(size_t(B * Hq * Q));
    delta.resize(size_t(B * Hq * Q));
  } catch (const std::bad_alloc &) {
    return noMemory("for the recomputed forward (" + std::to_string(B * Hq * Q) +
                " rows of " + std::to_string(Dv) + ")");
  }
  TensorRef outRef = TensorRef::bhsd(uint64_t(uintptr_t(out.data())), dtypeOf<T>(), B, Hq, Q, Dv,
                                     kCpuDevice);
  if (Status st = referenceAttention(q, k, v, outRef, lse.data(), scale, fwd, threads); !st)
    return st;

  const T scaleT = T(scale);
  const T negInf = -std::numeric_limits<T>::infinity();
  std::atomic<bool> outOfMemory{false};
  ScratchPool pool(mods.bufferGrads);
  int64_t gradElements = 0;
  for (const auto &g : mods.bufferGrads)
    if (g.data && g.elements > 0)
      gradElements += g.elements;
  // Per-row moves into f64 cost no more than the row's own work.
  const bool flushEveryRow = gradElements <= KV * (D + Dv);

  // Mod contexts with the task's own error slots.
  auto privateCtx = [](const flexjit_mod_context *ctx, ErrorSlots &slots) {
    flexjit_mod_context c{};
    if (ctx) {
      c = *ctx;
      c.error = slots.data();
    }
    return c;
  };
  // The score at one allowed position, as the forward computes it; the
  // f32 value the score mod got, through `x32`.
  auto scoreAt = [&](T dot, int32_t b, int32_t h, int32_t i, int32_t j,
                     const flexjit_mod_context *ctx, float &x32) -> T {
    T x = dot * scaleT;
    x32 = float(x);
    if (!fwd.score)
      return x;
    return T(fwd.score(x32, b, h, i, j, ctx));
  };
  // One allowed position (b, h, i, j) with q . k = dot: P and dS_raw (the
  // score mod's derivative adds the buffers' gradients when gctx is given).
  // False where the score is -inf: the position contributes nothing.
  auto positionGrad = [&](T dot, int32_t b, int32_t h, int32_t i, int32_t j, T rowLse,
                          T rowDelta, const T *dorow, const T *vj,
                          const flexjit_mod_context *scoreCtx,
                          const flexjit_mod_grad_context *gctx, T &p, T &ds) -> bool {
    float x32;
    const T sp = scoreAt(dot, b, h, i, j, scoreCtx, x32);
    if (sp == negInf)
      return false;
    p = std::exp(sp - rowLse);
    T dp = 0;
    for (int64_t d = 0; d < Dv; ++d)
      dp += dorow[d] * vj[d];
    ds = p * (dp - rowDelta);
    if (mods.scoreGrad)
      ds = T(mods.scoreGrad(float(ds), x32, b, h, i, j, scoreCtx, gctx));
    return true;
  };

  // 2. Pass A: delta and dQ per query row, and the buffer gradients.
  const TaskSplit splitA = splitTasks(B * Hq, Q, workers);
  const int64_t rows = splitA.length, chunks = splitA.chunks, tasksA = splitA.tasks;
  std::vector<ErrorSlots> maskErrorsA(size_t(tasksA), ErrorSlots{}),
      scoreErrorsA(size_t(tasksA), ErrorSlots{});
  auto taskA = [&](int64_t t) {
    const int64_t chunk = t % chunks, bh = t / chunks;
    const int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
    flexjit_mod_context maskCtx = privateCtx(fwd.maskCtx, maskErrorsA[size_t(t)]);
    flexjit_mod_context scoreCtx = privateCtx(fwd.scoreCtx, scoreErrorsA[size_t(t)]);
    std::vector<T> kt, vr, qrow, dorow, s, dqrow;
    std::vector<uint8_t> allowed;
    GradScratch *scratch = nullptr;
    try {
      kt.resize(size_t(D * KV));
      vr.resize(size_t(KV * Dv));
      qrow.resize(size_t(D));
      dorow.resize(size_t(Dv));
      s.resize(size_t(KV));
      dqrow.resize(size_t(D));
      allowed.resize(size_t(KV), 1);
      if (wantBufferGrads)
        scratch = pool.acquire();
    } catch (const std::bad_alloc &) {
      outOfMemory = true;
      return;
    }
    const flexjit_mod_grad_context *gctx = scratch ? &scratch->gctx : nullptr;
    // K transposed ([D][KV]) and V ([KV][Dv]) of head hk, in T.
    for (int64_t j = 0; j < KV; ++j) {
      readRow(reference::rowPtr(k, b, hk, j), k.dtype, k.strides[3], D, kt.data() + j, KV);
      readRow(v, b, hk, j, vr.data() + j * Dv);
    }
    const int32_t b32 = int32_t(b), h32 = int32_t(h);
    const int64_t q0 = chunk * rows, q1 = std::min(Q, q0 + rows);
    for (int64_t i = q0; i < q1; ++i) {
      const int64_t row = (b * Hq + h) * Q + i;
      const T rowLse = lse[size_t(row)];
      std::fill(dqrow.begin(), dqrow.end(), T(0));
      if (rowLse == negInf) { // nothing allowed: no gradient
        writeRow(dq, b, h, i, dqrow.data());
        continue;
      }
      const int32_t i32 = int32_t(i);
      readRow(q, b, h, i, qrow.data());
      readRow(dOut, b, h, i, dorow.data());
      T rowDelta = 0;
      for (int64_t d = 0; d < Dv; ++d)
        rowDelta += dorow[size_t(d)] * out[size_t(row * Dv + d)];
      if (dLse)
        rowDelta -= dLse[size_t(row)];
      delta[size_t(row)] = rowDelta;
      if (fwd.mask)
        for (int64_t j = 0; j < KV; ++j)
          allowed[size_t(j)] = fwd.mask(b32, h32, i32, int32_t(j), &maskCtx) != 0;
      // Dot products in the forward's order (d outermost).
      std::fill(s.begin(), s.end(), T(0));
      for (int64_t d = 0; d < D; ++d) {
        const T qd = qrow[size_t(d)];
        const T *kd = kt.data() + d * KV;
        for (int64_t j = 0; j < KV; ++j)
          s[size_t(j)] += qd * kd[j];
      }
      for (int64_t j = 0; j < KV; ++j) {
        if (!allowed[size_t(j)])
          continue;
        T p, ds;
        if (!positionGrad(s[size_t(j)], b32, h32, i32, int32_t(j), rowLse, rowDelta,
                          dorow.data(), vr.data() + j * Dv, &scoreCtx, gctx, p, ds))
          continue;
        const T coef = ds * scaleT;
        for (int64_t d = 0; d < D; ++d)
          dqrow[size_t(d)] += coef * kt[size_t(d * KV + j)];
      }
      writeRow(dq, b, h, i, dqrow.data());
      if (scratch && flushEveryRow)
        scratch->flush();
    }
    if (scratch) {
      scratch->flush();
      pool.release(scratch);
    }
  };
  if (tasksA > 0)
    rt::parallelFor(tasksA, unsigned(std::min<int64_t>(workers, tasksA)), taskA);
  if (outOfMemory)
    return noMemory("for a task of the dQ pass");

  // 3. Pass B: dK and dV per key, over the query heads of its kv head.
  const TaskSplit splitB = splitTasks(B * Hkv, KV, workers);
  const int64_t keys = splitB.length, kvChunks = splitB.chunks, tasksB = splitB.tasks;
  std::vector<ErrorSlots> maskErrorsB(size_t(tasksB), ErrorSlots{}),
      scoreErrorsB(size_t(tasksB), ErrorSlots{});
  auto taskB = [&](int64_t t) {
    const int64_t chunk = t % kvChunks, bhk = t / kvChunks;
    const int64_t b = bhk / Hkv, hk = bhk % Hkv;
    const int64_t j0 = chunk * keys, j1 = std::min(KV, j0 + keys), n = j1 - j0;
    flexjit_mod_context maskCtx = privateCtx(fwd.maskCtx, maskErrorsB[size_t(t)]);
    flexjit_mod_context scoreCtx = privateCtx(fwd.scoreCtx, scoreErrorsB[size_t(t)]);
    std::vector<T> kc, vc, dkc, dvc, qrow, dorow;
    try {
      kc.resize(size_t(n * D));
      vc.resize(size_t(n * Dv));
      dkc.assign(size_t(n * D), T(0));
      dvc.assign(size_t(n * Dv), T(0));
      qrow.resize(size_t(D));
      dorow.resize(size_t(Dv));
    } catch (const std::bad_alloc &) {
      outOfMemory = true;
      return;
    }
    for (int64_t jj = 0; jj < n; ++jj) {
      readRow(k, b, hk, j0 + jj, kc.data() + jj * D);
      readRow(v, b, hk, j0 + jj, vc.data() + jj * Dv);
    }
    const int32_t b32 = int32_t(b);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int32_t h32 = int32_t(h);
      for (int64_t i = 0; i < Q; ++i) {
        const int64_t row = (b * Hq + h) * Q + i;
        const T rowLse = lse[size_t(row)];
        if (rowLse == negInf)
          continue;
        const int32_t i32 = int32_t(i);
        readRow(q, b, h, i, qrow.data());
        readRow(dOut, b, h, i, dorow.data());
        const T rowDelta = delta[size_t(row)];
        for (int64_t jj = 0; jj < n; ++jj) {
          const int32_t j32 = int32_t(j0 + jj);
          if (fwd.mask && fwd.mask(b32, h32, i32, j32, &maskCtx) == 0)
            continue;
          const T *kj = kc.data() + jj * D;
          T dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qrow[size_t(d)] * kj[d];
          // No gradient context: the buffers' gradients come from pass A.
          T p, ds;
          if (!positionGrad(dot, b32, h32, i32, j32, rowLse, rowDelta, dorow.data(),
                            vc.data() + jj * Dv, &scoreCtx, nullptr, p, ds))
            continue;
          T *dvj = dvc.data() + jj * Dv;
          for (int64_t d = 0; d < Dv; ++d)
            dvj[d] += p * dorow[size_t(d)];
          const T coef = ds * scaleT;
          T *dkj = dkc.data() + jj * D;
          for (int64_t d = 0; d < D; ++d)
            dkj[d] += coef * qrow[size_t(d)];
        }
      }
    }
    for (int64_t jj = 0; jj < n; ++jj) {
      writeRow(dk, b, hk, j0 + jj, dkc.data() + jj * D);
      writeRow(dv, b, hk, j0 + jj, dvc.data() + jj * Dv);
    }
  };
  if (tasksB > 0)
    rt::parallelFor(tasksB, unsigned(std::min<int64_t>(workers, tasksB)), taskB);
  if (outOfMemory)
    return noMemory("for a task of the dK/dV pass");

  pool.write(mods.bufferGrads);
  for (auto [errors, ctx] : {std::pair{&maskErrorsA, fwd.maskCtx},
                             std::pair{&maskErrorsB, fwd.maskCtx},
                             std::pair{&scoreErrorsA, fwd.scoreCtx},
                             std::pair{&scoreErrorsB, fwd.scoreCtx}})
    if (ctx)
      mergeReport(*errors, ctx);
  return Status::success();
}

} // namespace

Status referenceAttentionBackward(const TensorRef &q, const TensorRef &k, const TensorRef &v,
                                  const TensorRef &dOut, const void *dLse, const TensorRef &dq,
                                  const TensorRef &dk, const TensorRef &dv, double scale,
                                  const ReferenceBackwardMods &mods, unsigned threads) {
  if (Status s = checkArguments(q, k, v, dOut, dq, dk, dv, mods); !s)
    return s;
  if (Status s = checkThreads(threads, kWho); !s)
    return s;
  if (dq.dtype == DType::F64)
    return run<double>(q, k, v, dOut, static_cast<const double *>(dLse), dq, dk, dv, scale, mods,
                       threads);
  return run<float>(q, k, v, dOut, static_cast<const float *>(dLse), dq, dk, dv, scale, mods,
                    threads);
}

} // namespace flexjit
