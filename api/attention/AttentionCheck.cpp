// The checks of an attention request (api/attention/AttentionCheck.hpp):
// everything that can be checked without the GPU, each failure one message
// naming the tensor, the dimension or the option, and what would be right.
#include "api/attention/AttentionCheck.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace flexjit {

namespace {

const char *kDimNames[4] = {"B", "H", "S", "D"};

std::optional<Error> invalid(const std::string &message) {
  return Error{ErrorKind::InvalidArgument, "attention: " + message};
}

std::string decimal(__int128 v) {
  std::string s;
  do {
    s.insert(s.begin(), char('0' + int(v % 10)));
    v /= 10;
  } while (v);
  return s;
}

std::string hex(uint64_t v) {
  static const char *digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + s;
}

const char *kLayout = " (q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D], v [B, Hkv, KV_LEN, Dv], "
                      "out [B, Hq, Q_LEN, Dv])";

struct Named {
  const char *name;
  const TensorRef *t;
};

/// One tensor alone: a known dtype, data, sizes, strides >= 0.
std::optional<Error> checkOne(const Named &n) {
  const TensorRef &t = *n.t;
  if (uint8_t(t.dtype) > uint8_t(DType::F64))
    return invalid(std::string(n.name) + " has an unknown dtype (" +
                   std::to_string(int(t.dtype)) + ")");
  if (t.data == 0)
    return invalid(std::string(n.name) + " has no data (a null pointer)");
  for (size_t d = 0; d < 4; ++d) {
    if (t.sizes[d] < 1)
      return invalid(std::string(n.name) + "'s size " + kDimNames[d] + " (dimension " +
                     std::to_string(d) + ") is " + std::to_string(t.sizes[d]) +
                     "; every size must be at least 1");
    if (t.sizes[d] > std::numeric_limits<int32_t>::max())
      return invalid(std::string(n.name) + "'s size " + kDimNames[d] + " (dimension " +
                     std::to_string(d) + ") is " + std::to_string(t.sizes[d]) +
                     "; sizes must be below 2^31");
    if (t.strides[d] < 0)
      return invalid(std::string(n.name) + "'s stride of " + kDimNames[d] + " (dimension " +
                     std::to_string(d) + ") is " + std::to_string(t.strides[d]) +
                     "; strides must not be negative");
  }
  // The kernel (and the reference) address elements with 64-bit byte
  // offsets from `data`: the farthest element's must not overflow.
  __int128 last = 0;
  for (size_t d = 0; d < 4; ++d)
    last += __int128(t.sizes[d] - 1) * t.strides[d];
  const __int128 bytes = (last + 1) * __int128(dtypeBytes(t.dtype));
  if (bytes > std::numeric_limits<int64_t>::max() ||
      __int128(t.data) + bytes > __int128(std::numeric_limits<uint64_t>::max()))
    return invalid(std::string(n.name) + "'s sizes and strides reach " + decimal(bytes) +
                   " bytes past its data " + hex(t.data) +
                   ", beyond 64-bit offsets (the sum over dimensions of (size - 1) * stride, "
                   "plus one, times the element size)");
  return std::nullopt;
}

/// The bytes a tensor's elements span from its data (checkOne made sure it
/// fits).
uint64_t spanBytes(const TensorRef &t) {
  uint64_t last = 0;
  for (size_t d = 0; d < 4; ++d)
    last += uint64_t(t.sizes[d] - 1) * uint64_t(t.strides[d]);
  return (last + 1) * dtypeBytes(t.dtype);
}

/// out's elements must be distinct: a dimension of size > 1 with stride 0,
/// or a stride within the span of the dimensions with smaller strides,
/// would write several elements to one place.
std::optional<Error> checkNoSelfOverlap(const Named &n) {
  const TensorRef &t = *n.t;
  std::vector<size_t> dims;
  for (size_t d = 0; d < 4; ++d)
    if (t.sizes[d] > 1)
      dims.push_back(d);
  std::stable_sort(dims.begin(), dims.end(),
                   [&](size_t a, size_t b) { return t.strides[a] < t.strides[b]; });
  int64_t span = 0; // the farthest element of the dimensions so far
  for (size_t d : dims) {
    if (t.strides[d] <= span || t.strides[d] == 0)
      return invalid(std::string(n.name) + "'s stride of " + kDimNames[d] + " (dimension " +
                     std::to_string(d) + ") is " + std::to_string(t.strides[d]) +
                     (t.strides[d] == 0
                          ? ""
                          : " elements, within the " + std::to_string(span + 1) +
                                " elements the dimensions of smaller strides span") +
                     ": its size is " + std::to_string(t.sizes[d]) + ", so " + n.name +
                     "'s elements overlap and would be written on top of each other");
    span += (t.sizes[d] - 1) * t.strides[d];
  }
  return std::nullopt;
}

/// Whether two layouts with the same strides share an element, `delta`
/// elements apart (b's data minus a's): some k with k_d in [-(a.sizes[d] -
/// 1), b.sizes[d] - 1] and sum k_d * stride_d == delta. A search over the
/// dimensions by falling stride; nullopt when it would take too long.
std::optional<bool> shareElement(const TensorRef &a, const TensorRef &b, int64_t delta) {
  struct Dim {
    int64_t stride, lo, hi;
  };
  std::vector<Dim> dims;
  for (size_t d = 0; d < 4; ++d)
    if (a.strides[d] > 0 && (a.sizes[d] > 1 || b.sizes[d] > 1))
      dims.push_back({a.strides[d], -(a.sizes[d] - 1), b.sizes[d] - 1});
  std::sort(dims.begin(), dims.end(), [](const Dim &x, const Dim &y) { return x.stride > y.stride; });
  std::vector<__int128> reach(dims.size() + 1, 0); // what the dimensions after i can add
  for (size_t i = dims.size(); i-- > 0;)
    reach[i] = reach[i + 1] + __int128(std::max(-dims[i].lo, dims[i].hi)) * dims[i].stride;
  int budget = 4096;
  std::function<std::optional<bool>(size_t, __int128)> search =
      [&](size_t i, __int128 target) -> std::optional<bool> {
    if (--budget < 0)
      return std::nullopt;
    if (i == dims.size())
      return target == 0;
    const Dim &dim = dims[i];
    const __int128 r = reach[i + 1], s = dim.stride;
    // k * s within [target - r, target + r].
    __int128 kLo = target - r >= 0 ? (target - r + s - 1) / s : -((r - target) / s);
    __int128 kHi = target + r >= 0 ? (target + r) / s : -((-(target + r) + s - 1) / s);
    kLo = std::max<__int128>(kLo, dim.lo);
    kHi = std::min<__int128>(kHi, dim.hi);
    for (__int128 k = kLo; k <= kHi; ++k) {
      auto found = search(i + 1, target - k * s);
      if (!found || *found)
        return found;
    }
    return false;
  };
  return search(0, delta);
}

/// A written tensor (`w`: out, or lse given as a contiguous tensor) and
/// another of the call must not share memory: byte ranges apart, or the
/// same strides and dtype and no element in common.
std::optional<Error> checkApart(const Named &w, const Named &o) {
  const TensorRef &a = *w.t, &b = *o.t;
  const uint64_t aEnd = a.data + spanBytes(a), bEnd = b.data + spanBytes(b);
  if (aEnd <= b.data || bEnd <= a.data)
    return std::nullopt;
  const size_t elem = dtypeBytes(a.dtype);
  if (a.dtype == b.dtype && a.strides == b.strides) {
    const int64_t bytes = int64_t(b.data - a.data); // |.| < both spans: fits
    if (bytes % int64_t(elem) == 0) {
      auto shared = shareElement(a, b, bytes / int64_t(elem));
      if (shared && !*shared)
        return std::nullopt; // interleaved views of one buffer
    }
  }
  return invalid(std::string(w.name) + " and " + o.name + " overlap in memory (" + w.name +
                 " spans " + hex(a.data) + ".." + hex(aEnd) + ", " + o.name + " spans " +
                 hex(b.data) + ".." + hex(bEnd) + "): what the kernel writes to " + w.name +
                 " must not be read or written through " + o.name);
}

/// `a`'s size `da` must equal `b`'s size `db`; `what` names it ("B", "Q_LEN").
std::optional<Error> same(const Named &a, size_t da, const Named &b, size_t db, const char *what) {
  if (a.t->sizes[da] == b.t->sizes[db])
    return std::nullopt;
  return invalid(std::string(a.name) + "'s " + what + " (dimension " + std::to_string(da) +
                 ") is " + std::to_string(a.t->sizes[da]) + " but " + b.name + "'s is " +
                 std::to_string(b.t->sizes[db]) + kLayout);
}

/// The layout the GPU kernel's 16-byte loads need.
std::optional<Error> checkGpuLayout(const Named &n) {
  const TensorRef &t = *n.t;
  if (t.strides[3] != 1)
    return invalid(std::string(n.name) + "'s last dimension (D) is not contiguous: its stride "
                                         "is " +
                   std::to_string(t.strides[3]) + ", the kernel needs 1");
  if (t.data % 16 != 0)
    return invalid(std::string(n.name) + "'s data " + hex(t.data) +
                   " is not 16-byte aligned (the kernel reads and writes rows with 16-byte "
                   "vector accesses)");
  for (size_t d = 0; d < 3; ++d)
    if (t.strides[d] % 8 != 0)
      return invalid(std::string(n.name) + "'s stride of " + kDimNames[d] + " (dimension " +
                     std::to_string(d) + ") is " + std::to_string(t.strides[d]) +
                     " elements, not a multiple of 8: every row must start 16-byte aligned "
                     "for the kernel's 16-byte vector accesses");
  return std::nullopt;
}

std::string deviceName(int d) {
  return d == kCpuDevice ? "the host" : d < 0 ? "no device" : "cuda:" + std::to_string(d);
}

} // namespace

