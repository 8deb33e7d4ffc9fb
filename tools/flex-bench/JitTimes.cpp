#include "JitTimes.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <sstream>
#include <utility>

namespace flexbench {

namespace {

constexpr llvm::StringLiteral kPrefix = "FLEXBENCH_JIT ";

/// The members that are numbers, by key.
template <class Times> auto numbers(Times &t) {
  using Field = decltype(&t.initMs);
  return std::array<std::pair<const char *, Field>, 6>{{{"init_ms", &t.initMs},
                                                         {"parse_ms", &t.parseMs},
                                                         {"blockmask_ms", &t.blockMaskMs},
                                                         {"attention_host_ms", &t.attentionHostMs},
                                                         {"second_host_ms", &t.secondHostMs},
                                                         {"first_call_ms", &t.firstCallMs}}};
}

std::optional<JitTimes> parseLine(llvm::StringRef text) {
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(text);
  if (!value) {
    llvm::consumeError(value.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *o = value->getAsObject();
  if (!o)
    return std::nullopt;
  JitTimes t;
  for (auto [key, field] : numbers(t)) {
    std::optional<double> v = o->getNumber(key);
    if (!v)
      return std::nullopt;
    *field = *v;
  }
  std::optional<bool> compiled = o->getBoolean("kernel_compiled");
  if (!compiled)
    return std::nullopt;
  t.kernelCompiled = *compiled;
  return t;
}

} // namespace

std::string jitTimesLine(const JitTimes &t) {
  llvm::json::Object object;
  for (auto [key, field] : numbers(t))
    object[key] = *field;
  object["kernel_compiled"] = t.kernelCompiled;
  std::string line;
  llvm::raw_string_ostream os(line);
  os << kPrefix << llvm::json::Value(std::move(object)) << '\n';
  return line;
}

std::optional<JitTimes> readJitTimes(const std::string &output) {
  std::optional<JitTimes> times;
  std::stringstream ss(output);
  for (std::string line; std::getline(ss, line);) {
    llvm::StringRef l(line);
    if (l.consume_front(kPrefix))
      if (std::optional<JitTimes> parsed = parseLine(l))
        times = parsed;
  }
  return times;
}

} // namespace flexbench
