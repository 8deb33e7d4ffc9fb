// CUDA graphs (Runtime.hpp): whether a stream is capturing, keeping what a
// captured launch reads alive for the graph's life, and capture, instantiate
// and replay for tests and tools.
#include "DriverAPI.hpp"
#include "flexjit/Runtime.hpp"

#include <atomic>
#include <list>
#include <mutex>
#include <optional>
#include <utility>

namespace flexjit::cuda {
using namespace driver;

namespace {

/// Pushes the stream's context when it has one (a borrowed legacy stream
/// has none: the current context's is used).
struct StreamScope {
  StreamScope(const API *a, const Stream &s) {
    if (s.context())
      scope.emplace(a, rawContext(s.context()));
  }
  CUresult status() const { return scope ? scope->status() : CUDA_SUCCESS; }
  std::optional<ScopedContext> scope;
};

Error noCapture(const char *fn, const std::string &what) {
  return Error{ErrorKind::Device, what + ": the CUDA driver has no " + fn +
                                      " (stream capture needs a CUDA 11.3 or newer driver)"};
}

/// Objects graphs have let go of, waiting to be released off the driver's
/// thread. Never destroyed: graphs may let go during exit.
struct GraphHeld {
  std::mutex mu;
  std::list<std::shared_ptr<const void>> released;
  std::atomic<size_t> count{0};
};
GraphHeld &graphHeld() {
  static auto *g = new GraphHeld();
  return *g;
}

/// The user object's destructor, on the driver's thread: no CUDA call may
/// run here (the object's own release may unload a module or free memory),
/// so the object only moves to the list.
void onGraphRelease(void *p) {
  auto *held = static_cast<std::shared_ptr<const void> *>(p);
  GraphHeld &g = graphHeld();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.released.push_back(std::move(*held));
    g.count.fetch_add(1, std::memory_order_release);
  }
  delete held;
}

} // namespace

Result<bool> isCapturing(const Stream &stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  const std::string what = "asking whether a CUDA stream is capturing";
  if (!(*a)->cuStreamIsCapturing)
    return noCapture("cuStreamIsCapturing", what);
  StreamScope scope(*a, stream);
  if (scope.status())
    return driverError(scope.status(), what);
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  if (CUresult rc = (*a)->cuStreamIsCapturing(static_cast<CUstream>(stream.raw()), &status))
    return driverError(rc, what);
  if (status == CU_STREAM_CAPTURE_STATUS_INVALIDATED)
    return Error{ErrorKind::Device,
                 what + ": the stream's capture was invalidated by an earlier failure (end it "
                        "with cuStreamEndCapture)"};
  return status == CU_STREAM_CAPTURE_STATUS_ACTIVE;
}

Status retainForCapturedGraph(const Stream &stream, std::shared_ptr<const void> object) {
  auto a = api();
  if (!a.ok())
    return a.error();
  const API &d = **a;
  const std::string what = "keeping a captured launch's resources for its CUDA graph";
  if (!d.cuStreamGetCaptureInfoV3 && !d.cuStreamGetCaptureInfoV2)
    return noCapture("cuStreamGetCaptureInfo", what);
  if (!d.cuUserObjectCreate || !d.cuGraphRetainUserObject || !d.cuUserObjectRelease)
    return noCapture("user objects", what);
  StreamScope scope(*a, stream);
  if (scope.status())
    return driverError(scope.status(), what);
  CUstream s = static_cast<CUstream>(stream.raw());
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  CUgraph graph = nullptr;
  CUresult rc = d.cuStreamGetCaptureInfoV3
                    ? d.cuStreamGetCaptureInfoV3(s, &status, nullptr, &graph, nullptr, nullptr,
                                                 nullptr)
                    : d.cuStreamGetCaptureInfoV2(s, &status, nullptr, &graph, nullptr, nullptr);
  if (rc)
    return driverError(rc, what);
  if (status != CU_STREAM_CAPTURE_STATUS_ACTIVE || !graph)
    return Error{ErrorKind::InvalidArgument, what + ": the stream is not capturing"};
  auto *held = new std::shared_ptr<const void>(std::move(object));
  CUuserObject obj = nullptr;
  if (CUresult c = d.cuUserObjectCreate(&obj, held, &onGraphRelease, 1,
                                        CU_USER_OBJECT_NO_DESTRUCTOR_SYNC)) {
    delete held;
    return driverError(c, what);
  }
  // The graph takes this thread's one reference (MOVE); its executables
  // take their own when instantiated.
  if (CUresult c = d.cuGraphRetainUserObject(graph, obj, 1, CU_GRAPH_USER_OBJECT_MOVE)) {
    d.cuUserObjectRelease(obj, 1); // the destructor then queues the object
    return driverError(c, what);
  }
  return Status::success();
}

