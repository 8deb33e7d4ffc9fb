// loadSource / loadFile: the front end in one call, errors rendered.

#include "flexjit/Frontend.hpp"

#include <fstream>
#include <sstream>

namespace flexjit {

Result<std::unique_ptr<FileAST>> loadSource(const std::string &fileName,
                                            const std::string &source) {
  ParseResult parsed = parse(fileName, source);
  if (!parsed.errors.empty())
    return Error{renderDiagnostics(fileName, source, parsed.errors)};
  std::vector<Diagnostic> errors = check(*parsed.file);
  if (!errors.empty())
    return Error{renderDiagnostics(fileName, source, errors)};
  return std::move(parsed.file);
}

Result<std::unique_ptr<FileAST>> loadFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error{path + ": error: cannot open the file\n"};
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad())
    return Error{path + ": error: cannot read the file\n"};
  return loadSource(path, buffer.str());
}

} // namespace flexjit
