// The checks of an attention backward request (AttentionBackwardCheck.hpp).
#include "api/attention/AttentionBackwardCheck.hpp"

#include <numeric>

namespace flexjit {

namespace {

constexpr const char *kForwardPrefix = "attention: ";
constexpr const char *kPrefix = "attention backward: ";

std::optional<Error> invalid(const std::string &message) {
  return Error{ErrorKind::InvalidArgument, kPrefix + message};
}

std::string shapeText(const std::vector<int64_t> &s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

std::string sizesText(const TensorRef &t) {
  return shapeText({t.sizes[0], t.sizes[1], t.sizes[2], t.sizes[3]});
}

/// f32 [B, Hq, Q_LEN] contiguous at `data`, as a tensor (for the overlap
/// checks).
TensorRef rowsTensor(uint64_t data, const AttentionDims &d, int device) {
  return TensorRef::bhsd(data, DType::F32, d.B, d.Hq, d.qLen, 1, device);
}

} // namespace

Error asBackwardError(const Error &e) {
  std::string m = e.message;
  if (m.rfind(kForwardPrefix, 0) == 0)
    m = kPrefix + m.substr(std::string(kForwardPrefix).size());
  for (size_t at = m.find("options.lse"); at != std::string::npos; at = m.find("options.lse"))
    m.replace(at, 11, "lse");
  return Error{e.kind, m};
}

AttentionRequest forwardPart(const AttentionBackwardRequest &r) {
  AttentionRequest f;
  f.q = r.q;
  f.k = r.k;
  f.v = r.v;
  f.out = r.out;
  f.scoreMod = r.scoreMod;
  f.scoreInputs = r.scoreInputs;
  f.maskMod = r.maskMod;
  f.maskInputs = r.maskInputs;
  f.blockMask = r.blockMask;
  f.options.scale = r.options.scale;
  f.options.lse = r.lse;
  f.options.stream = r.options.stream;
  return f;
}

std::optional<Error> checkAttentionBackwardTensors(const AttentionBackwardRequest &r,
                                                   AttentionDims &dims) {
  if (auto f = checkAttentionTensors(forwardPart(r), AttentionTarget::Gpu, dims))
    return asBackwardError(*f);
  if (r.lse == 0)
    return invalid("lse is not given: the backward needs the forward's log-sum-exp "
                   "(AttentionOptions::lse of the forward call, f32 [B, Hq, Q_LEN])");

  struct Named {
    const char *name;
    const TensorRef *t;
    const TensorRef *like; ///< the tensor whose shape it has
    const char *likeName;
  };
  const Named dOut{"dOut", &r.dOut, &r.out, "out"};
  const Named outs[3] = {{"dq", &r.dq, &r.q, "q"}, {"dk", &r.dk, &r.k, "k"},
                         {"dv", &r.dv, &r.v, "v"}};
  std::vector<Named> all{dOut, outs[0], outs[1], outs[2]};
  for (const Named &n : all) {
    if (auto f = checkTensorAlone(n.name, *n.t))
      return asBackwardError(*f);
    if (n.t->sizes != n.like->sizes)
      return invalid(std::string(n.name) + " has sizes " + sizesText(*n.t) + " but " +
                     n.likeName + " has " + sizesText(*n.like) + " (" + n.name +
                     " is the gradient of " + n.likeName + ": its shape)");
    if (n.t->dtype != r.q.dtype)
      return invalid(std::string(n.name) + " is " + dtypeName(n.t->dtype) + " but q is " +
                     dtypeName(r.q.dtype) + " (every tensor of the call has q's dtype)");
    if (auto f = checkTensorGpuLayout(n.name, *n.t))
      return asBackwardError(*f);
    if (n.t->device != r.q.device)
      return invalid(std::string(n.name) + " is on device " + std::to_string(n.t->device) +
                     " but q is on cuda:" + std::to_string(r.q.device) +
                     " (all tensors must be on one device)");
  }
  if (r.dLse % 4 != 0)
    return invalid("dLse " + std::to_string(r.dLse) +
                   " is not 4-byte aligned (f32 [B, Hq, Q_LEN] contiguous)");

  // What is written must not overlap itself, the other outputs or any
  // input.
  TensorRef lse = rowsTensor(r.lse, dims, r.q.device);
  TensorRef dLse = rowsTensor(r.dLse, dims, r.q.device);
  std::vector<std::pair<const char *, const TensorRef *>> inputs{
      {"q", &r.q}, {"k", &r.k}, {"v", &r.v}, {"out", &r.out}, {"dOut", &r.dOut}, {"lse", &lse}};
  if (r.dLse) {
    if (auto f = checkTensorAlone("dLse", dLse))
      return asBackwardError(*f);
    inputs.push_back({"dLse", &dLse});
  }
  for (size_t i = 0; i < 3; ++i) {
    const Named &w = outs[i];
    if (auto f = checkTensorNoSelfOverlap(w.name, *w.t))
      return asBackwardError(*f);
    for (const auto &[name, t] : inputs)
      if (auto f = checkTensorsApart(w.name, *w.t, name, *t))
        return asBackwardError(*f);
    for (size_t j = 0; j < i; ++j)
      if (auto f = checkTensorsApart(w.name, *w.t, outs[j].name, *outs[j].t))
        return asBackwardError(*f);
  }
  return std::nullopt;
}

std::optional<Error> checkAttentionBackwardMods(const Program &program,
                                                const AttentionBackwardRequest &r,
                                                CheckedMod &score, CheckedMod &mask,
                                                std::vector<CheckedGradBuffer> &grads) {
  if (auto f = checkAttentionMods(program, forwardPart(r), score, mask))
    return asBackwardError(*f);
  if (!r.bufferGrads.empty() && !score.info)
    return invalid("bufferGrads holds '" + r.bufferGrads.begin()->first +
                   "' but no scoreMod is given (only a score mod's f32 buffers have "
                   "gradients)");
  std::vector<TensorRef> placed; // the gradients so far, as f32 [1, 1, 1, n]
  std::vector<std::string> placedNames;
  for (const auto &[name, g] : r.bufferGrads) {
    const std::vector<BufferDecl> &decls = score.info->interface.buffers;
    size_t slot = decls.size();
    std::string names;
    for (size_t i = 0; i < decls.size(); ++i) {
      if (decls[i].name == name)
        slot = i;
      names += (names.empty() ? "" : ", ") + decls[i].name;
    }
    const std::string what = "bufferGrads['" + name + "']";
    if (slot == decls.size())
      return invalid(what + ": score mod '" + r.scoreMod + "' reads no buffer '" + name + "' (" +
                     (names.empty() ? std::string("it reads none") : "it reads " + names) + ")");
    if (decls[slot].elemType != ScalarType::F32)
      return invalid(what + ": buffer '" + name + "' is " + typeName(decls[slot].elemType) +
                     "; only f32 buffers have gradients");
    const std::vector<int64_t> &shape = r.scoreInputs.buffers.at(name).shape; // bound above
    if (g.shape != shape)
      return invalid(what + " has shape " + shapeText(g.shape) + " but buffer '" + name +
                     "' has " + shapeText(shape) + " (the gradient has the buffer's shape)");
    if (g.data == 0)
      return invalid(what + " has no data (a null pointer)");
    if (g.data % 4 != 0)
      return invalid(what + "'s data " + std::to_string(g.data) + " is not 4-byte aligned (f32)");
    if (g.device != r.q.device)
      return invalid(what + " is on device " + std::to_string(g.device) + " but q is on cuda:" +
                     std::to_string(r.q.device) + " (all tensors must be on one device)");
    int64_t count = std::accumulate(shape.begin(), shape.end(), int64_t(1),
                                    [](int64_t a, int64_t b) { return a * b; });
    if (count == 0)
      continue; // an empty buffer: nothing to write
    TensorRef t = TensorRef::bhsd(g.data, DType::F32, 1, 1, 1, count, g.device);
    const std::pair<const char *, const TensorRef *> others[] = {
        {"q", &r.q},       {"k", &r.k},   {"v", &r.v},   {"out", &r.out},
        {"dOut", &r.dOut}, {"dq", &r.dq}, {"dk", &r.dk}, {"dv", &r.dv}};
    for (const auto &[n, o] : others)
      if (auto f = checkTensorsApart(what.c_str(), t, n, *o))
        return asBackwardError(*f);
    for (size_t i = 0; i < placed.size(); ++i)
      if (auto f = checkTensorsApart(what.c_str(), t, placedNames[i].c_str(), placed[i]))
        return asBackwardError(*f);
    placed.push_back(t);
    placedNames.push_back(what);
    grads.push_back(CheckedGradBuffer{slot, g.data, size_t(count) * 4});
  }
  return std::nullopt;
}

} // namespace flexjit