std::optional<Error> checkTensorAlone(const char *name, const TensorRef &t) {
  return checkOne(Named{name, &t});
}
std::optional<Error> checkTensorGpuLayout(const char *name, const TensorRef &t) {
  return checkGpuLayout(Named{name, &t});
}
std::optional<Error> checkTensorNoSelfOverlap(const char *name, const TensorRef &t) {
  return checkNoSelfOverlap(Named{name, &t});
}
std::optional<Error> checkTensorsApart(const char *written, const TensorRef &w, const char *other,
                                       const TensorRef &o) {
  return checkApart(Named{written, &w}, Named{other, &o});
}

std::optional<Error> checkAttentionTensors(const AttentionRequest &r, AttentionTarget target,
                                           AttentionDims &dims) {
  const bool gpu = target == AttentionTarget::Gpu;
  const Named q{"q", &r.q}, k{"k", &r.k}, v{"v", &r.v}, out{"out", &r.out};
  const Named all[4] = {q, k, v, out};
  for (const Named &n : all)
    if (auto f = checkOne(n))
      return f;

  // Shapes: q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D], v [B, Hkv, KV_LEN, Dv],
  // out [B, Hq, Q_LEN, Dv].
  for (const Named &n : {k, v, out})
    if (auto f = same(n, 0, q, 0, "batch size B"))
      return f;
  if (auto f = same(out, 1, q, 1, "head count Hq"))
    return f;
  if (auto f = same(v, 1, k, 1, "head count Hkv"))
    return f;
  if (auto f = same(out, 2, q, 2, "length Q_LEN"))
    return f;
  if (auto f = same(v, 2, k, 2, "length KV_LEN"))
    return f;
  if (auto f = same(k, 3, q, 3, "head dimension D"))
    return f;
  if (auto f = same(out, 3, v, 3, "head dimension Dv"))
    return f;
  dims.B = r.q.sizes[0];
  dims.Hq = r.q.sizes[1];
  dims.Hkv = r.k.sizes[1];
  dims.qLen = r.q.sizes[2];
  dims.kvLen = r.k.sizes[2];
  dims.D = r.q.sizes[3];
  dims.Dv = r.v.sizes[3];
  if (dims.Hq % dims.Hkv != 0)
    return invalid("q has Hq = " + std::to_string(dims.Hq) +
                   " heads, not a multiple of the Hkv = " + std::to_string(dims.Hkv) +
                   " heads of k and v (grouped-query attention needs Hq % Hkv == 0)");

  // Dtypes.
  if (gpu) {
    for (const Named &n : {k, v, out})
      if (n.t->dtype != r.q.dtype)
        return invalid(std::string(n.name) + " is " + dtypeName(n.t->dtype) + " but q is " +
                       dtypeName(r.q.dtype) + " (q, k, v and out must have one dtype)");
    if (r.q.dtype != DType::BF16 && r.q.dtype != DType::F16)
      return invalid(std::string("the GPU kernel takes bf16 or f16 tensors, not ") +
                     dtypeName(r.q.dtype) +
                     " (Session::referenceAttention computes in f32 or f64 on the host)");
  } else if (r.out.dtype != DType::F32 && r.out.dtype != DType::F64) {
    return invalid(std::string("the reference writes out as f32 or f64 (out's dtype chooses "
                               "the precision of the computation), not ") +
                   dtypeName(r.out.dtype));
  }

  // Layout.
  if (gpu)
    for (const Named &n : all)
      if (auto f = checkGpuLayout(n))
        return f;

  // What is written must not overlap itself or anything else of the call.
  if (auto f = checkNoSelfOverlap(out))
    return f;
  for (const Named &n : {q, k, v})
    if (auto f = checkApart(out, n))
      return f;

  // Options.
  if (r.options.scale && !std::isfinite(*r.options.scale))
    return invalid("options.scale is " + std::to_string(*r.options.scale) +
                   "; it must be a finite number");
  if (r.options.lse) {
    size_t align = gpu ? sizeof(float) : dtypeBytes(r.out.dtype);
    if (r.options.lse % align != 0)
      return invalid("options.lse " + hex(r.options.lse) + " is not " + std::to_string(align) +
                     "-byte aligned (" + (gpu ? "f32" : dtypeName(r.out.dtype)) +
                     " [B, Hq, Q_LEN])");
    // lse as a contiguous [B, Hq, Q_LEN, 1] tensor of its dtype.
    TensorRef lse = TensorRef::bhsd(r.options.lse, gpu ? DType::F32 : r.out.dtype, dims.B,
                                    dims.Hq, dims.qLen, 1, r.out.device);
    const Named l{"options.lse", &lse};
    if (auto f = checkOne(l))
      return f;
    for (const Named &n : all)
      if (auto f = checkApart(l, n))
        return f;
  }
  if (!gpu && r.options.stream)
    return invalid("options.stream is set, but the reference runs on the host");
  if (!gpu && r.blockMask)
    return invalid("a block mask is given, but the reference evaluates the mask mod at every "
                   "position and takes none");

  // Devices (whether the device exists is the caller's check, last).
  if (gpu) {
    for (const Named &n : all)
      if (n.t->device < 0)
        return invalid(std::string(n.name) + " is on " + deviceName(n.t->device) +
                       " (device " + std::to_string(n.t->device) +
                       "); the GPU kernel needs CUDA tensors (Session::referenceAttention "
                       "takes host tensors)");
    for (const Named &n : {k, v, out})
      if (n.t->device != r.q.device)
        return invalid(std::string(n.name) + " is on " + deviceName(n.t->device) +
                       " but q is on " + deviceName(r.q.device) +
                       " (all tensors must be on one device)");
    // The grid is (ceil(Q_LEN / blockM), Hq, B): y and z are at most 65535.
    if (dims.Hq > 65535 || dims.B > 65535)
      return invalid("B = " + std::to_string(dims.B) + " and Hq = " + std::to_string(dims.Hq) +
                     " must each be at most 65535 (they are the launch grid's y and z)");
  } else {
    for (const Named &n : all)
      if (n.t->device != kCpuDevice)
        return invalid(std::string(n.name) + " is on " + deviceName(n.t->device) +
                       "; the reference takes host tensors (device " +
                       std::to_string(kCpuDevice) + ")");
  }
  return std::nullopt;
}

