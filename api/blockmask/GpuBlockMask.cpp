// GPU block-mask creation, the entry points: inputs by name to ABI slots,
// the kernels through the cache and the disk cache (compiled here on a
// miss), and the block mask through the cache.
#include "api/blockmask/GpuBlockMask.hpp"

#include "api/PtxDiskKey.hpp"
#include "runtime/cuda/DeviceBinary.hpp"
#include "flexjit/Compiler.hpp"
#include "flexjit/Fingerprint.hpp"
#include "kernels/blockmask/BlockMaskTemplate.h"

#include <cstring>
#include <map>
#include <mutex>

namespace flexjit {

namespace {

/// The PTX target for a device: its own arch when flexjit supports it, else
/// the newest supported one it can run (the driver JIT-compiles PTX forward).
std::string ptxArchFor(const cuda::DeviceInfo &info) {
  std::string own = info.arch();
  std::string best = "sm_80";
  int cc = info.ccMajor * 10 + info.ccMinor;
  for (const std::string &a : supportedArchs()) {
    if (a == own)
      return a;
    if (a.back() == 'a') // arch-specific features run only on that arch
      continue;
    if (std::stoi(a.substr(3)) <= cc)
      best = a;
  }
  return best;
}

struct DeviceState {
  cuda::Context ctx;
  std::string arch;
  size_t sharedMemPerBlockOptin = 0;
  std::string name;
  int smCount = 0;
};

/// Each device's retained primary context and PTX arch, looked up once.
Result<const DeviceState *> deviceState(int device) {
  static std::mutex mu;
  static std::map<int, DeviceState> states;
  std::lock_guard<std::mutex> lock(mu);
  auto it = states.find(device);
  if (it != states.end())
    return &it->second;
  auto ctx = cuda::Context::retainPrimary(device);
  if (!ctx)
    return ctx.error();
  auto info = cuda::deviceInfo(device);
  if (!info)
    return info.error();
  DeviceState s{std::move(*ctx), ptxArchFor(*info), info->sharedMemPerBlockOptin, info->name,
                info->smCount};
  return &states.emplace(device, std::move(s)).first->second;
}

/// Bump when the kernels' code changes: it is part of the disk cache's key.
constexpr const char *kKernelsVersion = "blockmask-kernels/2";

} // namespace

Result<GpuTarget> gpuTarget(int device) {
  auto state = deviceState(device);
  if (!state)
    return state.error();
  return GpuTarget{(*state)->ctx, (*state)->arch, (*state)->sharedMemPerBlockOptin,
                   (*state)->name, (*state)->smCount};
}

Result<PackedModInputs> packModInputs(const FileAST &file, const ModDecl &mod,
                                      const ModInputs &inputs) {
  PackedModInputs p;
  p.modName = mod.name;
  ModInterface iface = interfaceOf(file, mod);
  for (const ParamDecl &d : iface.params) {
    auto it = inputs.params.find(d.name);
    if (it == inputs.params.end())
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': no value for param '" + d.name + "'"};
    std::optional<int64_t> slot = abiParamSlot(d.type, it->second);
    if (!slot)
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': param '" + d.name + "' is " + typeName(d.type) +
                       ", the value given is " + typeName(it->second.type)};
    p.params.push_back(*slot);
    p.keyParams.push_back(paramValue(d.name, typeName(d.type), *slot));
  }
  for (const BufferDecl &d : iface.buffers) {
    auto it = inputs.buffers.find(d.name);
    if (it == inputs.buffers.end())
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': no data for buffer '" + d.name + "'"};
    const BufferData &data = it->second;
    if (data.elemType != d.elemType)
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': buffer '" + d.name + "' holds " +
                       typeName(d.elemType) + ", the data given is " + typeName(data.elemType)};
    if (data.shape.size() != d.dims.size())
      return Error{ErrorKind::InvalidArgument, "mask '" + mod.name + "': buffer '" + d.name +
                                                   "' has rank " + std::to_string(d.dims.size()) +
                                                   ", the data given has rank " +
                                                   std::to_string(data.shape.size())};
    if (data.onDevice)
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': buffer '" + d.name +
                       "' is given in device memory, but a block mask reads its buffers in host "
                       "memory (only attention calls read buffers on the device)"};
    size_t count = 1;
    for (int64_t s : data.shape) {
      if (s < 0)
        return Error{ErrorKind::InvalidArgument,
                     "mask '" + mod.name + "': buffer '" + d.name + "' has a size below zero"};
      count *= size_t(s);
    }
    size_t bytes = count * elementBytes(d.elemType);
    if (bytes && !data.data)
      return Error{ErrorKind::InvalidArgument,
                   "mask '" + mod.name + "': buffer '" + d.name + "' has no data"};
    p.buffers.push_back(data.data);
    p.bufferBytes.push_back(bytes);
    p.bufferNames.push_back(d.name);
    for (int64_t s : data.shape)
      p.bufferDims.push_back(s);
    p.keyBuffers.push_back(bufferValue(d.name, typeName(d.elemType), data.shape, data.data, bytes));
  }
  return p;
}

