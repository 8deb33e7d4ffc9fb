// The slice of the CUDA driver API flexjit uses, declared here so that the
// build never needs the CUDA toolkit: the driver's ABI (these types, enum
// values and symbol names) is stable across CUDA versions. When cuda.h is
// found at configure time, CudaHeaderCheck.cpp checks every value below
// against it.
#pragma once

#include "flexjit/Error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flexjit::cuda::driver {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUevent_st;
struct CUlinkState_st;
struct CUgraph_st;
struct CUgraphNode_st;
struct CUgraphExec_st;
struct CUuserObject_st;
using CUcontext = CUctx_st *;
using CUmodule = CUmod_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
using CUevent = CUevent_st *;
using CUjit_option = int;
using CUlinkState = CUlinkState_st *;
using CUjitInputType = int;
using CUgraph = CUgraph_st *;
using CUgraphNode = CUgraphNode_st *;
using CUgraphExec = CUgraphExec_st *;
using CUuserObject = CUuserObject_st *;
using CUhostFn = void (*)(void *);
/// CUstreamCaptureStatus, CUstreamCaptureMode (C enums of int size).
using CUstreamCaptureStatus = int;
using CUstreamCaptureMode = int;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;

constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

// cuPointerGetAttributes: what a device address given by a caller is.
constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;     // unsigned (CUmemorytype)
constexpr int CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9;  // int
constexpr int CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11; // CUdeviceptr
constexpr int CU_POINTER_ATTRIBUTE_RANGE_SIZE = 12;     // size_t
constexpr unsigned CU_MEMORYTYPE_DEVICE = 2;
constexpr unsigned CU_MEMORYTYPE_UNIFIED = 4;

constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER = 3;
constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr CUjit_option CU_JIT_LOG_VERBOSE = 12;
constexpr CUjitInputType CU_JIT_INPUT_PTX = 1;

// Tensor maps (cuTensorMapEncodeTiled's enums; CUDA 12.0+ drivers).
constexpr int CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6;
constexpr int CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7;
constexpr int CU_TENSOR_MAP_DATA_TYPE_FLOAT64 = 8;
constexpr int CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9;
constexpr int CU_TENSOR_MAP_INTERLEAVE_NONE = 0;
constexpr int CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0;
constexpr size_t CU_TENSOR_MAP_BYTES = 128;

// Stream capture (CUDA graphs) and user objects (CUDA 11.3+).
constexpr CUstreamCaptureStatus CU_STREAM_CAPTURE_STATUS_NONE = 0;
constexpr CUstreamCaptureStatus CU_STREAM_CAPTURE_STATUS_ACTIVE = 1;
constexpr CUstreamCaptureStatus CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2;
constexpr CUstreamCaptureMode CU_STREAM_CAPTURE_MODE_GLOBAL = 0;
constexpr unsigned CU_USER_OBJECT_NO_DESTRUCTOR_SYNC = 1;
constexpr unsigned CU_GRAPH_USER_OBJECT_MOVE = 1;

constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DEFAULT = 0;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;

