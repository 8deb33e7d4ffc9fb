// `flexc blockmask FILE --mod NAME ...`: the command line turned into a
// flexjit::BlockMaskRequest, then Session::blockMask and the mask's own
// text forms. Values are parsed with the type the mod declares for them.
#include "BlockmaskCommand.h"
#include "Failure.h"

#include "flexjit/flexjit.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

using namespace flexjit;

namespace flexc {

namespace {

namespace cl = llvm::cl;

[[noreturn]] void usage(const std::string &message) { flexjit::cli::usageError(message); }

[[noreturn]] void inputError(const std::string &message) { fail("flexc: error: " + message); }

cl::SubCommand command("blockmask",
                       "Builds the block mask of a mask mod (on the CPU, with the JIT-compiled "
                       "mod and its interval block classifier) and prints it");
cl::OptionCategory category("flexc blockmask options");

cl::opt<std::string> fileArg(cl::Positional, cl::desc("FILE"), cl::sub(command), cl::cat(category));
cl::opt<std::string> modArg("mod", cl::value_desc("NAME"), cl::sub(command), cl::cat(category),
                            cl::desc("the mask mod (required)"));
cl::opt<int64_t> batchArg("batch", cl::value_desc("B"), cl::init(1), cl::sub(command),
                          cl::cat(category), cl::desc("batch count (default 1: broadcast)"));
cl::opt<int64_t> headsArg("heads", cl::value_desc("H"), cl::init(1), cl::sub(command),
                          cl::cat(category), cl::desc("head count (default 1: broadcast)"));
cl::opt<int64_t> qLenArg("q-len", cl::value_desc("Q"), cl::sub(command), cl::cat(category),
                         cl::desc("query sequence length (required)"));
cl::opt<int64_t> kvLenArg("kv-len", cl::value_desc("K"), cl::sub(command), cl::cat(category),
                          cl::desc("key/value sequence length (required)"));
cl::opt<std::string> blockSizeArg(
    "block-size", cl::value_desc("N|QB,KVB"), cl::sub(command), cl::cat(category),
    cl::desc("block sizes, powers of two 16..256 (default 128)"));
cl::list<std::string> paramArgs("param", cl::value_desc("NAME=VALUE"), cl::sub(command),
                                cl::cat(category),
                                cl::desc("a param's value (true/false, an integer, a float)"));
cl::list<std::string> bufferArgs(
    "buffer", cl::value_desc("NAME=V0,V1,...|NAME=@FILE"), cl::sub(command), cl::cat(category),
    cl::desc("a buffer's elements, row-major; or read from FILE: values separated by commas, "
             "spaces or newlines, '#' starts a comment"));
cl::list<std::string> bufferShapeArgs(
    "buffer-shape", cl::value_desc("NAME=D0,D1,..."), cl::sub(command), cl::cat(category),
    cl::desc("the dims of a buffer of rank > 1 (a 1-D buffer's length is the number of its "
             "values)"));
cl::opt<std::string> deviceArg("device", cl::value_desc("cpu|cuda|cuda:N"), cl::init("cpu"),
                               cl::sub(command), cl::cat(category),
                               cl::desc("where the mask is made (default cpu)"));
cl::opt<std::string> formatArg(
    "format", cl::value_desc("ascii|json"), cl::init("ascii"), cl::sub(command),
    cl::cat(category),
    cl::desc("the picture with sparsity and bytes (default), or a JSON object with the eight "
             "arrays"));

struct BufferArg {
  std::string text;       // values, or "@FILE"
  std::optional<std::vector<int64_t>> shape;
};

struct Args {
  std::string file;
  std::string mod;
  int64_t batch = 1, heads = 1;
  std::optional<int64_t> qLen, kvLen;
  int qBlock = 128, kvBlock = 128;
  std::vector<std::pair<std::string, std::string>> params; // in order given
  std::map<std::string, BufferArg> buffers;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  std::string device = "cpu";
  bool json = false;
};

int64_t parseInt(const std::string &flag, const std::string &text) {
  int64_t v = 0;
  const char *b = text.data(), *e = text.data() + text.size();
  auto r = std::from_chars(b, e, v);
  if (b == e || r.ec != std::errc() || r.ptr != e)
    usage(flag + " needs an integer, not '" + text + "'");
  return v;
}

std::vector<int64_t> parseIntList(const std::string &flag, const std::string &text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    out.push_back(parseInt(flag, text.substr(start, comma - start)));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

/// "NAME=REST" -> (NAME, REST).
std::pair<std::string, std::string> splitAssignment(const std::string &flag,
                                                    const std::string &text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    usage(flag + " needs NAME=VALUE, not '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Args parseArgs() {
  Args a;
  a.file = fileArg;
  a.mod = modArg;
  a.batch = batchArg;
  a.heads = headsArg;
  if (qLenArg.getNumOccurrences())
    a.qLen = qLenArg;
  if (kvLenArg.getNumOccurrences())
    a.kvLen = kvLenArg;
  if (blockSizeArg.getNumOccurrences()) {
    std::vector<int64_t> sizes = parseIntList("--block-size", blockSizeArg);
    if (sizes.size() > 2)
      usage("--block-size takes N or QB,KVB");
    for (int64_t s : sizes)
      if (s < 0 || s > (int64_t(1) << 30))
        usage("--block-size " + std::to_string(s) + " is out of range");
    a.qBlock = int(sizes[0]);
    a.kvBlock = int(sizes.size() == 2 ? sizes[1] : sizes[0]);
  }
  for (const std::string &p : paramArgs)
    a.params.push_back(splitAssignment("--param", p));
  for (const std::string &b : bufferArgs) {
    auto [name, text] = splitAssignment("--buffer", b);
    if (a.buffers.count(name))
      usage("buffer '" + name + "' given twice");
    a.buffers[name].text = text;
  }
  for (const std::string &s : bufferShapeArgs) {
    auto [name, text] = splitAssignment("--buffer-shape", s);
    a.shapes.emplace_back(name, parseIntList("--buffer-shape", text));
  }
  a.device = deviceArg;
  if (!Device::parse(a.device))
    usage("unknown --device '" + a.device + "' (cpu, cuda or cuda:N)");
  if (formatArg != "ascii" && formatArg != "json")
    usage("unknown --format '" + formatArg + "' (ascii or json)");
  a.json = formatArg == "json";
  if (a.file.empty())
    usage("no input file");
  if (a.mod.empty())
    usage("--mod is required");
  if (!a.qLen || !a.kvLen)
    usage("--q-len and --kv-len are required");
  for (auto &[name, shape] : a.shapes) {
    auto it = a.buffers.find(name);
    if (it == a.buffers.end())
      usage("--buffer-shape for '" + name + "', which has no --buffer");
    it->second.shape = shape;
  }
  return a;
}

/// The value texts of a --buffer: a comma list, or a file's values.
std::vector<std::string> bufferTexts(const std::string &name, const std::string &text) {
  std::vector<std::string> out;
  if (text.empty())
    return out;
  if (text[0] != '@') {
    size_t start = 0;
    while (true) {
      size_t comma = text.find(',', start);
      out.push_back(text.substr(start, comma - start));
      if (comma == std::string::npos)
        return out;
      start = comma + 1;
    }
  }
  std::string body = readFile(text.substr(1));
  std::string token;
  bool comment = false;
  for (char c : body + "\n") {
    if (comment) {
      comment = c != '\n';
      continue;
    }
    if (c == '#' || c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!token.empty())
        out.push_back(token);
      token.clear();
      comment = c == '#';
      continue;
    }
    token += c;
  }
  (void)name;
  return out;
}

size_t elementSize(ScalarType t) {
  return t == ScalarType::Bool ? 1 : t == ScalarType::I64 ? 8 : 4;
}

void storeElement(const Value &v, uint8_t *at) {
  switch (v.type) {
  case ScalarType::Bool:
    *at = v.b ? 1 : 0;
    break;
  case ScalarType::I32:
    std::memcpy(at, &v.i32, 4);
    break;
  case ScalarType::I64:
    std::memcpy(at, &v.i64, 8);
    break;
  case ScalarType::F32:
    std::memcpy(at, &v.f32, 4);
    break;
  }
}

int run(const Args &a) {
  auto program = Program::fromSource(a.file, readFile(a.file));
  if (!program)
    fail(program.error().message);
  auto mod = program->mod(a.mod);
  if (!mod)
    inputError(mod.error().message);
  const ModInfo &info = **mod;
  std::string reads = "mod '" + info.name + "' reads " + describeInterface(info.interface);

  BlockMaskRequest req;
  req.mod = a.mod;
  req.shape.B = a.batch;
  req.shape.H = a.heads;
  req.shape.qLen = *a.qLen;
  req.shape.kvLen = *a.kvLen;
  req.shape.qBlock = a.qBlock;
  req.shape.kvBlock = a.kvBlock;
  req.device = *Device::parse(a.device);

  for (const auto &[name, text] : a.params) {
    const ParamDecl *decl = nullptr;
    for (const ParamDecl &p : info.interface.params)
      if (p.name == name)
        decl = &p;
    if (!decl)
      inputError("unknown param '" + name + "': " + reads);
    if (req.inputs.params.count(name))
      inputError("param '" + name + "' given twice");
    auto v = parseValue(decl->type, text);
    if (!v)
      inputError("param '" + name + "': " + v.error().message);
    req.inputs.params[name] = *v;
  }

  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(a.buffers.size());
  for (const auto &[name, arg] : a.buffers) {
    const BufferDecl *decl = nullptr;
    for (const BufferDecl &b : info.interface.buffers)
      if (b.name == name)
        decl = &b;
    if (!decl)
      inputError("unknown buffer '" + name + "': " + reads);
    std::vector<std::string> texts = bufferTexts(name, arg.text);
    std::vector<int64_t> shape = arg.shape ? *arg.shape : std::vector<int64_t>{int64_t(texts.size())};
    if (!arg.shape && decl->dims.size() > 1) {
      std::string dims;
      for (size_t i = 0; i < decl->dims.size(); ++i)
        dims += (i ? "," : "") + std::string("D") + std::to_string(i);
      inputError("buffer '" + name + "' has " + std::to_string(decl->dims.size()) +
                 " dimensions: give its shape with --buffer-shape " + name + "=" + dims);
    }
    int64_t count = 1;
    for (int64_t d : shape) {
      if (d < 0 || (d > 0 && count > (int64_t(1) << 40) / d))
        inputError("buffer '" + name + "': bad shape");
      count *= d;
    }
    if (count != int64_t(texts.size())) {
      std::string dims;
      for (size_t i = 0; i < shape.size(); ++i)
        dims += (i ? "x" : "") + std::to_string(shape[i]);
      inputError("buffer '" + name + "': " + std::to_string(texts.size()) +
                 " value(s) given, its shape " + dims + " holds " + std::to_string(count));
    }
    std::vector<uint8_t> bytes(texts.size() * elementSize(decl->elemType));
    for (size_t i = 0; i < texts.size(); ++i) {
      auto v = parseValue(decl->elemType, texts[i]);
      if (!v)
        inputError("buffer '" + name + "' element " + std::to_string(i) + ": " +
                   v.error().message);
      storeElement(*v, bytes.data() + i * elementSize(decl->elemType));
    }
    storage.push_back(std::move(bytes));
    BufferData d;
    d.elemType = decl->elemType;
    d.data = storage.back().data();
    d.shape = shape;
    req.inputs.buffers[name] = d;
  }

  Session session;
  auto mask = session.blockMask(*program, req);
  if (!mask)
    inputError(mask.error().message);
  std::shared_ptr<const BlockMask> host = mask->host;
  if (!host) {
    auto h = copyToHost(*mask->device);
    if (!h)
      inputError(h.error().message);
    host = std::make_shared<BlockMask>(std::move(*h));
  }
  int64_t elementwise = mask->stats.elementwiseBlocks;
  if (a.json) {
    std::cout << host->toJSON({{"elementwise_blocks", std::to_string(elementwise)}}) << '\n';
    return 0;
  }
  const BlockMaskShape &s = host->shape();
  std::cout << "block mask of '" << info.name << "': B=" << s.B << " H=" << s.H
            << " Q_LEN=" << s.qLen << " KV_LEN=" << s.kvLen << ", blocks " << s.qBlock << "x"
            << s.kvBlock << " (" << host->numQBlocks() << "x" << host->numKvBlocks() << ")\n";
  std::cout << host->toString();
  char line[64];
  std::snprintf(line, sizeof line, "%.2f%%", host->sparsity());
  std::cout << "sparsity: " << line << '\n'
            << "bytes: " << host->bytes() << '\n'
            << "blocks evaluated element-wise: " << elementwise << " of "
            << mask->stats.blocks << '\n';
  return 0;
}

} // namespace

const llvm::cl::OptionCategory &blockmaskCategory() { return category; }

bool blockmaskSelected() { return bool(command); }

int runBlockmask() { return run(parseArgs()); }

} // namespace flexc
