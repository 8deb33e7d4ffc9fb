// SASS loops (SassLoops.h).
#include "hopper/SassLoops.h"

#include <regex>
#include <sstream>
#include <vector>

namespace flexjit::hoppertest {

namespace {
struct Instruction {
  unsigned long address;
  std::string text;
};
} // namespace

SassKvLoop attentionKvLoop(const std::string &sass) {
  // "        /*1f40*/                   HGMMA.64x128x16.F32.BF16 R24, ... ;"
  static const std::regex line(R"(^\s*/\*([0-9a-f]{4,})\*/\s+(.*?);)");
  static const std::regex branch(R"(\bBRA(?:\.U\.ANY)?\s+0x([0-9a-f]+))");
  std::vector<Instruction> code;
  std::istringstream in(sass);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, line))
      code.push_back({std::stoul(m[1].str(), nullptr, 16), m[2].str()});
  }
  auto isQk = [](const std::string &t) {
    return t.find("HGMMA") != std::string::npos && t.find("tnspB") == std::string::npos;
  };
  auto isPv = [](const std::string &t) {
    return t.find("HGMMA") != std::string::npos && t.find("tnspB") != std::string::npos;
  };
  SassKvLoop best;
  unsigned long bestSpan = ~0ul;
  for (const Instruction &i : code) {
    std::smatch m;
    if (!std::regex_search(i.text, m, branch))
      continue;
    unsigned long target = std::stoul(m[1].str(), nullptr, 16);
    if (target >= i.address || i.address - target >= bestSpan)
      continue;
    SassKvLoop loop;
    bool qk = false, pv = false;
    bool underPv = false; // between DEPBAR.LE 0x1 and the next 0x0
    for (const Instruction &j : code)
      if (j.address >= target && j.address <= i.address) {
        ++loop.instructions;
        if (j.text.find("DEPBAR.LE gsb0, 0x1") != std::string::npos)
          underPv = true;
        else if (j.text.find("DEPBAR.LE gsb0, 0x0") != std::string::npos)
          underPv = false;
        loop.exp2UnderPv += underPv && j.text.find("MUFU.EX2") != std::string::npos;
        qk |= isQk(j.text);
        pv |= isPv(j.text);
        loop.hgmma += j.text.find("HGMMA") != std::string::npos;
        loop.localAccesses += j.text.rfind("LDL", 0) == 0 || j.text.rfind("STL", 0) == 0 ||
                              j.text.find(" LDL") != std::string::npos ||
                              j.text.find(" STL") != std::string::npos;
      }
    if (qk && pv) {
      loop.found = true;
      best = loop;
      bestSpan = i.address - target;
    }
  }
  return best;
}

} // namespace flexjit::hoppertest