std::optional<Error> checkAttentionMods(const Program &program, const AttentionRequest &r,
                                        CheckedMod &score, CheckedMod &mask) {
  struct Slot {
    const char *field;   // "scoreMod"
    const char *inputs;  // "scoreInputs"
    ModKind kind;
    const std::string &name;
    const ModInputs &given;
    CheckedMod &out;
  };
  Slot slots[2] = {{"scoreMod", "scoreInputs", ModKind::Score, r.scoreMod, r.scoreInputs, score},
                   {"maskMod", "maskInputs", ModKind::Mask, r.maskMod, r.maskInputs, mask}};
  for (Slot &s : slots) {
    if (s.name.empty()) {
      if (!s.given.params.empty() || !s.given.buffers.empty())
        return invalid(std::string(s.inputs) + " holds inputs but no " + s.field +
                       " is given");
      continue;
    }
    auto info = program.mod(s.name);
    if (!info)
      return info.error().prefixed("attention: ");
    if ((*info)->kind != s.kind)
      return invalid(std::string(s.field) + " '" + s.name + "' is a " +
                     spelling((*info)->kind) + " mod; " + s.field + " takes a " +
                     spelling(s.kind) + " mod");
    auto bound = BoundInputs::bind(**info, s.given);
    if (!bound)
      return invalid(std::string(spelling(s.kind)) + " mod '" + s.name +
                     "': " + bound.error().message);
    s.out.info = *info;
    s.out.bound = std::move(*bound);
  }
  return std::nullopt;
}