Result<PreparedMask> PreparedMask::prepare(const FileAST &file, const std::string &modName,
                                           const ModInputs &inputs) {
  const ModDecl *mod = file.findMod(modName);
  if (!mod)
    return Error{ErrorKind::NotFound, file.fileName + ": error: no mod named '" + modName + "'"};
  if (mod->kind != ModKind::Mask)
    return Error{ErrorKind::InvalidArgument,
                 file.fileName + ": error: '" + modName +
                     "' is a score mod; block masks are made from mask mods"};
  auto packed = packModInputs(file, *mod, inputs);
  if (!packed)
    return packed.error();
  PreparedMask m;
  m.file = &file;
  m.modName = modName;
  m.fingerprint = flexjit::fingerprint(file, *mod);
  m.inputs = std::move(*packed);
  return m;
}

BlockMaskKey PreparedMask::key(const BlockMaskShape &shape, int device) const {
  return blockMaskKey(fingerprint, shape, inputs.keyParams, inputs.keyBuffers, device);
}

Result<std::shared_ptr<const BlockMaskKernelsModule>>
blockMaskKernelsFor(const PreparedMask &mask, const cuda::Context &ctx, Cache &cache) {
  auto state = deviceState(ctx.device());
  if (!state)
    return state.error();
  const std::string &arch = (*state)->arch;
  KernelKey kk;
  kk.modFingerprints = {mask.fingerprint};
  kk.kernel = "blockmask";
  kk.options = kKernelsVersion;
  kk.arch = arch;
  kk.device = ctx.device();
  auto r = cache.getOrCreateAs<const BlockMaskKernelsModule>(
      CacheKey::kernel(kk), [&]() -> Result<CacheValue> {
        auto loaded = cuda::loadModuleCached(
            ctx, DiskCache::global(), ptxDiskKey(kk),
            [&]() -> Result<std::string> {
              auto compiler = processCompiler();
              if (!compiler)
                return compiler.error();
              auto k = (*compiler)->blockMaskKernels(*mask.file, mask.modName, arch);
              if (!k)
                return k.error();
              return std::move(k->ptx);
            },
            "block-mask kernels of '" + mask.modName + "'");
        if (!loaded)
          return loaded.error();
        cuda::Module *module = &loaded->module;
        BlockMaskKernelsModule k;
        auto classify = module->function(blockMaskClassifyKernelName());
        if (!classify)
          return classify.error();
        auto lists = module->function(blockMaskListsKernelName());
        if (!lists)
          return lists.error();
        k.classify = *classify;
        k.lists = *lists;
        k.module = std::move(*module);
        k.imageBytes = loaded->bytes;
        return makeCacheValue<BlockMaskKernelsModule>(std::move(k), loaded->bytes);
      });
  if (!r)
    return r.error();
  return std::shared_ptr<const BlockMaskKernelsModule>(*r);
}

Result<std::shared_ptr<const cuda::DeviceBlockMask>>
createBlockMaskOnDevice(const PreparedMask &mask, const BlockMaskShape &shape, int device,
                        const cuda::Stream *stream, GpuBlockMaskStats *stats, Cache *cache,
                        Cache *kernelCache) {
  if (!mask.file)
    return Error{ErrorKind::InvalidArgument, "block mask on device: the mask was not prepared"};
  Cache &c = cache ? *cache : globalCache();
  if (shape.validate())
    if (Status st = c.admits(CacheKind::BlockMask, BlockMask::bytesFor(shape)); !st)
      return st.error().prefixed("block mask on device: ");
  bool built = false;
  int64_t elementwise = 0;
  auto r = c.getOrCreateAs<const cuda::DeviceBlockMask>(
      CacheKey::blockMask(mask.key(shape, device)), [&]() -> Result<CacheValue> {
        built = true;
        if (Status st = shape.validate(); !st)
          return st.error().prefixed("block mask on device: ");
        auto state = deviceState(device);
        if (!state)
          return state.error();
        auto kernels = blockMaskKernelsFor(mask, (*state)->ctx, kernelCache ? *kernelCache : c);
        if (!kernels)
          return kernels.error();
        auto d = runBlockMaskKernels(**kernels, shape, mask.inputs, (*state)->ctx, stream,
                                     &elementwise);
        if (!d) {
          Error e = d.error();
          if (e.kind != ErrorKind::OutOfBounds) // an out-of-bounds report names the mod
            e.message += " (mask '" + mask.modName + "')";
          return e;
        }
        size_t bytes = d->bytes();
        return makeCacheValue<cuda::DeviceBlockMask>(std::move(*d), bytes);
      });
  if (!r)
    return r.error();
  if (stats) {
    stats->cacheHit = !built;
    stats->blocks = built ? shape.B * shape.H * shape.numQBlocks() * shape.numKvBlocks() : 0;
    stats->elementwiseBlocks = elementwise;
  }
  return std::shared_ptr<const cuda::DeviceBlockMask>(*r);
}

Result<std::shared_ptr<const cuda::DeviceBlockMask>>
createBlockMaskOnDevice(const FileAST &file, const std::string &modName,
                        const BlockMaskShape &shape, const ModInputs &inputs, int device,
                        const cuda::Stream *stream, GpuBlockMaskStats *stats, Cache *cache) {
  auto m = PreparedMask::prepare(file, modName, inputs);
  if (!m)
    return m.error();
  return createBlockMaskOnDevice(*m, shape, device, stream, stats, cache);
}

} // namespace flexjit
