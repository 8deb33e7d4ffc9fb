// loadSource / loadFile: the front end in one call, errors rendered.

#include "flexjit/Frontend.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace flexjit {

static constexpr size_t kMaxRenderedErrors = 50;

Result<std::unique_ptr<FileAST>> loadSource(const std::string &fileName,
                                            const std::string &source) {
  ParseResult parsed = parse(fileName, source);
  if (!parsed.errors.empty())
    return Error{ErrorKind::Compile, renderDiagnostics(fileName, source, parsed.errors)};
  std::vector<Diagnostic> errors = check(*parsed.file);
  if (!errors.empty()) {
    // Like a compiler's error limit: past a screenful, more errors only
    // bury the first ones (and cost time on huge generated files).
    size_t shown = std::min<size_t>(errors.size(), kMaxRenderedErrors);
    std::vector<Diagnostic> first(errors.begin(), errors.begin() + shown);
    std::string text = renderDiagnostics(fileName, source, first);
    if (errors.size() > shown)
      text += fileName + ": error: too many errors; the rest are not shown\n";
    return Error{ErrorKind::Compile, text};
  }
  return std::move(parsed.file);
}

Result<std::unique_ptr<FileAST>> loadFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error{ErrorKind::NotFound, path + ": error: cannot open the file\n"};
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad())
    return Error{ErrorKind::NotFound, path + ": error: cannot read the file\n"};
  return loadSource(path, buffer.str());
}

} // namespace flexjit
