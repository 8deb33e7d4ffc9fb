#include "attnkernel/GpuSupport.h"

#include "flexjit/Frontend.hpp"

#include <fstream>
#include <sstream>

namespace flexjit::gputest {

Compiler &compiler() {
  static std::unique_ptr<Compiler> c = [] {
    auto r = Compiler::create();
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::move(*r) : nullptr;
  }();
  return *c;
}

const FileAST &examples() {
  static std::unique_ptr<FileAST> file = [] {
    std::ifstream in(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    std::stringstream ss;
    ss << in.rdbuf();
    auto f = loadSource("mods.flex", ss.str());
    EXPECT_TRUE(f.ok()) << f.error().message;
    return std::move(*f);
  }();
  return *file;
}

std::string archOf(int device) {
  auto info = cuda::deviceInfo(device);
  return info.ok() && info->ccMajor >= 9 ? "sm_90a" : "sm_80";
}

DeviceContext uploadContext(const cuda::Context &ctx, const flexjit_mod_context &host,
                            const ModInterface &iface) {
  DeviceContext d;
  auto upload = [&](const void *data, size_t bytes) -> uint64_t {
    auto buf = cuda::DeviceBuffer::allocate(ctx, std::max<size_t>(bytes, 8));
    EXPECT_TRUE(buf.ok());
    if (bytes)
      EXPECT_TRUE(buf->copyFromHost(data, bytes).ok());
    uint64_t p = buf->devicePtr();
    d.storage.push_back(std::move(*buf));
    return p;
  };
  uint64_t params = upload(host.params, iface.params.size() * 8);
  std::vector<uint64_t> bufPtrs;
  size_t dimAt = 0;
  for (size_t i = 0; i < iface.buffers.size(); ++i) {
    size_t n = 1;
    for (size_t k = 0; k < iface.buffers[i].dims.size(); ++k)
      n *= size_t(host.buffer_dims[dimAt + k]);
    dimAt += iface.buffers[i].dims.size();
    bufPtrs.push_back(upload(host.buffers[i], n * elementBytes(iface.buffers[i].elemType)));
  }
  uint64_t buffers = upload(bufPtrs.data(), bufPtrs.size() * 8);
  uint64_t dims = upload(host.buffer_dims, dimAt * 8);
  int64_t zero[FLEXJIT_MOD_ERROR_SLOTS] = {0, 0, 0, 0};
  d.errorPtr = upload(zero, sizeof zero);
  uint64_t fields[4] = {params, buffers, dims, d.errorPtr};
  d.ptr = upload(fields, sizeof fields);
  return d;
}

} // namespace flexjit::gputest