std::string describeModErrors(const CheckedMod &score, const int64_t *scoreError,
                              const CheckedMod &mask, const int64_t *maskError) {
  if (mask.bound && maskError && maskError[0] != 0)
    return "attention: " + mask.bound->describeOutOfBounds(maskError);
  if (score.bound && scoreError && scoreError[0] != 0)
    return "attention: " + score.bound->describeOutOfBounds(scoreError);
  return "";
}

Status blockMaskNeedsHostBuffers(const CheckedMod &mask) {
  if (const std::string *name = mask.bound->deviceBuffer())
    return Error{ErrorKind::InvalidArgument,
                 "mask mod '" + mask.info->name + "' reads buffer '" + *name +
                     "' in device memory, and no block mask is given: flexjit makes a call's "
                     "block mask from host buffers (its cache key covers their contents), so "
                     "give the call one (Session::blockMask from host buffers, or PyTorch's)"};
  return Status::success();
}

PackedModInputs packedInputsOf(const CheckedMod &m) {
  PackedModInputs p;
  p.modName = m.info->name;
  const ModInterface &iface = m.info->interface;
  const flexjit_mod_context &ctx = m.bound->context();
  p.params.assign(ctx.params, ctx.params + iface.params.size());
  size_t dimAt = 0;
  for (size_t i = 0; i < iface.buffers.size(); ++i) {
    const BufferDecl &b = iface.buffers[i];
    size_t count = 1;
    for (size_t d = 0; d < b.dims.size(); ++d) {
      p.bufferDims.push_back(ctx.buffer_dims[dimAt + d]);
      count *= size_t(ctx.buffer_dims[dimAt + d]);
    }
    dimAt += b.dims.size();
    p.buffers.push_back(ctx.buffers[i]);
    p.bufferBytes.push_back(count * elementBytes(b.elemType));
    p.bufferOnDevice.push_back(m.bound->bufferOnDevice(i) ? 1 : 0);
    p.bufferNames.push_back(b.name);
  }
  return p;
}

