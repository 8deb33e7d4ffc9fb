// The C API (flexjit.h) over the C++ facade (flexjit.hpp). Each entry point
// checks its arguments, converts them, calls the facade inside a guard that
// turns any exception into a status, and records failures in a thread-local
// message.
#include "flexjit/flexjit.h"
#include "flexjit/flexjit.hpp"
#include "flexjit/Stages.hpp"

#include "api/CApiStatus.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <optional>
#include <algorithm>
#include <set>
#include <sstream>

using namespace flexjit;

struct flexjit_module {
  Program program;
};

struct flexjit_blockmask {
  BlockMaskHandle handle;
};

static_assert(int(CacheKind::Kernel) == FLEXJIT_CACHE_KERNEL &&
                  int(CacheKind::BlockMask) == FLEXJIT_CACHE_BLOCK_MASK &&
                  int(CacheKind::ModContext) == FLEXJIT_CACHE_MOD_CONTEXT,
              "C cache kinds are the C++ ones");

namespace {

thread_local std::string lastError;

/// Records a failed call's message; its status comes from the Error's kind
/// alone (capiStatusOf, CApiStatus.hpp), never from the message.
flexjit_status fail(const Error &e) {
  lastError = e.message;
  return capiStatusOf(e.kind);
}

/// Runs `body` (which returns a status) with exceptions turned into one.
template <class F> flexjit_status guarded(F &&body) {
  try {
    lastError.clear();
    return body();
  } catch (const std::bad_alloc &) {
    return fail(Error{ErrorKind::OutOfMemory, "out of memory"});
  } catch (const std::exception &e) {
    return fail(Error{ErrorKind::Internal, std::string("internal error: ") + e.what()});
  } catch (...) {
    return fail(Error{ErrorKind::Internal, "internal error"});
  }
}

#define FLEXJIT_CHECK_ARG(cond, what)                                                              \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      return fail(Error{ErrorKind::InvalidArgument, what});                                        \
  } while (0)

/// The process-wide session: one compiler, the global cache. Never
/// destroyed, so that no JIT'd code is torn down while LLVM's own statics
/// are being destroyed at exit.
Session &session() {
  static Session *s = new Session();
  return *s;
}

bool validType(flexjit_type t) { return t >= FLEXJIT_BOOL && t <= FLEXJIT_F32; }

ScalarType scalarOf(flexjit_type t) {
  switch (t) {
  case FLEXJIT_BOOL:
    return ScalarType::Bool;
  case FLEXJIT_I32:
    return ScalarType::I32;
  case FLEXJIT_I64:
    return ScalarType::I64;
  case FLEXJIT_F32:
    break;
  }
  return ScalarType::F32;
}

flexjit_type typeOf(ScalarType t) {
  switch (t) {
  case ScalarType::Bool:
    return FLEXJIT_BOOL;
  case ScalarType::I32:
    return FLEXJIT_I32;
  case ScalarType::I64:
    return FLEXJIT_I64;
  case ScalarType::F32:
    break;
  }
  return FLEXJIT_F32;
}

size_t elementSize(flexjit_type t) { return t == FLEXJIT_BOOL ? 1 : t == FLEXJIT_I64 ? 8 : 4; }

/// The C inputs as the facade's; a message in `error` when they are malformed
/// (whether they fit the mod is BoundInputs' business).
bool convertInputs(const flexjit_param *params, size_t numParams, const flexjit_buffer *buffers,
                   size_t numBuffers, ModInputs &out, std::string &error) {
  if (numParams > 0 && !params) {
    error = "params is NULL but num_params is " + std::to_string(numParams);
    return false;
  }
  if (numBuffers > 0 && !buffers) {
    error = "buffers is NULL but num_buffers is " + std::to_string(numBuffers);
    return false;
  }
  for (size_t i = 0; i < numParams; ++i) {
    const flexjit_param &p = params[i];
    std::string at = "params[" + std::to_string(i) + "]";
    if (!p.name) {
      error = at + ": name is NULL";
      return false;
    }
    at += " ('" + std::string(p.name) + "')";
    if (out.params.count(p.name)) {
      error = at + ": given twice";
      return false;
    }
    Value v;
    switch (p.type) {
    case FLEXJIT_BOOL:
      if (p.int_value != 0 && p.int_value != 1) {
        error = at + ": a bool is 0 or 1, not " + std::to_string(p.int_value);
        return false;
      }
      v = Value::ofBool(p.int_value != 0);
      break;
    case FLEXJIT_I32:
      if (p.int_value < std::numeric_limits<int32_t>::min() ||
          p.int_value > std::numeric_limits<int32_t>::max()) {
        error = at + ": " + std::to_string(p.int_value) + " is out of the range of i32";
        return false;
      }
      v = Value::ofI32(int32_t(p.int_value));
      break;
    case FLEXJIT_I64:
      v = Value::ofI64(p.int_value);
      break;
    case FLEXJIT_F32:
      if (std::isfinite(p.float_value) &&
          std::fabs(p.float_value) > double(std::numeric_limits<float>::max())) {
        error = at + ": " + std::to_string(p.float_value) + " is out of the range of f32";
        return false;
      }
      v = Value::ofF32(float(p.float_value));
      break;
    default:
      error = at + ": unknown type " + std::to_string(int(p.type));
      return false;
    }
    out.params[p.name] = v;
  }
  for (size_t i = 0; i < numBuffers; ++i) {
    const flexjit_buffer &b = buffers[i];
    std::string at = "buffers[" + std::to_string(i) + "]";
    if (!b.name) {
      error = at + ": name is NULL";
      return false;
    }
    at += " ('" + std::string(b.name) + "')";
    if (out.buffers.count(b.name)) {
      error = at + ": given twice";
      return false;
    }
    if (!validType(b.element_type)) {
      error = at + ": unknown element type " + std::to_string(int(b.element_type));
      return false;
    }
    if (b.rank < 1 || b.rank > 4 || !b.dims) {
      error = at + ": rank must be 1 to 4 with dims non-NULL";
      return false;
    }
    uint64_t count = 1;
    BufferData d;
    d.elemType = scalarOf(b.element_type);
    for (int32_t k = 0; k < b.rank; ++k) {
      int64_t n = b.dims[k];
      if (n < 0 || (n != 0 && count > (uint64_t(1) << 56) / uint64_t(n))) {
        error = at + ": bad size " + std::to_string(n) + " of dimension " + std::to_string(k);
        return false;
      }
      count *= uint64_t(n);
      d.shape.push_back(n);
    }
    uint64_t want = count * elementSize(b.element_type);
    if (b.size_bytes != want) {
      error = at + ": size_bytes is " + std::to_string(b.size_bytes) + " but its dims hold " +
              std::to_string(want) + " bytes";
      return false;
    }
    if (want > 0 && !b.data) {
      error = at + ": data is NULL";
      return false;
    }
    if (b.on_device != 0 && b.on_device != 1) {
      error = at + ": on_device is 0 (host memory) or 1 (device memory), not " +
              std::to_string(b.on_device);
      return false;
    }
    d.data = b.data;
    d.onDevice = b.on_device == 1;
    out.buffers[b.name] = d;
  }
  return true;
}

