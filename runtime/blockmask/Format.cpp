// Text forms of a BlockMask: PyTorch's to_string/str pictures and JSON.
#include "flexjit/BlockMask.hpp"

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
  std::string out = "{";
  auto array = [&](const std::vector<int32_t> &v, bool counts, int64_t rowLen,
                   int64_t rowsPerBH) {
    out += "[";
    for (int64_t b = 0; b < shape_.B; ++b) {
      out += b ? ", [" : "[";
      for (int64_t h = 0; h < shape_.H; ++h) {
        out += h ? ", [" : "[";
        const int32_t *base = v.data() + (b * shape_.H + h) * rowsPerBH * rowLen;
        for (int64_t r = 0; r < rowsPerBH; ++r) {
          if (counts) { // a count per row: a flat list
            out += r ? ", " : "";
            out += std::to_string(base[r]);
            continue;
          }
          out += r ? ", [" : "[";
          for (int64_t c = 0; c < rowLen; ++c) {
            if (c)
              out += ", ";
            out += std::to_string(base[r * rowLen + c]);
          }
          out += "]";
        }
        out += "]";
      }
      out += "]";
    }
    out += "]";
  };
  struct {
    const std::vector<int32_t> *v;
    bool counts;
    int64_t rowLen, rows;
  } fields[] = {{&kvNum_, true, 1, nQ_},       {&kvIdx_, false, nKV_, nQ_},
                {&fullKvNum_, true, 1, nQ_},   {&fullKvIdx_, false, nKV_, nQ_},
                {&qNum_, true, 1, nKV_},       {&qIdx_, false, nQ_, nKV_},
                {&fullQNum_, true, 1, nKV_},   {&fullQIdx_, false, nQ_, nKV_}};
  for (size_t i = 0; i < 8; ++i) {
    out += i ? ", \"" : "\"";
    out += fieldNames()[i];
    out += "\": ";
    array(*fields[i].v, fields[i].counts, fields[i].rowLen, fields[i].rows);
  }
  out += ", \"block_size\": [" + std::to_string(shape_.qBlock) + ", " +
         std::to_string(shape_.kvBlock) + "]";
  out += ", \"seq_lengths\": [" + std::to_string(shape_.qLen) + ", " +
         std::to_string(shape_.kvLen) + "]";
  out += ", \"bytes\": " + std::to_string(bytes());
  out += ", \"sparsity\": " + shortestDouble(sparsity());
  for (const auto &[name, json] : extra)
    out += ", \"" + name + "\": " + json;
  out += "}";
  return out;
}

} // namespace flexjit