namespace {
bool readsArg(const Expr &e, int index) {
  if (e.kind == ExprKind::Arg && e.index == index)
    return true;
  for (const ExprPtr &op : e.operands)
    if (op && readsArg(*op, index))
      return true;
  return false;
}
} // namespace

bool modReadsArg(const FileAST &file, const std::string &mod, int index) {
  // A mod call's arguments are operands of the call, so walking the body
  // sees them; the callee's body refers to its own arguments only. An
  // argument passed to a callee that ignores it still counts (it is
  // evaluated, and may read a buffer): the answer errs towards "reads".
  const ModDecl *decl = file.findMod(mod);
  return !decl || !decl->body || readsArg(*decl->body, index);
}

AttentionDevice lookUpAttentionDevice(int device, const std::string &what) {
  const std::string on = what + " on cuda:" + std::to_string(device) + ": ";
  AttentionDevice d;
  if (Status st = cuda::initDriver(); !st) {
    d.failure = st.error().prefixed(on);
  } else if (auto count = cuda::deviceCount(); !count) {
    d.failure = count.error().prefixed(on);
  } else if (device >= *count) {
    d.failure = Error{ErrorKind::InvalidArgument,
                      what + ": the tensors are on cuda:" + std::to_string(device) + " but " +
                          std::to_string(*count) + " CUDA device(s) are present"};
  } else if (auto t = gpuTarget(device); !t) {
    d.failure = t.error().prefixed(on);
  } else {
    d.target = std::move(*t);
  }
  return d;
}