char *copyString(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (!p)
    throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

/// Looks the mod up; a status (and message) when it is absent.
flexjit_status findMod(const flexjit_module *m, const char *mod, const ModInfo *&out) {
  FLEXJIT_CHECK_ARG(m, "module is NULL");
  FLEXJIT_CHECK_ARG(mod, "mod name is NULL");
  auto info = m->program.mod(mod);
  if (!info)
    return fail(info.error());
  out = *info;
  return FLEXJIT_OK;
}

/// Runs `body(const ModInfo &)` on the mod, or returns findMod's failure.
template <class F>
flexjit_status withMod(const flexjit_module *m, const char *mod, F &&body) {
  const ModInfo *info = nullptr;
  if (flexjit_status s = findMod(m, mod, info))
    return s;
  return body(*info);
}

/// An index into the mod's `what`s ("param", "buffer"), of which it reads `size`.
flexjit_status checkIndex(size_t index, size_t size, const char *what, const ModInfo &info) {
  FLEXJIT_CHECK_ARG(index < size, std::string(what) + " index " + std::to_string(index) +
                                      " out of range (mod '" + info.name + "' reads " +
                                      std::to_string(size) + " " + what + "s)");
  return FLEXJIT_OK;
}

/// A new module from source text, or the compile error.
flexjit_status newModule(const std::string &name, const std::string &text, flexjit_module **out) {
  auto p = Program::fromSource(name, text);
  if (!p)
    return fail(p.error());
  *out = new flexjit_module{std::move(*p)};
  return FLEXJIT_OK;
}

/// A device mask brought to the host, for the text forms.
Result<std::shared_ptr<const BlockMask>> hostMask(const flexjit_blockmask *m) {
  if (m->handle.host)
    return m->handle.host;
  auto h = copyToHost(*m->handle.device);
  if (!h)
    return h.error();
  return std::shared_ptr<const BlockMask>(std::make_shared<BlockMask>(std::move(*h)));
}

/// hostMask as a status.
flexjit_status hostMaskOf(const flexjit_blockmask *m, std::shared_ptr<const BlockMask> &out) {
  auto host = hostMask(m);
  if (!host)
    return fail(host.error());
  out = std::move(*host);
  return FLEXJIT_OK;
}

flexjit_cache_stats statsOf(const CacheStats &s) {
  flexjit_cache_stats c;
  c.hits = s.hits;
  c.misses = s.misses;
  c.evictions = s.evictions;
  c.entries = s.entries;
  c.bytes = s.bytes;
  c.peak_bytes = s.peakBytes;
  c.failures = s.failures;
  return c;
}

bool validDevice(int32_t d) { return d >= FLEXJIT_DEVICE_CPU; }

/// Compiles the mod (which must be of `kind`), binds the inputs and runs
/// `call(code, ctx)` once; an out-of-bounds read it reports is a failure.
template <class Call>
flexjit_status evalMod(const flexjit_module *module, const char *mod, ModKind kind,
                       const flexjit_param *params, size_t numParams,
                       const flexjit_buffer *buffers, size_t numBuffers, Call &&call) {
  const ModInfo *info = nullptr;
  if (flexjit_status s = findMod(module, mod, info))
    return s;
  if (info->kind != kind)
    return fail(Error{ErrorKind::InvalidArgument, "'" + info->name + "' is a " +
                                                      spelling(info->kind) + " mod, not a " +
                                                      spelling(kind) + " mod"});
  ModInputs inputs;
  std::string error;
  if (!convertInputs(params, numParams, buffers, numBuffers, inputs, error))
    return fail(Error{ErrorKind::InvalidArgument, error});
  auto bound = BoundInputs::bind(*info, inputs);
  if (!bound)
    return fail(bound.error());
  if (Status st = (*bound)->requireHostBuffers("evaluation on the CPU"); !st)
    return fail(st.error());
  auto code = session().cpuMod(module->program, mod);
  if (!code)
    return fail(code.error());
  const flexjit_mod_context &ctx = (*bound)->context();
  call(*code, ctx);
  if (ctx.error[0] != 0)
    return fail(Error{ErrorKind::OutOfBounds, (*bound)->describeOutOfBounds(ctx.error)});
  return FLEXJIT_OK;
}

/// A C tensor as a TensorRef; a message in `error` for an unknown dtype.
bool convertTensor(const flexjit_tensor &t, const char *name, TensorRef &out,
                   std::string &error) {
  if (t.dtype < FLEXJIT_DTYPE_BF16 || t.dtype > FLEXJIT_DTYPE_F64) {
    error = std::string("desc->") + name + ".dtype: unknown dtype " + std::to_string(int(t.dtype));
    return false;
  }
  out.data = t.data;
  out.dtype = DType(t.dtype);
  for (size_t i = 0; i < 4; ++i) {
    out.sizes[i] = t.sizes[i];
    out.strides[i] = t.strides[i];
  }
  out.device = t.device;
  return true;
}

/// An attention description as the facade's request; a message in `error`
/// when it is malformed (whether it fits the mods is the Session's check).
bool convertAttention(const flexjit_attention_desc &d, AttentionRequest &r, std::string &error) {
  if (!convertTensor(d.q, "q", r.q, error) || !convertTensor(d.k, "k", r.k, error) ||
      !convertTensor(d.v, "v", r.v, error) || !convertTensor(d.out, "out", r.out, error))
    return false;
  r.scoreMod = d.score_mod ? d.score_mod : "";
  r.maskMod = d.mask_mod ? d.mask_mod : "";
  std::string e;
  if (!convertInputs(d.score_params, d.num_score_params, d.score_buffers, d.num_score_buffers,
                     r.scoreInputs, e)) {
    error = "score inputs: " + e;
    return false;
  }
  if (!convertInputs(d.mask_params, d.num_mask_params, d.mask_buffers, d.num_mask_buffers,
                     r.maskInputs, e)) {
    error = "mask inputs: " + e;
    return false;
  }
  r.blockMask = d.block_mask ? &d.block_mask->handle : nullptr;
  if (d.scale != 0)
    r.options.scale = d.scale;
  r.options.lse = d.lse;
  r.options.stream = d.stream;
  r.options.blockM = d.block_m;
  r.options.blockN = d.block_n;
  r.options.stages = d.stages;
  r.options.rowsPerWarp = d.rows_per_warp;
  switch (d.kernel) {
  case 0:
    r.options.kernelTemplate = AttentionTemplate::Auto;
    break;
  case 80:
    r.options.kernelTemplate = AttentionTemplate::Sm80;
    break;
  case 90:
    r.options.kernelTemplate = AttentionTemplate::Sm90;
    break;
  default:
    error = "kernel " + std::to_string(d.kernel) + " is not a template (0: flexjit's choice, 80, 90)";
    return false;
  }
  if (d.sm90_off & ~4095) {
    error = "sm90_off " + std::to_string(d.sm90_off) +
            " has bits that are no technique (FLEXJIT_SM90_OFF_*: 1, 2, 4, ..., 2048)";
    return false;
  }
  AttentionSm90Techniques &t = r.options.sm90Techniques;
  t.warpSpecialized = !(d.sm90_off & FLEXJIT_SM90_OFF_WARP_SPECIALIZATION);
  t.pingPong = !(d.sm90_off & FLEXJIT_SM90_OFF_PING_PONG);
  t.intraOverlap = !(d.sm90_off & FLEXJIT_SM90_OFF_INTRA_OVERLAP);
  t.persistent = !(d.sm90_off & FLEXJIT_SM90_OFF_PERSISTENT);
  t.readsProof = !(d.sm90_off & FLEXJIT_SM90_OFF_READS_PROOF);
  t.earlyReads = !(d.sm90_off & FLEXJIT_SM90_OFF_EARLY_READS);
  t.lazyRescale = !(d.sm90_off & FLEXJIT_SM90_OFF_LAZY_RESCALE);
  t.pinnedWait = !(d.sm90_off & FLEXJIT_SM90_OFF_PINNED_WAIT);
  t.scaleInQuery = !(d.sm90_off & FLEXJIT_SM90_OFF_SCALE_IN_QUERY);
  t.kvTermInGemm = !(d.sm90_off & FLEXJIT_SM90_OFF_KV_TERM);
  t.unswitchReports = !(d.sm90_off & FLEXJIT_SM90_OFF_UNSWITCH_REPORTS);
  t.separateVerdicts = !(d.sm90_off & FLEXJIT_SM90_OFF_SEPARATE_VERDICTS);
  r.options.checkModErrorsEachCall = d.check_mod_errors_each_call != 0;
  return true;
}

/// The request of a C attention call, or a status (and message) when the
/// module or description is missing or malformed.
flexjit_status requestOf(const flexjit_module *module, const flexjit_attention_desc *desc,
                         AttentionRequest &req) {
  FLEXJIT_CHECK_ARG(module, "module is NULL");
  FLEXJIT_CHECK_ARG(desc, "desc is NULL");
  std::string error;
  if (!convertAttention(*desc, req, error))
    return fail(Error{ErrorKind::InvalidArgument, error});
  return FLEXJIT_OK;
}

/// A C backward description as the facade's request; a message in `error`
/// when it is malformed.
bool convertBackward(const flexjit_attention_backward_desc &d, AttentionBackwardRequest &r,
                     std::string &error) {
  AttentionRequest f;
  if (!convertAttention(d.forward, f, error))
    return false;
  r.q = f.q;
  r.k = f.k;
  r.v = f.v;
  r.out = f.out;
  r.lse = f.options.lse;
  r.scoreMod = f.scoreMod;
  r.scoreInputs = f.scoreInputs;
  r.maskMod = f.maskMod;
  r.maskInputs = f.maskInputs;
  r.blockMask = f.blockMask;
  r.options.scale = f.options.scale;
  r.options.stream = f.options.stream;
  r.options.kernelTemplate = f.options.kernelTemplate;
  if (!convertTensor(d.d_out, "d_out", r.dOut, error) ||
      !convertTensor(d.dq, "dq", r.dq, error) || !convertTensor(d.dk, "dk", r.dk, error) ||
      !convertTensor(d.dv, "dv", r.dv, error))
    return false;
  r.dLse = d.d_lse;
  if (d.num_buffer_grads && !d.buffer_grads) {
    error = "desc->buffer_grads is NULL but num_buffer_grads is " +
            std::to_string(d.num_buffer_grads);
    return false;
  }
  for (size_t i = 0; i < d.num_buffer_grads; ++i) {
    const flexjit_grad_buffer &g = d.buffer_grads[i];
    const std::string at = "desc->buffer_grads[" + std::to_string(i) + "]";
    if (!g.name || !*g.name) {
      error = at + ".name is NULL or empty";
      return false;
    }
    if (g.rank < 0 || g.rank > 8 || (g.rank > 0 && !g.dims)) {
      error = at + " ('" + g.name + "'): rank " + std::to_string(g.rank) +
              (g.rank > 0 && !g.dims ? " with NULL dims" : " is not in 0..8");
      return false;
    }
    if (r.bufferGrads.count(g.name)) {
      error = at + ": '" + g.name + "' is given twice";
      return false;
    }
    GradBuffer b;
    b.data = g.data;
    b.shape.assign(g.dims, g.dims + g.rank);
    b.device = f.q.device;
    r.bufferGrads[g.name] = std::move(b);
  }
  r.options.deterministic = d.deterministic != 0;
  r.options.blockN = d.block_n;
  r.options.blockM = d.block_m;
  r.options.warps = d.warps;
  r.options.stages = d.stages;
  r.options.dqBlockM = d.dq_block_m;
  r.options.dqBlockN = d.dq_block_n;
  r.options.dqStages = d.dq_stages;
  return true;
}

} // namespace

