// Block masks created on the GPU by generated kernels (docs/blockmask.md): the
// mask mod and its interval classifier inlined into the classify kernel, the
// kv and the transposed q lists built by the lists kernel
// (kernels/blockmask/BlockMaskKernel.h), the result written straight into one device
// allocation laid out as uploadBlockMask's, and kept in the one cache.
//
//   auto bm = flexjit::createBlockMaskOnDevice(file, "document", shape, inputs,
//                                              /*device=*/0);
//   // (*bm)->fields[1] is kv_indices in device memory
//
// A second call with the same mask (fingerprint), shape, param values and
// buffer contents on the same device is a cache hit; the kernels come from
// the cache (per device), else from the disk cache of PTX, else are compiled.
#pragma once

#include "flexjit/AST.hpp"
#include "flexjit/BlockMask.hpp"
#include "flexjit/Cache.hpp"
#include "flexjit/Evaluator.hpp"
#include "flexjit/ModABI.h"
#include "flexjit/Runtime.hpp"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace flexjit {

//===----------------------------------------------------------------------===//
// Running the kernels once loaded (api/blockmask/GpuCreate.cpp)
//===----------------------------------------------------------------------===//

/// A mask's runtime inputs in the ABI's slot order (interfaceOf), on the host.
struct PackedModInputs {
  std::vector<int64_t> params;        ///< one ABI slot per param
  std::vector<const void *> buffers;  ///< each buffer's contents
  std::vector<size_t> bufferBytes;
  /// Per buffer, 1 where `buffers[i]` is a device address that the context
  /// points at instead of holding a copy (attention calls only; empty: none).
  std::vector<uint8_t> bufferOnDevice;
  std::vector<int64_t> bufferDims;    ///< every buffer's sizes, back to back
  std::vector<std::string> bufferNames;
  std::vector<NamedValue> keyParams;  ///< canonical values for BlockMaskKey
  std::vector<NamedValue> keyBuffers;
  std::string modName; ///< the mod's name, for messages

  /// A host context over these inputs with `error` (4 slots) as its record.
  flexjit_mod_context hostContext(int64_t *error) const;
  /// "mod 'document' read buffer 'doc' out of bounds: index 9000 of
  /// dimension 0, whose size is 8192" for a record that is not clear
  /// (api/ModError.hpp), "" for a clear one.
  std::string describeError(const int64_t *error) const;
};

/// The block-mask kernels of one mask loaded on one device.
struct BlockMaskKernelsModule {
  cuda::Module module;
  cuda::Function classify, lists;
  size_t imageBytes = 0; ///< the device binary's bytes (what the cache accounts)
};

/// Runs the loaded kernels: uploads the inputs and the context (one copy),
/// launches classify and lists on `stream` (nullptr: the context's default
/// stream), waits, and reads back the error record and the count of blocks
/// evaluated element-wise. An out-of-bounds buffer read is an Error naming
/// the buffer, dimension, index and bound (and no mask is returned).
Result<cuda::DeviceBlockMask> runBlockMaskKernels(const BlockMaskKernelsModule &kernels,
                                                  const BlockMaskShape &shape,
                                                  const PackedModInputs &inputs,
                                                  const cuda::Context &ctx,
                                                  const cuda::Stream *stream = nullptr,
                                                  int64_t *elementwiseBlocks = nullptr);

//===----------------------------------------------------------------------===//
// Entry points: the kernels compiled and cached (api/blockmask/GpuBlockMask.cpp)
//===----------------------------------------------------------------------===//

/// The ABI slots of mask `mod` from inputs by name: an Error for a missing
/// param or buffer, a wrong type or rank, or a buffer size below zero.
Result<PackedModInputs> packModInputs(const FileAST &file, const ModDecl &mod,
                                      const ModInputs &inputs);

/// A mask prepared once for many creations: its fingerprint (the cache's
/// identity of the mask) and its packed inputs. `file` must outlive it.
struct PreparedMask {
  const FileAST *file = nullptr;
  std::string modName;
  std::string fingerprint;
  PackedModInputs inputs;

  static Result<PreparedMask> prepare(const FileAST &file, const std::string &modName,
                                      const ModInputs &inputs);
  /// The block-mask cache key for `shape` on `device`.
  BlockMaskKey key(const BlockMaskShape &shape, int device) const;
};

/// What flexjit's kernels run with on one CUDA device: its retained primary
/// context and the PTX target (the device's own arch when flexjit supports
/// it, else the newest supported one it can run: the driver JIT-compiles
/// PTX forward). Looked up once per device.
struct GpuTarget {
  cuda::Context ctx;
  std::string arch;
  /// Dynamic shared memory a block may use after opting in (kernel specs
  /// are checked against it).
  size_t sharedMemPerBlockOptin = 0;
  std::string name; ///< "NVIDIA H100 80GB HBM3", for messages
  int smCount = 0;  ///< multiprocessors (a persistent kernel's grid)
};
Result<GpuTarget> gpuTarget(int device);

struct GpuBlockMaskStats {
  bool cacheHit = false;
  int64_t blocks = 0;            ///< B·H·nQ·nKV (on a miss)
  int64_t elementwiseBlocks = 0; ///< evaluated element by element (on a miss)
};

/// The block-mask kernels of `mask` loaded on ctx's device, through `cache`
/// (one entry per mask fingerprint, arch and device, accounted as its PTX's
/// bytes) and the process-wide disk cache of PTX.
Result<std::shared_ptr<const BlockMaskKernelsModule>>
blockMaskKernelsFor(const PreparedMask &mask, const cuda::Context &ctx, Cache &cache);

/// The block mask of `mask` for `shape` on `device`, made on the GPU on a
/// miss, through `cache` (nullptr: globalCache()). Accounted as exactly
/// BlockMask::bytes(), the size of its one allocation. The kernels go
/// through `kernelCache` (nullptr: the same cache as the mask).
Result<std::shared_ptr<const cuda::DeviceBlockMask>>
createBlockMaskOnDevice(const PreparedMask &mask, const BlockMaskShape &shape, int device,
                        const cuda::Stream *stream = nullptr, GpuBlockMaskStats *stats = nullptr,
                        Cache *cache = nullptr, Cache *kernelCache = nullptr);

/// prepare() and the above in one call.
Result<std::shared_ptr<const cuda::DeviceBlockMask>>
createBlockMaskOnDevice(const FileAST &file, const std::string &modName,
                        const BlockMaskShape &shape, const ModInputs &inputs, int device,
                        const cuda::Stream *stream = nullptr, GpuBlockMaskStats *stats = nullptr,
                        Cache *cache = nullptr);

/// A device block mask's eight arrays copied back to the host
/// (synchronously), back to back as BlockMask::packed() lays them out: equal
/// vectors mean equal masks, all eight arrays.
Result<std::vector<int32_t>> downloadPacked(const cuda::DeviceBlockMask &mask);

} // namespace flexjit