size_t releaseGraphHeld() {
  GraphHeld &g = graphHeld();
  if (g.count.load(std::memory_order_acquire) == 0)
    return 0;
  std::list<std::shared_ptr<const void>> out;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    out.swap(g.released);
    g.count.store(0, std::memory_order_release);
  }
  return out.size(); // released here, outside the lock
}

//===----------------------------------------------------------------------===//
// GraphExec
//===----------------------------------------------------------------------===//

Status GraphExec::beginCapture(const Stream &stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  const std::string what = "beginning a CUDA graph capture";
  if (!(*a)->cuStreamBeginCapture)
    return noCapture("cuStreamBeginCapture", what);
  StreamScope scope(*a, stream);
  if (scope.status())
    return driverError(scope.status(), what);
  if (CUresult rc = (*a)->cuStreamBeginCapture(static_cast<CUstream>(stream.raw()),
                                               CU_STREAM_CAPTURE_MODE_GLOBAL))
    return driverError(rc, what);
  return Status::success();
}

Result<GraphExec> GraphExec::endCapture(const Stream &stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  const API &d = **a;
  const std::string what = "ending a CUDA graph capture";
  if (!d.cuStreamEndCapture || !d.cuGraphInstantiateWithFlags || !d.cuGraphDestroy ||
      !d.cuGraphExecDestroy)
    return noCapture("cuStreamEndCapture/cuGraphInstantiate", what);
  StreamScope scope(*a, stream);
  if (scope.status())
    return driverError(scope.status(), what);
  CUgraph graph = nullptr;
  CUresult rc = d.cuStreamEndCapture(static_cast<CUstream>(stream.raw()), &graph);
  if (rc) {
    if (graph)
      d.cuGraphDestroy(graph);
    return driverError(rc, what);
  }
  CUgraphExec exec = nullptr;
  rc = d.cuGraphInstantiateWithFlags(&exec, graph, 0);
  d.cuGraphDestroy(graph);
  if (rc)
    return driverError(rc, "instantiating a captured CUDA graph");
  GraphExec out;
  out.exec_ = exec;
  out.ctx_ = stream.context();
  return out;
}

GraphExec::GraphExec(GraphExec &&o) noexcept
    : exec_(std::exchange(o.exec_, nullptr)), ctx_(std::move(o.ctx_)) {}

GraphExec &GraphExec::operator=(GraphExec &&o) noexcept {
  if (this != &o) {
    reset();
    exec_ = std::exchange(o.exec_, nullptr);
    ctx_ = std::move(o.ctx_);
  }
  return *this;
}

GraphExec::~GraphExec() { reset(); }

void GraphExec::reset() {
  if (!exec_)
    return;
  if (auto a = api(); a.ok() && (*a)->cuGraphExecDestroy) {
    std::optional<ScopedContext> scope;
    if (ctx_)
      scope.emplace(*a, rawContext(ctx_));
    (*a)->cuGraphExecDestroy(static_cast<CUgraphExec>(exec_));
  }
  exec_ = nullptr;
  ctx_.reset();
}

Status GraphExec::launch(const Stream &stream) const {
  auto a = api();
  if (!a.ok())
    return a.error();
  const std::string what = "launching a CUDA graph";
  if (!exec_)
    return Error{ErrorKind::InvalidArgument, what + ": no graph"};
  if (!(*a)->cuGraphLaunch)
    return noCapture("cuGraphLaunch", what);
  StreamScope scope(*a, stream);
  if (scope.status())
    return driverError(scope.status(), what);
  if (CUresult rc =
          (*a)->cuGraphLaunch(static_cast<CUgraphExec>(exec_), static_cast<CUstream>(stream.raw())))
    return driverError(rc, what);
  return Status::success();
}

} // namespace flexjit::cuda
