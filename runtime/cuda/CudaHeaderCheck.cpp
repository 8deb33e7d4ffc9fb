// Built only when cuda.h is found: checks DriverAPI.hpp's own declarations
// of the driver's ABI against the toolkit's header.
#include "DriverAPI.hpp"

#include <cuda.h>
#include <type_traits>

namespace d = flexjit::cuda::driver;

static_assert(sizeof(CUresult) == sizeof(d::CUresult), "CUresult");
static_assert(sizeof(CUdevice) == sizeof(d::CUdevice), "CUdevice");
static_assert(std::is_same_v<CUdeviceptr, d::CUdeviceptr>, "CUdeviceptr");
static_assert(CUDA_SUCCESS == d::CUDA_SUCCESS);
static_assert(CUDA_ERROR_NO_DEVICE == d::CUDA_ERROR_NO_DEVICE);
static_assert(CUDA_ERROR_NOT_READY == d::CUDA_ERROR_NOT_READY);
static_assert(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK ==
              d::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
static_assert(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT ==
              d::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ==
              d::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR ==
              d::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN ==
              d::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
static_assert(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES ==
              d::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(CU_POINTER_ATTRIBUTE_MEMORY_TYPE == d::CU_POINTER_ATTRIBUTE_MEMORY_TYPE);
static_assert(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL == d::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL);
static_assert(CU_POINTER_ATTRIBUTE_RANGE_START_ADDR == d::CU_POINTER_ATTRIBUTE_RANGE_START_ADDR);
static_assert(CU_POINTER_ATTRIBUTE_RANGE_SIZE == d::CU_POINTER_ATTRIBUTE_RANGE_SIZE);
static_assert(CU_MEMORYTYPE_DEVICE == d::CU_MEMORYTYPE_DEVICE);
static_assert(CU_MEMORYTYPE_UNIFIED == d::CU_MEMORYTYPE_UNIFIED);
static_assert(CU_JIT_INFO_LOG_BUFFER == d::CU_JIT_INFO_LOG_BUFFER);
static_assert(CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES == d::CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
static_assert(CU_JIT_ERROR_LOG_BUFFER == d::CU_JIT_ERROR_LOG_BUFFER);
static_assert(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES == d::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(CU_JIT_LOG_VERBOSE == d::CU_JIT_LOG_VERBOSE);
static_assert(CU_JIT_INPUT_PTX == d::CU_JIT_INPUT_PTX);
static_assert(sizeof(CUjitInputType) == sizeof(d::CUjitInputType));
static_assert(CU_TENSOR_MAP_DATA_TYPE_FLOAT16 == d::CU_TENSOR_MAP_DATA_TYPE_FLOAT16);
static_assert(CU_TENSOR_MAP_DATA_TYPE_FLOAT32 == d::CU_TENSOR_MAP_DATA_TYPE_FLOAT32);
static_assert(CU_TENSOR_MAP_DATA_TYPE_FLOAT64 == d::CU_TENSOR_MAP_DATA_TYPE_FLOAT64);
static_assert(CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 == d::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16);
static_assert(CU_TENSOR_MAP_INTERLEAVE_NONE == d::CU_TENSOR_MAP_INTERLEAVE_NONE);
static_assert(CU_TENSOR_MAP_SWIZZLE_NONE == 0 && CU_TENSOR_MAP_SWIZZLE_32B == 1 &&
              CU_TENSOR_MAP_SWIZZLE_64B == 2 && CU_TENSOR_MAP_SWIZZLE_128B == 3);
static_assert(CU_TENSOR_MAP_L2_PROMOTION_NONE == 0 && CU_TENSOR_MAP_L2_PROMOTION_L2_64B == 1 &&
              CU_TENSOR_MAP_L2_PROMOTION_L2_128B == 2 && CU_TENSOR_MAP_L2_PROMOTION_L2_256B == 3);
static_assert(CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE == d::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
static_assert(sizeof(CUtensorMap) == d::CU_TENSOR_MAP_BYTES);
// cuTensorMapEncodeTiled's pointer types match; its enums are int-sized.
static_assert(std::is_same_v<cuuint64_t, uint64_t> && std::is_same_v<cuuint32_t, uint32_t>);
static_assert(sizeof(CUtensorMapDataType) == sizeof(int) && sizeof(CUtensorMapSwizzle) == sizeof(int));
static_assert(CU_STREAM_NON_BLOCKING == d::CU_STREAM_NON_BLOCKING);
static_assert(CU_EVENT_DEFAULT == d::CU_EVENT_DEFAULT);
static_assert(CU_EVENT_DISABLE_TIMING == d::CU_EVENT_DISABLE_TIMING);

// The function-pointer types match the header's prototypes.
static_assert(std::is_same_v<decltype(d::API::cuLaunchKernel),
                             d::CUresult (*)(d::CUfunction, unsigned, unsigned,
                                          unsigned, unsigned, unsigned,
                                          unsigned, unsigned, d::CUstream,
                                          void **, void **)>);
static_assert(sizeof(&::cuLaunchKernel) == sizeof(d::API::cuLaunchKernel));
// cuda.h maps cuEventElapsedTime to _v2 (12.8+), cuEventDestroy to _v2: same
// signatures as the first versions DriverAPI.cpp falls back to.
static_assert(std::is_same_v<decltype(&::cuEventElapsedTime),
                             CUresult (*)(float *, CUevent, CUevent)>);
static_assert(std::is_same_v<decltype(&::cuEventRecord), CUresult (*)(CUevent, CUstream)>);
static_assert(std::is_same_v<decltype(&::cuEventCreate), CUresult (*)(CUevent *, unsigned)>);
static_assert(std::is_same_v<decltype(&::cuEventQuery), CUresult (*)(CUevent)>);
static_assert(std::is_same_v<decltype(&::cuMemsetD8Async),
                             CUresult (*)(CUdeviceptr, unsigned char, size_t, CUstream)>);
static_assert(std::is_same_v<decltype(&::cuMemAllocAsync),
                             CUresult (*)(CUdeviceptr *, size_t, CUstream)>);
// cuda.h maps cuLinkCreate and cuLinkAddData to the _v2 symbols
// DriverAPI.cpp resolves; the prototypes match the table's.
static_assert(std::is_same_v<decltype(&::cuLinkCreate),
                             CUresult (*)(unsigned, CUjit_option *, void **, CUlinkState *)>);
static_assert(std::is_same_v<decltype(&::cuLinkAddData),
                             CUresult (*)(CUlinkState, CUjitInputType, void *, size_t,
                                          const char *, unsigned, CUjit_option *, void **)>);
static_assert(std::is_same_v<decltype(&::cuLinkComplete),
                             CUresult (*)(CUlinkState, void **, size_t *)>);
static_assert(std::is_same_v<decltype(&::cuLinkDestroy), CUresult (*)(CUlinkState)>);
static_assert(sizeof(CUjit_option) == sizeof(d::CUjit_option));

// Stream capture, graphs and user objects.
static_assert(sizeof(CUstreamCaptureStatus) == sizeof(d::CUstreamCaptureStatus) &&
              sizeof(CUstreamCaptureMode) == sizeof(d::CUstreamCaptureMode));
static_assert(CU_STREAM_CAPTURE_STATUS_NONE == d::CU_STREAM_CAPTURE_STATUS_NONE &&
              CU_STREAM_CAPTURE_STATUS_ACTIVE == d::CU_STREAM_CAPTURE_STATUS_ACTIVE &&
              CU_STREAM_CAPTURE_STATUS_INVALIDATED == d::CU_STREAM_CAPTURE_STATUS_INVALIDATED);
static_assert(CU_STREAM_CAPTURE_MODE_GLOBAL == d::CU_STREAM_CAPTURE_MODE_GLOBAL);
static_assert(CU_USER_OBJECT_NO_DESTRUCTOR_SYNC == d::CU_USER_OBJECT_NO_DESTRUCTOR_SYNC);
static_assert(CU_GRAPH_USER_OBJECT_MOVE == d::CU_GRAPH_USER_OBJECT_MOVE);
static_assert(std::is_same_v<CUhostFn, d::CUhostFn>);
static_assert(std::is_same_v<decltype(&::cuStreamIsCapturing),
                             CUresult (*)(CUstream, CUstreamCaptureStatus *)>);
// cuda.h maps cuStreamGetCaptureInfo to _v3 (12.3+); the table's edge-data
// pointer is the header's const CUgraphEdgeData ** passed as const void **.
static_assert(std::is_same_v<decltype(&::cuStreamGetCaptureInfo),
                             CUresult (*)(CUstream, CUstreamCaptureStatus *, cuuint64_t *,
                                          CUgraph *, const CUgraphNode **,
                                          const CUgraphEdgeData **, size_t *)>);
static_assert(std::is_same_v<cuuint64_t, uint64_t>);
static_assert(std::is_same_v<decltype(&::cuUserObjectCreate),
                             CUresult (*)(CUuserObject *, void *, CUhostFn, unsigned, unsigned)>);
static_assert(std::is_same_v<decltype(&::cuUserObjectRelease),
                             CUresult (*)(CUuserObject, unsigned)>);
static_assert(std::is_same_v<decltype(&::cuGraphRetainUserObject),
                             CUresult (*)(CUgraph, CUuserObject, unsigned, unsigned)>);
// cuda.h maps cuStreamBeginCapture to _v2 (with the mode), which the table
// resolves.
static_assert(std::is_same_v<decltype(&::cuStreamBeginCapture),
                             CUresult (*)(CUstream, CUstreamCaptureMode)>);
static_assert(std::is_same_v<decltype(&::cuStreamEndCapture), CUresult (*)(CUstream, CUgraph *)>);
// cuda.h maps cuGraphInstantiate to cuGraphInstantiateWithFlags.
static_assert(std::is_same_v<decltype(&::cuGraphInstantiateWithFlags),
                             CUresult (*)(CUgraphExec *, CUgraph, unsigned long long)>);
static_assert(std::is_same_v<decltype(&::cuGraphLaunch), CUresult (*)(CUgraphExec, CUstream)>);
static_assert(std::is_same_v<decltype(&::cuGraphDestroy), CUresult (*)(CUgraph)>);
static_assert(std::is_same_v<decltype(&::cuGraphExecDestroy), CUresult (*)(CUgraphExec)>);