extern "C" {

const char *flexjit_last_error(void) { return lastError.c_str(); }

const char *flexjit_status_name(flexjit_status status) {
  switch (status) {
  case FLEXJIT_OK:
    return "FLEXJIT_OK";
  case FLEXJIT_ERROR_INVALID_ARGUMENT:
    return "FLEXJIT_ERROR_INVALID_ARGUMENT";
  case FLEXJIT_ERROR_COMPILE:
    return "FLEXJIT_ERROR_COMPILE";
  case FLEXJIT_ERROR_NOT_FOUND:
    return "FLEXJIT_ERROR_NOT_FOUND";
  case FLEXJIT_ERROR_OUT_OF_BOUNDS:
    return "FLEXJIT_ERROR_OUT_OF_BOUNDS";
  case FLEXJIT_ERROR_DEVICE:
    return "FLEXJIT_ERROR_DEVICE";
  case FLEXJIT_ERROR_CACHE:
    return "FLEXJIT_ERROR_CACHE";
  case FLEXJIT_ERROR_OUT_OF_MEMORY:
    return "FLEXJIT_ERROR_OUT_OF_MEMORY";
  case FLEXJIT_ERROR_INTERNAL:
    return "FLEXJIT_ERROR_INTERNAL";
  }
  return "unknown status";
}

flexjit_status flexjit_version(const char **version) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(version, "version is NULL");
    *version = flexjitVersionString();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_c_api_version(int32_t *version) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(version, "version is NULL");
    *version = FLEXJIT_C_API_VERSION;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_string_free(char *s) {
  std::free(s);
  lastError.clear();
  return FLEXJIT_OK;
}

//===--------------------------------------------------------------------===//
// Modules
//===--------------------------------------------------------------------===//

flexjit_status flexjit_module_from_source(const char *name, const char *text,
                                          flexjit_module **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(name, "name is NULL");
    FLEXJIT_CHECK_ARG(text, "text is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    return newModule(name, text, out);
  });
}

