#include "support/ModContext.h"

#include <cstring>
#include <limits>
#include <map>

namespace flexjit::testsupport {

Result<std::unique_ptr<AbiContext>> AbiContext::create(const FileAST &file, const ModDecl &mod,
                                                       const ModInputs &inputs) {
  std::unique_ptr<AbiContext> c(new AbiContext());
  c->iface_ = interfaceOf(file, mod);
  for (const ParamDecl &p : c->iface_.params) {
    auto it = inputs.params.find(p.name);
    if (it == inputs.params.end())
      return Error{ErrorKind::InvalidArgument, "no value for param '" + p.name + "'"};
    std::optional<int64_t> slot = abiParamSlot(p.type, it->second);
    if (!slot)
      return Error{ErrorKind::InvalidArgument, "param '" + p.name + "' has the wrong type"};
    c->params_.push_back(*slot);
  }
  for (const BufferDecl &b : c->iface_.buffers) {
    auto it = inputs.buffers.find(b.name);
    if (it == inputs.buffers.end())
      return Error{ErrorKind::InvalidArgument, "no data for buffer '" + b.name + "'"};
    if (it->second.elemType != b.elemType || it->second.shape.size() != b.dims.size())
      return Error{ErrorKind::InvalidArgument,
                   "buffer '" + b.name + "' has the wrong type or rank"};
    c->buffers_.push_back(it->second.data);
    for (int64_t d : it->second.shape)
      c->dims_.push_back(d);
  }
  c->ctx_.params = c->params_.data();
  c->ctx_.buffers = c->buffers_.data();
  c->ctx_.buffer_dims = c->dims_.data();
  c->ctx_.error = c->error_;
  return c;
}

void AbiContext::clearError() {
  for (int64_t &e : error_)
    e = 0;
}

Result<std::optional<OutOfBounds>> AbiContext::report() const {
  if (error_[0] == 0)
    return std::optional<OutOfBounds>();
  int64_t slot = error_[0] - 1;
  if (slot < 0 || static_cast<size_t>(slot) >= iface_.buffers.size())
    return Error{ErrorKind::InvalidArgument, "error record names buffer slot " +
                                                 std::to_string(slot) + " of " +
                                                 std::to_string(iface_.buffers.size())};
  OutOfBounds o;
  o.buffer = iface_.buffers[slot].name;
  o.dim = static_cast<int>(error_[1]);
  o.index = error_[2];
  o.bound = error_[3];
  return std::optional<OutOfBounds>(o);
}

Result<std::optional<OutOfBounds>> AbiContext::localReport() const {
  int64_t code = 0, dim = 0, index = 0;
  flexjit_unpack_local_error(error_[0], &code, &dim, &index);
  if (code == 0)
    return std::optional<OutOfBounds>();
  int64_t slot = code - 1;
  if (slot >= int64_t(iface_.buffers.size()) ||
      dim >= int64_t(iface_.buffers[size_t(slot)].dims.size()))
    return Error{ErrorKind::InvalidArgument, "local error record names buffer slot " +
                                                 std::to_string(slot) + ", dimension " +
                                                 std::to_string(dim)};
  size_t first = 0;
  for (int64_t k = 0; k < slot; ++k)
    first += iface_.buffers[size_t(k)].dims.size();
  OutOfBounds o;
  o.buffer = iface_.buffers[size_t(slot)].name;
  o.dim = int(dim);
  o.index = index;
  o.bound = dims_[first + size_t(dim)];
  return std::optional<OutOfBounds>(o);
}

ModInputs randomInputs(const FileAST &file, std::mt19937_64 &rng,
                       std::vector<std::shared_ptr<std::vector<uint8_t>>> &storage, int64_t maxDim) {
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  auto randomFloat = [&]() -> float {
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f,
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN(), 1e-40f, 3e38f};
    if (pick(8) == 0)
      return special[pick(10)];
    return std::uniform_real_distribution<float>(-8.0f, 8.0f)(rng);
  };
  ModInputs in;
  for (const ParamDecl &p : file.params) {
    switch (p.type) {
    case ScalarType::Bool: in.params[p.name] = Value::ofBool(pick(2)); break;
    case ScalarType::I32: in.params[p.name] = Value::ofI32(static_cast<int32_t>(pick(200)) - 20); break;
    case ScalarType::I64: in.params[p.name] = Value::ofI64(pick(200) - 20); break;
    case ScalarType::F32: in.params[p.name] = Value::ofF32(randomFloat()); break;
    }
  }
  std::map<std::string, int64_t> sizes;
  for (const BufferDecl &b : file.buffers) {
    BufferData data;
    data.elemType = b.elemType;
    int64_t count = 1;
    for (const std::string &d : b.dims) {
      auto it = sizes.find(d);
      if (it == sizes.end())
        it = sizes.emplace(d, 1 + pick(maxDim)).first;
      data.shape.push_back(it->second);
      count *= it->second;
    }
    size_t elem = elementBytes(b.elemType);
    auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(count) * elem);
    for (int64_t k = 0; k < count; ++k) {
      uint8_t *p = bytes->data() + k * elem;
      switch (b.elemType) {
      case ScalarType::Bool: *p = static_cast<uint8_t>(pick(2)); break;
      case ScalarType::I32: {
        // Non-decreasing small ids, like document ids, with a few jumps.
        int32_t v = static_cast<int32_t>(k / (1 + pick(8)) + (pick(16) == 0 ? -3 : 0));
        std::memcpy(p, &v, 4);
        break;
      }
      case ScalarType::I64: {
        int64_t v = pick(10) - 2;
        std::memcpy(p, &v, 8);
        break;
      }
      case ScalarType::F32: {
        float v = randomFloat();
        std::memcpy(p, &v, 4);
        break;
      }
      }
    }
    data.data = bytes->data();
    storage.push_back(bytes);
    in.buffers[b.name] = data;
  }
  return in;
}

} // namespace flexjit::testsupport
