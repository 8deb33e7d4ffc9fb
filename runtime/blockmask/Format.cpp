// Text forms of a BlockMask: PyTorch's to_string/str pictures and JSON.
#include "flexjit/BlockMask.hpp"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <charconv>
#include <cstdio>

namespace flexjit {

namespace {
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Python's str.strip() for the characters these pictures contain.
std::string pyStrip(const std::string &s) {
  auto ws = [](char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
  };
  size_t b = 0, e = s.size();
  while (b < e && ws(s[b]))
    ++b;
  while (e > b && ws(s[e - 1]))
    --e;
  return s.substr(b, e - b);
}

/// Shortest text that reads back as the same double (like Python's repr).
std::string shortestDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0"; // keep it a JSON number that reads as floating point
  return s;
}
} // namespace

std::string BlockMask::toString(int gridRows, int gridCols, int limit) const {
  std::vector<uint8_t> dense = toDense();
  int64_t rows = nQ_, cols = nKV_;
  // PyTorch: grid_size -1 prints uncompressed.
  int64_t maxRows = gridRows <= 0 ? rows : gridRows;
  int64_t maxCols = gridCols <= 0 ? cols : gridCols;
  int64_t rowStep = std::max<int64_t>(1, cdiv(rows, maxRows));
  int64_t colStep = std::max<int64_t>(1, cdiv(cols, maxCols));
  std::vector<std::string> total;
  int64_t index = 0;
  for (int64_t b = 0; b < shape_.B; ++b)
    for (int64_t h = 0; h < shape_.H; ++h, ++index) {
      if (index == limit) {
        total.push_back("...");
        total.push_back("To print out more, set BlockMask.to_string(limit=N)");
        total.push_back("You can also index (BlockMask[batch, head]) to choose a "
                        "specific batch or head");
        goto done;
      }
      {
        std::string vis =
            "(" + std::to_string(b) + ", " + std::to_string(h) + ")\n";
        const uint8_t *m = dense.data() + (b * shape_.H + h) * rows * cols;
        for (int64_t r = 0; r < rows; r += rowStep) {
          for (int64_t c = 0; c < cols; c += colStep) {
            int64_t on = 0, n = 0;
            for (int64_t rr = r; rr < std::min(rows, r + rowStep); ++rr)
              for (int64_t cc = c; cc < std::min(cols, c + colStep); ++cc, ++n)
                on += m[rr * cols + cc];
            const char *cell = on == n ? "\u2588\u2588" : on == 0 ? "  " : "\u2591\u2591";
            vis += cell;
          }
          vis += "\n";
        }
        total.push_back(std::move(vis));
      }
    }
done:
  std::string out;
  for (size_t i = 0; i < total.size(); ++i) {
    if (i)
      out += "\n";
    out += total[i];
  }
  return out;
}

std::string BlockMask::str() const {
  char sp[64];
  std::snprintf(sp, sizeof(sp), "%.2f", sparsity());
  return "BlockMask(shape=(" + std::to_string(shape_.B) + ", " +
         std::to_string(shape_.H) + ", " + std::to_string(shape_.qLen) + ", " +
         std::to_string(shape_.kvLen) + "), sparsity=" + sp + "%, \n" +
         pyStrip(toString()) + "\n)";
}

std::string BlockMask::toJSON(
    const std::vector<std::pair<std::string, std::string>> &extra) const {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::json::OStream j(os);
  // One array of rows per (b, h): a count per row (a flat list), or a
  // row of rowLen indices per row.
  auto array = [&](const std::vector<int32_t> &v, bool counts, int64_t rowLen,
                   int64_t rowsPerBH) {
    j.arrayBegin();
    for (int64_t b = 0; b < shape_.B; ++b) {
      j.arrayBegin();
      for (int64_t h = 0; h < shape_.H; ++h) {
        j.arrayBegin();
        const int32_t *base = v.data() + (b * shape_.H + h) * rowsPerBH * rowLen;
        for (int64_t r = 0; r < rowsPerBH; ++r) {
          if (counts) {
            j.value(base[r]);
            continue;
          }
          j.arrayBegin();
          for (int64_t c = 0; c < rowLen; ++c)
            j.value(base[r * rowLen + c]);
          j.arrayEnd();
        }
        j.arrayEnd();
      }
      j.arrayEnd();
    }
    j.arrayEnd();
  };
  struct {
    const std::vector<int32_t> *v;
    bool counts;
    int64_t rowLen, rows;
  } fields[] = {{&kvNum_, true, 1, nQ_},       {&kvIdx_, false, nKV_, nQ_},
                {&fullKvNum_, true, 1, nQ_},   {&fullKvIdx_, false, nKV_, nQ_},
                {&qNum_, true, 1, nKV_},       {&qIdx_, false, nQ_, nKV_},
                {&fullQNum_, true, 1, nKV_},   {&fullQIdx_, false, nQ_, nKV_}};
  j.objectBegin();
  for (size_t i = 0; i < 8; ++i) {
    j.attributeBegin(fieldNames()[i]);
    array(*fields[i].v, fields[i].counts, fields[i].rowLen, fields[i].rows);
    j.attributeEnd();
  }
  j.attributeArray("block_size", [&] {
    j.value(shape_.qBlock);
    j.value(shape_.kvBlock);
  });
  j.attributeArray("seq_lengths", [&] {
    j.value(shape_.qLen);
    j.value(shape_.kvLen);
  });
  j.attribute("bytes", int64_t(bytes()));
  // llvm::json writes doubles with 17 digits; the shortest text that reads
  // back the same is kinder to read.
  j.attributeBegin("sparsity");
  j.rawValue(shortestDouble(sparsity()));
  j.attributeEnd();
  for (const auto &[name, json] : extra) {
    j.attributeBegin(name);
    j.rawValue(json);
    j.attributeEnd();
  }
  j.objectEnd();
  return out;
}

} // namespace flexjit