std::optional<std::string> checkGivenMask(const BlockMaskHandle &h, const AttentionDims &dims,
                                          int device, const MaskTiling &t) {
  std::string on = "cuda:" + std::to_string(device);
  if (!h.device)
    return "the block mask is in host memory; the kernel needs it on " + on +
           " (make it with BlockMaskRequest::device = Device::cuda(" + std::to_string(device) +
           "))";
  if (h.where.ordinal != device)
    return "the block mask is on " + h.where.str() + " but the tensors are on " + on;
  const BlockMaskShape &s = h.device->shape;
  if (s.qLen != dims.qLen || s.kvLen != dims.kvLen)
    return "the block mask is for Q_LEN = " + std::to_string(s.qLen) +
           ", KV_LEN = " + std::to_string(s.kvLen) + " but q and k have Q_LEN = " +
           std::to_string(dims.qLen) + ", KV_LEN = " + std::to_string(dims.kvLen) +
           " (make the mask with qLen = " + std::to_string(dims.qLen) +
           ", kvLen = " + std::to_string(dims.kvLen) + ")";
  if (s.B != 1 && s.B != dims.B)
    return "the block mask has B = " + std::to_string(s.B) + "; it must be 1 (broadcast) or " +
           "the tensors' B = " + std::to_string(dims.B);
  if (s.H != 1 && s.H != dims.Hq)
    return "the block mask has H = " + std::to_string(s.H) + "; it must be 1 (broadcast) or " +
           "q's Hq = " + std::to_string(dims.Hq);
  if (s.qBlock % t.blockM != 0)
    return "the block mask's q block size " + std::to_string(s.qBlock) +
           " is not a multiple of the kernel's blockM = " + std::to_string(t.blockM) +
           " (make the mask with qBlock a multiple of " + std::to_string(t.blockM) +
           (s.qBlock >= t.smallestM
                ? ", or set " + t.optionM + " = " + std::to_string(t.smallestM)
                : std::string()) +
           ")";
  if (s.kvBlock % t.blockN != 0)
    return "the block mask's kv block size " + std::to_string(s.kvBlock) +
           " is not a multiple of the kernel's blockN = " + std::to_string(t.blockN) +
           " (make the mask with kvBlock a multiple of " + std::to_string(t.blockN) +
           (s.kvBlock >= 32 ? ", or set " + t.optionN + " to a divisor of it (" + t.choicesN + ")"
                            : std::string()) +
           ")";
  return std::nullopt;
}

BlockMaskRequest attentionMaskRequest(const Program &program, const std::string &maskMod,
                                      const ModInputs &inputs, const AttentionDims &dims,
                                      int device) {
  BlockMaskRequest br;
  br.mod = maskMod;
  br.shape.B = modReadsArg(program.file(), maskMod, 0) ? dims.B : 1;
  br.shape.H = modReadsArg(program.file(), maskMod, 1) ? dims.Hq : 1;
  br.shape.qLen = dims.qLen;
  br.shape.kvLen = dims.kvLen;
  br.shape.qBlock = br.shape.kvBlock = 128;
  br.inputs = inputs;
  br.device = Device::cuda(device);
  return br;
}

} // namespace flexjit