/// Function pointers resolved from libcuda.so.1 (the _v2 symbols where the
/// driver versions them, as cuda.h's macros would pick).
struct API {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxPushCurrent)(CUcontext);
  CUresult (*cuCtxPopCurrent)(CUcontext *);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned,
                                 CUjit_option *, void **);
  CUresult (*cuModuleUnload)(CUmodule);
  // The driver's linker: PTX in, the device binary (cubin) out, which the
  // disk cache keeps (runtime/cuda/DeviceBinary.hpp).
  CUresult (*cuLinkCreate)(unsigned, CUjit_option *, void **, CUlinkState *);
  CUresult (*cuLinkAddData)(CUlinkState, CUjitInputType, void *, size_t, const char *,
                            unsigned, CUjit_option *, void **);
  CUresult (*cuLinkComplete)(CUlinkState, void **, size_t *);
  CUresult (*cuLinkDestroy)(CUlinkState);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuFuncGetAttribute)(int *, int, CUfunction);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, CUstream,
                             void **, void **);
  // Events (timing: bench tools).
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  // Fences: whether the work before an event is done, without waiting.
  CUresult (*cuEventQuery)(CUevent);
  // The stream-ordered allocator (CUDA 11.2+; null where the driver is
  // older): memory whose cuMemFree never synchronizes the device.
  CUresult (*cuMemAllocAsync)(CUdeviceptr *, size_t, CUstream);
  // Optional (null where missing): checks of device addresses given by
  // callers (buffers in device memory, cuda::checkDeviceRange).
  // (numAttributes, attributes, data, ptr)
  CUresult (*cuPointerGetAttributes)(unsigned, int *, void **, CUdeviceptr);
  // Optional: null when the driver predates tensor maps (CUDA 12.0).
  // (tensorMap, dataType, rank, globalAddress, globalDim, globalStrides,
  //  boxDim, elementStrides, interleave, swizzle, l2Promotion, oobFill)
  // The enums are passed as int (C enums of int size), the map as its
  // 128 bytes (CUtensorMap).
  CUresult (*cuTensorMapEncodeTiled)(void *, int, uint32_t, void *, const uint64_t *,
                                     const uint64_t *, const uint32_t *, const uint32_t *, int,
                                     int, int, int);
  // Stream capture (CUDA graphs); null where the driver lacks them. A call
  // asks whether its stream is capturing, and a captured call keeps what
  // its launch reads alive for the graph's life with a user object
  // (runtime/cuda/Graphs.cpp); tests capture and replay graphs.
  CUresult (*cuStreamIsCapturing)(CUstream, CUstreamCaptureStatus *);
  // cuda.h 12.3+ names cuStreamGetCaptureInfo_v3 (with edge data); older
  // drivers have _v2 only, which takes the same arguments but the edge data.
  // (stream, status, id, graph, dependencies, edgeData, numDependencies)
  CUresult (*cuStreamGetCaptureInfoV3)(CUstream, CUstreamCaptureStatus *, uint64_t *,
                                       CUgraph *, const CUgraphNode **, const void **,
                                       size_t *);
  CUresult (*cuStreamGetCaptureInfoV2)(CUstream, CUstreamCaptureStatus *, uint64_t *,
                                       CUgraph *, const CUgraphNode **, size_t *);
  CUresult (*cuUserObjectCreate)(CUuserObject *, void *, CUhostFn, unsigned, unsigned);
  CUresult (*cuUserObjectRelease)(CUuserObject, unsigned);
  CUresult (*cuGraphRetainUserObject)(CUgraph, CUuserObject, unsigned, unsigned);
  CUresult (*cuStreamBeginCapture)(CUstream, CUstreamCaptureMode);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphDestroy)(CUgraph);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
};

/// The JIT's error and info logs of one load or link: the buffers and the
/// options pointing the driver at them (for cuModuleLoadDataEx, cuLinkCreate).
struct JitLogs {
  static constexpr unsigned kOptions = 4;
  static constexpr size_t kBytes = 64 * 1024;
  std::vector<char> error, info;
  CUjit_option options[kOptions];
  void *values[kOptions];
  JitLogs();
  JitLogs(const JitLogs &) = delete;
  JitLogs &operator=(const JitLogs &) = delete;
  /// A log's text, trailing newlines dropped.
  static std::string text(const std::vector<char> &log);
};

/// The loaded, initialised driver, or the Error saying why there is none.
/// Loads once (std::call_once); never unloads.
Result<const API *> api();

/// "<what>: CUDA_ERROR_X: <driver's description>".
Error driverError(CUresult rc, const std::string &what);

/// Pushes a context for the scope, pops it after (leaving the thread's
/// current context as it was).
class ScopedContext {
public:
  ScopedContext(const API *api, CUcontext ctx);
  ~ScopedContext();
  /// CUDA_SUCCESS or the push's failure.
  CUresult status() const { return rc_; }

private:
  const API *api_;
  CUresult rc_;
};

} // namespace flexjit::cuda::driver

namespace flexjit::cuda {

/// One retain of a device's primary context; released on destruction.
struct ContextRef {
  driver::CUcontext ctx = nullptr;
  driver::CUdevice dev = 0;
  int ordinal = -1;
  ~ContextRef();
};

/// The CUcontext behind a handle (nullptr for none).
inline driver::CUcontext rawContext(const std::shared_ptr<const ContextRef> &h) {
  return h ? h->ctx : nullptr;
}

} // namespace flexjit::cuda
