// The checks of an attention request (api/attention/AttentionCheck.hpp):
// everything that can be checked without the GPU, each failure one message
// naming the tensor, the dimension or the option, and what would be right.
#include "api/attention/AttentionCheck.hpp"

#include <cmath>
#include <limits>

namespace flexjit {

namespace {

const char *kDimNames[4] = {"B", "H", "S", "D"};

std::optional<Error> invalid(const std::string &message) {
  return Error{ErrorKind::InvalidArgument, "attention: " + message};
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
  return std::nullopt;
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

} // namespace flexjit