flexjit_status flexjit_module_from_file(const char *path, flexjit_module **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(path, "path is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return fail(Error{ErrorKind::NotFound, std::string("cannot read '") + path + "'"});
    std::stringstream ss;
    ss << in.rdbuf();
    return newModule(path, ss.str(), out);
  });
}

flexjit_status flexjit_module_release(flexjit_module *module) {
  return guarded([&] {
    delete module;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_module_mod_count(const flexjit_module *module, size_t *count) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(module, "module is NULL");
    FLEXJIT_CHECK_ARG(count, "count is NULL");
    *count = module->program.mods().size();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_module_mod_name(const flexjit_module *module, size_t index,
                                       const char **name) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(module, "module is NULL");
    FLEXJIT_CHECK_ARG(name, "name is NULL");
    const auto &mods = module->program.mods();
    FLEXJIT_CHECK_ARG(index < mods.size(), "mod index " + std::to_string(index) +
                                               " out of range (the module has " +
                                               std::to_string(mods.size()) + " mods)");
    *name = mods[index].name.c_str();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_module_mod_kind(const flexjit_module *module, const char *mod,
                                       flexjit_mod_kind *kind) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(kind, "kind is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      *kind = info.kind == ModKind::Mask ? FLEXJIT_MASK : FLEXJIT_SCORE;
      return FLEXJIT_OK;
    });
  });
}

