// CUDA events: timing of work on a stream (flex-bench).
#include "DriverAPI.hpp"
#include "flexjit/Runtime.hpp"

#include <utility>

namespace flexjit::cuda {
using namespace driver;

Result<Event> Event::create(const Context &ctx, bool timing) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, "creating a CUDA event: invalid context"};
  std::string what = "creating a CUDA event on device " + std::to_string(ctx.device());
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), what);
  CUevent e = nullptr;
  if (CUresult rc = (*a)->cuEventCreate(&e, timing ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING))
    return driverError(rc, what);
  Event out;
  out.event_ = e;
  out.ctx_ = ctx.handle();
  return out;
}

Event::Event(Event &&o) noexcept
    : event_(std::exchange(o.event_, nullptr)), ctx_(std::move(o.ctx_)) {}

Event &Event::operator=(Event &&o) noexcept {
  if (this != &o) {
    reset();
    event_ = std::exchange(o.event_, nullptr);
    ctx_ = std::move(o.ctx_);
  }
  return *this;
}

Event::~Event() { reset(); }

void Event::reset() {
  if (!event_)
    return;
  if (auto a = api(); a.ok()) {
    ScopedContext scope(*a, rawContext(ctx_));
    (*a)->cuEventDestroy(static_cast<CUevent>(event_));
  }
  event_ = nullptr;
  ctx_.reset();
}

Status Event::record(void *stream) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!event_)
    return Error{ErrorKind::InvalidArgument, "recording a CUDA event: invalid event"};
  ScopedContext scope(*a, rawContext(ctx_));
  if (scope.status())
    return driverError(scope.status(), "recording a CUDA event");
  if (CUresult rc = (*a)->cuEventRecord(static_cast<CUevent>(event_),
                                        static_cast<CUstream>(stream)))
    return driverError(rc, "recording a CUDA event");
  return Status::success();
}

Status Event::synchronize() const {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!event_)
    return Error{ErrorKind::InvalidArgument, "waiting for a CUDA event: invalid event"};
  if (CUresult rc = (*a)->cuEventSynchronize(static_cast<CUevent>(event_)))
    return driverError(rc, "waiting for a CUDA event");
  return Status::success();
}

Result<bool> Event::done() const {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!event_)
    return Error{ErrorKind::Device, "querying a CUDA event: invalid event"};
  CUresult rc = (*a)->cuEventQuery(static_cast<CUevent>(event_));
  if (rc == CUDA_SUCCESS)
    return true;
  if (rc == CUDA_ERROR_NOT_READY)
    return false;
  return driverError(rc, "querying a CUDA event");
}

Result<float> Event::elapsedMs(const Event &start, const Event &end) {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!start.event_ || !end.event_)
    return Error{ErrorKind::InvalidArgument, "timing CUDA events: invalid event"};
  float ms = 0;
  if (CUresult rc = (*a)->cuEventElapsedTime(&ms, static_cast<CUevent>(start.event_),
                                             static_cast<CUevent>(end.event_)))
    return driverError(rc, "timing CUDA events");
  return ms;
}

} // namespace flexjit::cuda
