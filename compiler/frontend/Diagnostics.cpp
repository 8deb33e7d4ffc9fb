// Rendering of located errors (docs/language.md's format) and "did you mean" search.

#include "flexjit/Diagnostics.hpp"

#include <algorithm>

namespace flexjit {

/// Start offsets of the source's lines, so that rendering many diagnostics
/// does not rescan the text for each one.
static std::vector<size_t> lineStarts(const std::string &source) {
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < source.size(); ++i)
    if (source[i] == '\n')
      starts.push_back(i + 1);
  return starts;
}

/// The text of 1-based line `line`, without its line terminator.
static std::string sourceLine(const std::string &source, const std::vector<size_t> &starts,
                              uint32_t line) {
  if (line == 0 || line > starts.size())
    return "";
  size_t start = starts[line - 1];
  size_t end = line < starts.size() ? starts[line] - 1 : source.size();
  if (end > start && source[end - 1] == '\r')
    --end;
  return source.substr(start, end - start);
}

static std::string render(const std::string &fileName, const std::string &source,
                          const std::vector<size_t> &starts, const Diagnostic &d);

std::string renderDiagnostic(const std::string &fileName, const std::string &source,
                             const Diagnostic &d) {
  return render(fileName, source, lineStarts(source), d);
}

std::string renderDiagnostics(const std::string &fileName, const std::string &source,
                              const std::vector<Diagnostic> &ds) {
  std::vector<size_t> starts = lineStarts(source);
  std::string out;
  for (const auto &d : ds)
    out += render(fileName, source, starts, d);
  return out;
}

static std::string render(const std::string &fileName, const std::string &source,
                          const std::vector<size_t> &starts, const Diagnostic &d) {
  std::string out;
  if (!d.loc.known()) {
    out = fileName + ": error: " + d.message + "\n";
  } else {
    out = fileName + ":" + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.col) +
          ": error: " + d.message + "\n";
    std::string line = sourceLine(source, starts, d.loc.line);
    out += line + "\n";
    // Keep tabs in the caret line so that the caret lines up however the
    // terminal renders them.
    size_t col = d.loc.col - 1;
    std::string caret;
    for (size_t i = 0; i < col; ++i)
      caret += (i < line.size() && line[i] == '\t') ? '\t' : ' ';
    size_t len = std::max<uint32_t>(d.loc.length, 1);
    if (col < line.size())
      len = std::min(len, line.size() - col);
    else
      len = 1;
    caret += '^';
    caret.append(len - 1, '~');
    out += caret + "\n";
  }
  if (!d.hint.empty())
    out += "hint: " + d.hint + "\n";
  return out;
}


static size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closestName(const std::string &name, const std::vector<std::string> &candidates) {
  // A suggestion is worth making when at most about a third of the name is
  // wrong (one typo in a short name).
  size_t limit = std::max<size_t>(1, name.size() / 3);
  // Typos worth fixing are in names people type; a machine-made name of
  // thousands of characters would only make this quadratic search slow.
  if (name.size() > 64)
    return "";
  std::string best;
  size_t bestDist = limit + 1;
  for (const auto &c : candidates) {
    if (c == name || c.empty())
      continue;
    // The distance is at least the difference in length.
    size_t lengthGap = c.size() > name.size() ? c.size() - name.size() : name.size() - c.size();
    if (lengthGap >= bestDist)
      continue;
    size_t d = editDistance(name, c);
    if (d < bestDist && d < name.size() && d < c.size()) {
      bestDist = d;
      best = c;
    }
  }
  return best;
}

} // namespace flexjit
