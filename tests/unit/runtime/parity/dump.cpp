// Dumps flexjit block masks for cases the parity script rebuilds in PyTorch.
#include "flexjit/BlockMask.hpp"
#include <cstdio>
#include <functional>
#include <string>
#include <vector>
using namespace flexjit;
static std::string esc(const std::string &s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o + "\"";
}
int main() {
  std::vector<int> docs(2 * 2048);
  // batch 0: 8 documents of uneven lengths; batch 1: 3 documents
  int b0[] = {100, 300, 37, 500, 211, 400, 300, 200};
  int at = 0;
  for (int d = 0; d < 8; ++d) for (int i = 0; i < b0[d]; ++i) docs[at++] = d;
  while (at < 2048) docs[at++] = 7;
  for (int i = 0; i < 2048; ++i) docs[2048 + i] = i < 700 ? 0 : i < 1500 ? 1 : 2;
  struct Case { const char *name; BlockMaskShape s; std::function<bool(int, int, int, int)> f; };
  std::vector<Case> cases = {
      {"causal", {1, 1, 512, 512, 128, 128}, [](int, int, int q, int kv) { return q >= kv; }},
      {"causal_odd", {1, 1, 1000, 777, 64, 32}, [](int, int, int q, int kv) { return q >= kv; }},
      {"sliding", {1, 2, 2048, 2048, 128, 128}, [](int, int h, int q, int kv) { return q >= kv && q - kv <= 256 + 128 * h; }},
      {"prefix_lm", {1, 1, 1500, 1500, 128, 128}, [](int, int, int q, int kv) { return kv < 300 || q >= kv; }},
      {"document", {2, 1, 2048, 2048, 128, 128}, [&](int b, int, int q, int kv) { return docs[b * 2048 + q] == docs[b * 2048 + kv]; }},
      {"heads", {2, 3, 333, 444, 16, 64}, [](int b, int h, int q, int kv) { return (q + h * 17 + kv / 3 + b) % 5 != 0 && q + 40 * h >= kv; }},
      {"all_tail", {1, 1, 200, 200, 128, 128}, [](int, int, int, int) { return true; }},
      {"big_causal", {1, 1, 8192, 8192, 128, 128}, [](int, int, int q, int kv) { return q >= kv; }},
      {"five_heads", {1, 5, 640, 640, 16, 16}, [](int, int h, int q, int kv) { return q + h * 16 >= kv; }},
  };
  for (auto &c : cases) {
    auto m = BlockMask::fromPredicate(c.s, c.f);
    if (!m.ok()) { std::fprintf(stderr, "%s: %s\n", c.name, m.error().message.c_str()); return 1; }
    std::printf("{\"name\": \"%s\", \"str\": %s, \"mask\": %s}\n", c.name, esc(m->str()).c_str(), m->toJSON().c_str());
  }
}
