// Modules loaded from PTX, kernel lookup and launches.
#include "DriverAPI.hpp"
#include "flexjit/Runtime.hpp"

#include <utility>
#include <vector>

namespace flexjit::cuda {
using namespace driver;

namespace {
constexpr unsigned kStaticSharedLimit = 48 * 1024;
} // namespace

Result<Module> Module::loadPTX(const Context &ctx, const std::string &ptx,
                               const std::string &what) {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string doing = "loading module for " + what + " on device " +
                      std::to_string(ctx.device());
  if (!ctx.valid())
    return Error{ErrorKind::InvalidArgument, doing + ": invalid context"};
  ScopedContext scope(*a, rawContext(ctx.handle()));
  if (scope.status())
    return driverError(scope.status(), doing);

  JitLogs logs;
  CUmodule mod = nullptr;
  // The image is NUL-terminated PTX text (std::string guarantees that) or a
  // device binary (cuda/DeviceBinary.cpp), which the driver tells apart.
  CUresult rc = (*a)->cuModuleLoadDataEx(&mod, ptx.c_str(), JitLogs::kOptions,
                                                 logs.options, logs.values);
  if (rc) {
    Error e = driverError(rc, doing);
    std::string log = JitLogs::text(logs.error);
    if (!log.empty())
      e.message += "\nJIT log:\n" + log;
    return e;
  }
  Module m;
  m.mod_ = mod;
  m.ctx_ = ctx.handle();
  m.ordinal_ = ctx.device();
  m.what_ = what;
  m.infoLog_ = JitLogs::text(logs.info);
  return m;
}

Module::Module(Module &&o) noexcept
    : mod_(std::exchange(o.mod_, nullptr)), ctx_(std::move(o.ctx_)), ordinal_(o.ordinal_),
      what_(std::move(o.what_)), infoLog_(std::move(o.infoLog_)) {}

Module &Module::operator=(Module &&o) noexcept {
  if (this != &o) {
    reset();
    mod_ = std::exchange(o.mod_, nullptr);
    ctx_ = std::move(o.ctx_);
    ordinal_ = o.ordinal_;
    what_ = std::move(o.what_);
    infoLog_ = std::move(o.infoLog_);
  }
  return *this;
}

Module::~Module() { reset(); }

void Module::reset() {
  if (!mod_)
    return;
  if (auto a = api(); a.ok()) {
    ScopedContext scope(*a, rawContext(ctx_));
    (*a)->cuModuleUnload(static_cast<CUmodule>(mod_));
  }
  mod_ = nullptr;
  ctx_.reset();
}

Result<Function> Module::function(const std::string &name) const {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string doing = "looking up function " + name + " in the module for " +
                      what_ + " on device " + std::to_string(ordinal_);
  if (!mod_)
    return Error{ErrorKind::InvalidArgument, doing + ": module not loaded"};
  CUfunction fn = nullptr;
  if (CUresult rc = (*a)->cuModuleGetFunction(&fn, static_cast<CUmodule>(mod_),
                                              name.c_str()))
    return driverError(rc, doing);
  Function f;
  f.fn_ = fn;
  f.ctx_ = ctx_;
  f.name_ = name;
  f.optedIn_ = std::make_shared<std::atomic<int>>(int(kStaticSharedLimit));
  return f;
}

Status Function::setMaxDynamicSharedMemory(int bytes) const {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string doing = "opting kernel " + name_ + " in to " +
                      std::to_string(bytes) + " bytes of dynamic shared memory";
  if (!fn_)
    return Error{ErrorKind::InvalidArgument, doing + ": no function"};
  ScopedContext scope(*a, rawContext(ctx_));
  if (scope.status())
    return driverError(scope.status(), doing);
  if (CUresult rc = (*a)->cuFuncSetAttribute(
          static_cast<CUfunction>(fn_),
          CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes))
    return driverError(rc, doing);
  return Status::success();
}

Result<int> Function::attribute(int cuFunctionAttribute) const {
  auto a = api();
  if (!a.ok())
    return a.error();
  if (!fn_)
    return Error{ErrorKind::InvalidArgument, "reading an attribute of a null function"};
  int v = 0;
  if (CUresult rc = (*a)->cuFuncGetAttribute(&v, cuFunctionAttribute,
                                             static_cast<CUfunction>(fn_)))
    return driverError(rc, "reading attribute " +
                               std::to_string(cuFunctionAttribute) +
                               " of kernel " + name_);
  return v;
}

Status launch(const Function &fn, const LaunchConfig &c, void **args) {
  auto a = api();
  if (!a.ok())
    return a.error();
  std::string doing = "launching kernel " + fn.name();
  if (!fn.valid())
    return Error{ErrorKind::InvalidArgument, doing + ": no function"};
  if (c.sharedBytes > kStaticSharedLimit &&
      (!fn.optedIn_ || int(c.sharedBytes) > fn.optedIn_->load())) {
    if (Status s = fn.setMaxDynamicSharedMemory(int(c.sharedBytes)); !s)
      return s;
    if (fn.optedIn_) {
      int seen = fn.optedIn_->load();
      while (seen < int(c.sharedBytes) &&
             !fn.optedIn_->compare_exchange_weak(seen, int(c.sharedBytes))) {
      }
    }
  }
  // The module's context: a launch runs there, whatever is current.
  ScopedContext scope(*a, rawContext(fn.context()));
  if (scope.status())
    return driverError(scope.status(), doing);
  CUresult rc = (*a)->cuLaunchKernel(
      static_cast<CUfunction>(fn.raw()), c.grid[0], c.grid[1], c.grid[2],
      c.block[0], c.block[1], c.block[2], c.sharedBytes,
      c.stream ? static_cast<CUstream>(c.stream->raw()) : nullptr, args,
      nullptr);
  if (rc)
    return driverError(rc, doing + " (grid " + std::to_string(c.grid[0]) + "x" +
                               std::to_string(c.grid[1]) + "x" +
                               std::to_string(c.grid[2]) + ", block " +
                               std::to_string(c.block[0]) + "x" +
                               std::to_string(c.block[1]) + "x" +
                               std::to_string(c.block[2]) + ", " +
                               std::to_string(c.sharedBytes) +
                               " bytes dynamic shared memory)");
  return Status::success();
}

} // namespace flexjit::cuda