flexjit_status flexjit_module_fingerprint(const flexjit_module *module, const char *mod,
                                          const char **fingerprint) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(fingerprint, "fingerprint is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      *fingerprint = info.fingerprint.c_str();
      return FLEXJIT_OK;
    });
  });
}

flexjit_status flexjit_module_param_count(const flexjit_module *module, const char *mod,
                                          size_t *count) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(count, "count is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      *count = info.interface.params.size();
      return FLEXJIT_OK;
    });
  });
}

flexjit_status flexjit_module_param(const flexjit_module *module, const char *mod,
                                    size_t index, const char **name, flexjit_type *type) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(name && type, "name or type is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      const auto &ps = info.interface.params;
      if (flexjit_status s = checkIndex(index, ps.size(), "param", info))
        return s;
      *name = ps[index].name.c_str();
      *type = typeOf(ps[index].type);
      return FLEXJIT_OK;
    });
  });
}

flexjit_status flexjit_module_buffer_count(const flexjit_module *module, const char *mod,
                                           size_t *count) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(count, "count is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      *count = info.interface.buffers.size();
      return FLEXJIT_OK;
    });
  });
}

flexjit_status flexjit_module_buffer(const flexjit_module *module, const char *mod,
                                     size_t index, const char **name,
                                     flexjit_type *element_type, int32_t *rank) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(name && element_type && rank, "name, element_type or rank is NULL");
    return withMod(module, mod, [&](const ModInfo &info) {
      const auto &bs = info.interface.buffers;
      if (flexjit_status s = checkIndex(index, bs.size(), "buffer", info))
        return s;
      *name = bs[index].name.c_str();
      *element_type = typeOf(bs[index].elemType);
      *rank = int32_t(bs[index].dims.size());
      return FLEXJIT_OK;
    });
  });
}

//===--------------------------------------------------------------------===//
// Evaluation
//===--------------------------------------------------------------------===//

flexjit_status flexjit_mask_eval(const flexjit_module *module, const char *mod,
                                 const flexjit_param *params, size_t num_params,
                                 const flexjit_buffer *buffers, size_t num_buffers, int32_t b,
                                 int32_t h, int32_t q, int32_t kv, int32_t *allowed) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(allowed, "allowed is NULL");
    return evalMod(module, mod, ModKind::Mask, params, num_params, buffers, num_buffers,
                   [&](const CpuMod &code, const flexjit_mod_context &ctx) {
                     *allowed = code.mask(b, h, q, kv, &ctx) ? 1 : 0;
                   });
  });
}

flexjit_status flexjit_score_eval(const flexjit_module *module, const char *mod,
                                  const flexjit_param *params, size_t num_params,
                                  const flexjit_buffer *buffers, size_t num_buffers, float s,
                                  int32_t b, int32_t h, int32_t q, int32_t kv, float *result) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(result, "result is NULL");
    return evalMod(module, mod, ModKind::Score, params, num_params, buffers, num_buffers,
                   [&](const CpuMod &code, const flexjit_mod_context &ctx) {
                     *result = code.score(s, b, h, q, kv, &ctx);
                   });
  });
}

//===--------------------------------------------------------------------===//
// Block masks
//===--------------------------------------------------------------------===//

flexjit_status flexjit_blockmask_desc_init(flexjit_blockmask_desc *desc) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    std::memset(desc, 0, sizeof *desc);
    desc->batch = 1;
    desc->heads = 1;
    desc->q_block = 128;
    desc->kv_block = 128;
    desc->device = FLEXJIT_DEVICE_CPU;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_get(const flexjit_module *module,
                                     const flexjit_blockmask_desc *desc,
                                     flexjit_blockmask **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(module, "module is NULL");
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    FLEXJIT_CHECK_ARG(desc->mod, "desc->mod is NULL");
    FLEXJIT_CHECK_ARG(validDevice(desc->device),
                      "invalid device " + std::to_string(desc->device));
    BlockMaskRequest req;
    req.mod = desc->mod;
    req.shape.B = desc->batch;
    req.shape.H = desc->heads;
    req.shape.qLen = desc->q_len;
    req.shape.kvLen = desc->kv_len;
    req.shape.qBlock = desc->q_block;
    req.shape.kvBlock = desc->kv_block;
    req.device = Device{desc->device};
    req.threads = desc->threads;
    std::string error;
    if (!convertInputs(desc->params, desc->num_params, desc->buffers, desc->num_buffers,
                       req.inputs, error))
      return fail(Error{ErrorKind::InvalidArgument, error});
    auto h = session().blockMask(module->program, req);
    if (!h)
      return fail(h.error());
    *out = new flexjit_blockmask{std::move(*h)};
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_release(flexjit_blockmask *mask) {
  return guarded([&] {
    delete mask;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_get_info(const flexjit_blockmask *mask,
                                          flexjit_blockmask_info *info) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(mask, "mask is NULL");
    FLEXJIT_CHECK_ARG(info, "info is NULL");
    const BlockMaskHandle &h = mask->handle;
    const BlockMaskShape &s = h.shape();
    flexjit_blockmask_info i;
    std::memset(&i, 0, sizeof i);
    i.batch = s.B;
    i.heads = s.H;
    i.q_len = s.qLen;
    i.kv_len = s.kvLen;
    i.q_block = s.qBlock;
    i.kv_block = s.kvBlock;
    i.num_q_blocks = s.numQBlocks();
    i.num_kv_blocks = s.numKvBlocks();
    i.bytes = h.bytes();
    i.device = h.where.ordinal;
    i.created = h.created ? 1 : 0;
    i.blocks = h.stats.blocks;
    i.elementwise_blocks = h.stats.elementwiseBlocks;
    if (h.host) {
      i.sparsity = h.host->sparsity();
    } else { // two [B, H, nQ] arrays copied back, not the whole mask
      auto computed = cuda::computedBlocks(*h.device);
      if (!computed)
        return fail(computed.error());
      i.sparsity = BlockMask::sparsityFor(s, *computed);
    }
    *info = i;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_field_name(flexjit_blockmask_field field, const char **name) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(name, "name is NULL");
    FLEXJIT_CHECK_ARG(field >= 0 && field < FLEXJIT_BLOCKMASK_NUM_FIELDS,
                      "unknown field " + std::to_string(int(field)));
    *name = BlockMask::fieldNames()[size_t(field)];
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_array(const flexjit_blockmask *mask,
                                       flexjit_blockmask_field field, flexjit_array *out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(mask, "mask is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    FLEXJIT_CHECK_ARG(field >= 0 && field < FLEXJIT_BLOCKMASK_NUM_FIELDS,
                      "unknown field " + std::to_string(int(field)));
    const BlockMaskHandle &h = mask->handle;
    const BlockMaskShape &s = h.shape();
    int64_t nQ = s.numQBlocks(), nKV = s.numKvBlocks();
    // kv_* rows run over q blocks, q_* rows over kv blocks (fieldNames order).
    bool kvSide = field < FLEXJIT_Q_NUM_BLOCKS;
    bool indices = field % 2 == 1;
    flexjit_array a;
    std::memset(&a, 0, sizeof a);
    a.rank = indices ? 4 : 3;
    a.shape[0] = s.B;
    a.shape[1] = s.H;
    a.shape[2] = kvSide ? nQ : nKV;
    a.shape[3] = indices ? (kvSide ? nKV : nQ) : 0;
    a.count = size_t(s.B * s.H * a.shape[2] * (indices ? a.shape[3] : 1));
    if (h.host)
      a.data = h.host->field(BlockMask::fieldNames()[size_t(field)])->data();
    else
      a.device_ptr = h.device->fields[size_t(field)];
    *out = a;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_to_string(const flexjit_blockmask *mask, int32_t grid_rows,
                                           int32_t grid_cols, int32_t limit, char **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(mask, "mask is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    std::shared_ptr<const BlockMask> host;
    if (flexjit_status st = hostMaskOf(mask, host))
      return st;
    *out = copyString(host->toString(grid_rows, grid_cols, limit));
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_to_json(const flexjit_blockmask *mask, char **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(mask, "mask is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    std::shared_ptr<const BlockMask> host;
    if (flexjit_status st = hostMaskOf(mask, host))
      return st;
    std::vector<std::pair<std::string, std::string>> extra;
    if (mask->handle.created)
      extra.emplace_back("elementwise_blocks",
                         std::to_string(mask->handle.stats.elementwiseBlocks));
    *out = copyString(host->toJSON(extra));
    return FLEXJIT_OK;
  });
}

//===--------------------------------------------------------------------===//
// Attention
//===--------------------------------------------------------------------===//

flexjit_status flexjit_attention_desc_init(flexjit_attention_desc *desc) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    std::memset(desc, 0, sizeof *desc);
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_attention(const flexjit_module *module, const flexjit_attention_desc *desc,
                                 flexjit_attention_info *info) {
  return guarded([&] {
    AttentionRequest req;
    if (flexjit_status s = requestOf(module, desc, req))
      return s;
    auto r = session().attention(module->program, req);
    if (!r)
      return fail(r.error());
    if (info) {
      flexjit_attention_info i;
      std::memset(&i, 0, sizeof i);
      i.kernel_compiled = r->kernelCompiled ? 1 : 0;
      i.mask_created = r->maskCreated ? 1 : 0;
      i.block_m = r->spec.blockM;
      i.block_n = r->spec.blockN;
      i.stages = r->spec.stages;
      i.rows_per_warp = r->spec.rowsPerWarp;
      i.host_ms = r->hostMs;
      std::snprintf(i.entry, sizeof i.entry, "%s", r->entry.c_str());
      i.kernel = r->kernelTemplate == AttentionTemplate::Sm90 ? 90 : 80;
      i.uploaded = r->uploaded ? 1 : 0;
      i.synchronized = r->synchronized ? 1 : 0;
      *info = i;
    }
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_attention_backward_desc_init(flexjit_attention_backward_desc *desc) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    std::memset(desc, 0, sizeof *desc);
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_attention_backward(const flexjit_module *module,
                                          const flexjit_attention_backward_desc *desc,
                                          flexjit_attention_backward_info *info) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(module, "module is NULL");
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    AttentionBackwardRequest req;
    std::string error;
    if (!convertBackward(*desc, req, error))
      return fail(Error{ErrorKind::InvalidArgument, error});
    auto r = session().attentionBackward(module->program, req);
    if (!r)
      return fail(r.error());
    if (info) {
      flexjit_attention_backward_info i;
      std::memset(&i, 0, sizeof i);
      i.kernels_compiled = r->kernelCompiled ? 1 : 0;
      i.mask_created = r->maskCreated ? 1 : 0;
      i.deterministic = r->spec.deterministic ? 1 : 0;
      i.block_n = r->spec.blockN;
      i.block_m = r->spec.blockM;
      i.warps = r->spec.warps;
      i.stages = r->spec.stages;
      i.dq_block_m = r->spec.dqBlockM;
      i.dq_block_n = r->spec.dqBlockN;
      i.dq_stages = r->spec.dqStages;
      i.host_ms = r->hostMs;
      std::snprintf(i.tag, sizeof i.tag, "%s", r->spec.tag().c_str());
      *info = i;
    }
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_precompile(const flexjit_precompile_variant *variants, size_t count,
                                  uint32_t threads, flexjit_precompile_result *results) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(variants || count == 0, "variants is NULL but count is " +
                                                  std::to_string(count));
    std::vector<AttentionVariant> list;
    list.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      const flexjit_precompile_variant &v = variants[i];
      std::string at = "variants[" + std::to_string(i) + "]";
      FLEXJIT_CHECK_ARG(v.module, at + ".module is NULL");
      FLEXJIT_CHECK_ARG(v.dtype == FLEXJIT_DTYPE_BF16 || v.dtype == FLEXJIT_DTYPE_F16,
                        at + ".dtype: the attention kernel takes FLEXJIT_DTYPE_BF16 or "
                             "FLEXJIT_DTYPE_F16, not " + std::to_string(int(v.dtype)));
      FLEXJIT_CHECK_ARG(v.device == FLEXJIT_DEVICE_CPU || v.device >= 0,
                        at + ".device: " + std::to_string(v.device) +
                            " is neither FLEXJIT_DEVICE_CPU nor a CUDA ordinal");
      AttentionVariant a{v.module->program};
      a.scoreMod = v.score_mod ? v.score_mod : "";
      a.maskMod = v.mask_mod ? v.mask_mod : "";
      a.dtype = v.dtype == FLEXJIT_DTYPE_BF16 ? DType::BF16 : DType::F16;
      a.headDim = v.head_dim;
      a.valueHeadDim = v.value_head_dim;
      a.device = v.device == FLEXJIT_DEVICE_CPU ? Device::cpu() : Device::cuda(v.device);
      a.arch = v.arch ? v.arch : "";
      list.push_back(std::move(a));
    }
    PrecompileOptions options;
    options.threads = threads;
    std::vector<PrecompileOutcome> outcomes = session().precompile(list, options);
    flexjit_status first = FLEXJIT_OK;
    std::string messages;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const PrecompileOutcome &o = outcomes[i];
      flexjit_status st = o.status ? FLEXJIT_OK : capiStatusOf(o.status.kind());
      if (results) {
        flexjit_precompile_result r;
        std::memset(&r, 0, sizeof r);
        r.status = st;
        r.compiled = o.compiled ? 1 : 0;
        r.ms = o.ms;
        std::snprintf(r.entry, sizeof r.entry, "%s", o.entry.c_str());
        results[i] = r;
      }
      if (!o.status) {
        if (first == FLEXJIT_OK)
          first = st;
        messages += (messages.empty() ? "" : "\n") + o.status.message();
      }
    }
    lastError = messages;
    return first;
  });
}

flexjit_status flexjit_check_mod_errors(void) {
  return guarded([&] {
    if (Status st = session().checkModErrors(); !st)
      return fail(st.error());
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_attention_wait_compiles(void) {
  return guarded([&] {
    session().waitForBackgroundCompiles();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_attention_reference(const flexjit_module *module,
                                           const flexjit_attention_desc *desc) {
  return guarded([&] {
    AttentionRequest req;
    if (flexjit_status s = requestOf(module, desc, req))
      return s;
    Status st = session().referenceAttention(module->program, req);
    if (!st)
      return fail(st.error());
    return FLEXJIT_OK;
  });
}

//===--------------------------------------------------------------------===//
// The cache
//===--------------------------------------------------------------------===//

flexjit_status flexjit_cache_get_stats(flexjit_cache_kind kind, int32_t device,
                                       flexjit_cache_stats *stats) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(stats, "stats is NULL");
    FLEXJIT_CHECK_ARG(kind == FLEXJIT_CACHE_KERNEL || kind == FLEXJIT_CACHE_BLOCK_MASK ||
                          kind == FLEXJIT_CACHE_MOD_CONTEXT,
                      "unknown cache kind " + std::to_string(int(kind)));
    FLEXJIT_CHECK_ARG(validDevice(device), "invalid device " + std::to_string(device));
    *stats = statsOf(session().cache().stats(CacheKind(kind), device));
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_get_totals(flexjit_cache_stats *stats) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(stats, "stats is NULL");
    *stats = statsOf(session().cache().totals());
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_get_stats_rows(flexjit_cache_stats_row *rows, size_t capacity,
                                            size_t *count) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(count, "count is NULL");
    FLEXJIT_CHECK_ARG(rows || capacity == 0, "rows is NULL but capacity is " +
                                                 std::to_string(capacity));
    auto all = session().cache().statsRows();
    for (size_t i = 0; i < all.size() && i < capacity; ++i) {
      rows[i].kind = flexjit_cache_kind(all[i].kind); // the same values
      rows[i].device = all[i].device;
      rows[i].stats = statsOf(all[i].stats);
    }
    *count = all.size();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_clear(void) {
  return guarded([&] {
    session().cache().clear();
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_clear_device(int32_t device) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(validDevice(device), "invalid device " + std::to_string(device));
    session().cache().clearDevice(device);
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_set_limits(uint64_t max_bytes, uint64_t max_entries) {
  return guarded([&] {
    CacheLimits l;
    l.maxBytes = size_t(std::min<uint64_t>(max_bytes, std::numeric_limits<size_t>::max()));
    l.maxEntries = size_t(std::min<uint64_t>(max_entries, std::numeric_limits<size_t>::max()));
    session().cache().setLimits(l);
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_get_limits(uint64_t *max_bytes, uint64_t *max_entries) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(max_bytes && max_entries, "max_bytes or max_entries is NULL");
    CacheLimits l = session().cache().limits();
    *max_bytes = l.maxBytes;
    *max_entries = l.maxEntries;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_cache_reset_counters(void) {
  return guarded([&] {
    session().cache().resetCounters();
    return FLEXJIT_OK;
  });
}

} // extern "C"

//===--------------------------------------------------------------------===//
// Stages as text; block masks made elsewhere (API version 4)
//===--------------------------------------------------------------------===//

extern "C" {

flexjit_status flexjit_module_emit(const flexjit_module *module, const char *mod,
                                   flexjit_stage stage, const char *arch, char **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(module, "module is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    FLEXJIT_CHECK_ARG(stage >= FLEXJIT_STAGE_TOKENS && stage <= FLEXJIT_STAGE_GRAD_PTX,
                      "unknown stage " + std::to_string(int(stage)));
    const EmitStage s = EmitStage(int(stage));
    std::string target = arch && *arch ? arch : "sm_90a";
    const auto &archs = supportedArchs();
    if (std::find(archs.begin(), archs.end(), target) == archs.end()) {
      std::string known;
      for (const std::string &a : archs)
        known += (known.empty() ? "" : ", ") + a;
      return fail(Error{ErrorKind::InvalidArgument,
                        "unknown arch '" + target + "' (supported: " + known + ")"});
    }
    std::string modName;
    if (s != EmitStage::Tokens && s != EmitStage::Ast) {
      const ModInfo *info = nullptr;
      if (flexjit_status st = findMod(module, mod, info))
        return st;
      modName = info->name;
    }
    Compiler *compiler = nullptr;
    if (emitStageNeedsCompiler(s)) {
      auto c = processCompiler();
      if (!c)
        return fail(c.error());
      compiler = *c;
    }
    auto text = stageText(module->program.file(), modName, s, compiler, target);
    if (!text)
      return fail(text.error());
    *out = copyString(*text);
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_arrays_init(flexjit_blockmask_arrays *desc) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    std::memset(desc, 0, sizeof *desc);
    desc->batch = 1;
    desc->heads = 1;
    desc->q_block = 128;
    desc->kv_block = 128;
    desc->source_device = FLEXJIT_DEVICE_CPU;
    desc->device = FLEXJIT_DEVICE_CPU;
    return FLEXJIT_OK;
  });
}

flexjit_status flexjit_blockmask_from_arrays(const flexjit_blockmask_arrays *desc,
                                             flexjit_blockmask **out) {
  return guarded([&] {
    FLEXJIT_CHECK_ARG(desc, "desc is NULL");
    FLEXJIT_CHECK_ARG(out, "out is NULL");
    FLEXJIT_CHECK_ARG(validDevice(desc->source_device),
                      "invalid source_device " + std::to_string(desc->source_device));
    FLEXJIT_CHECK_ARG(validDevice(desc->device), "invalid device " + std::to_string(desc->device));
    GivenBlockMask g;
    g.shape.B = desc->batch;
    g.shape.H = desc->heads;
    g.shape.qLen = desc->q_len;
    g.shape.kvLen = desc->kv_len;
    g.shape.qBlock = desc->q_block;
    g.shape.kvBlock = desc->kv_block;
    g.source = Device{desc->source_device};
    g.kvNumBlocks = desc->kv_num_blocks;
    g.kvIndices = desc->kv_indices;
    g.fullKvNumBlocks = desc->full_kv_num_blocks;
    g.fullKvIndices = desc->full_kv_indices;
    g.stream = desc->stream;
    g.device = Device{desc->device};
    auto h = blockMaskFromArrays(g);
    if (!h)
      return fail(h.error());
    *out = new flexjit_blockmask{std::move(*h)};
    return FLEXJIT_OK;
  });
}

} // extern "C"
