// SASS loops (SassLoops.h).
#include "hopper/SassLoops.h"

#include <algorithm>
#include <iterator>
#include <regex>
#include <sstream>
#include <vector>

namespace flexjit::hoppertest {

namespace {
struct Instruction {
  unsigned long address;
  std::string text;
};

/// cuobjdump's instructions of `sass`, in address order.
std::vector<Instruction> instructionsOf(const std::string &sass) {
  // "        /*1f40*/                   HGMMA.64x128x16.F32.BF16 R24, ... ;"
  static const std::regex line(R"(^\s*/\*([0-9a-f]{4,})\*/\s+(.*?);)");
  std::vector<Instruction> code;
  std::istringstream in(sass);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, line))
      code.push_back({std::stoul(m[1].str(), nullptr, 16), m[2].str()});
  }
  return code;
}
} // namespace

std::vector<SassKvLoop> attentionKvLoops(const std::string &sass) {
  static const std::regex branch(R"(\bBRA(?:\.U\.ANY)?\s+0x([0-9a-f]+))");
  std::vector<Instruction> code = instructionsOf(sass);
  auto branchTarget = [](const std::string &text, unsigned long &target) {
    std::smatch m;
    if (!std::regex_search(text, m, branch))
      return false;
    target = std::stoul(m[1].str(), nullptr, 16);
    return true;
  };
  auto isQk = [](const std::string &t) {
    return t.find("HGMMA") != std::string::npos && t.find("tnspB") == std::string::npos;
  };
  auto isPv = [](const std::string &t) {
    return t.find("HGMMA") != std::string::npos && t.find("tnspB") != std::string::npos;
  };
  struct Span {
    unsigned long from, to;
    SassKvLoop loop;
  };
  std::vector<Span> found;
  for (size_t at = 0; at < code.size(); ++at) {
    const Instruction &i = code[at];
    unsigned long target;
    if (!branchTarget(i.text, target) || target >= i.address)
      continue;
    auto head = std::find_if(code.begin(), code.end(),
                             [&](const Instruction &j) { return j.address == target; });
    // A retry's jump back: the instruction before its target branches
    // forward into the block that jumps back.
    unsigned long retry;
    if (head != code.begin() && head != code.end() && branchTarget(std::prev(head)->text, retry) &&
        retry > target && retry <= i.address)
      continue;
    SassKvLoop loop;
    loop.from = target;
    loop.to = i.address;
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
      found.push_back({target, i.address, loop});
    }
  }
  // Innermost: holding no other such loop.
  std::vector<SassKvLoop> loops;
  for (const Span &s : found)
    if (std::none_of(found.begin(), found.end(), [&](const Span &t) {
          return &t != &s && s.from <= t.from && t.to <= s.to;
        }))
      loops.push_back(s.loop);
  return loops;
}

std::vector<SassUnswitchedLoop> unswitchedKvLoops(const std::string &sass,
                                                  const std::vector<SassKvLoop> &loops) {
  // "B2R.RESULT RZ, P0 ;", then "@!P0 BRA 0x17550 ;" (or "@P0 BRA") ending its block.
  static const std::regex result(R"(^B2R\.RESULT\s+\w+,\s+(P\d)\s*$)");
  static const std::regex branch(R"(^@(!?)(P\d)\s+BRA\s+0x([0-9a-f]+)\s*$)");
  std::vector<Instruction> code = instructionsOf(sass);
  auto firstLoopFrom = [&](unsigned long address) -> const SassKvLoop * {
    for (const SassKvLoop &l : loops)
      if (l.from >= address)
        return &l;
    return nullptr;
  };
  std::vector<SassUnswitchedLoop> pairs;
  for (size_t at = 0; at < code.size(); ++at) {
    std::smatch r;
    if (!std::regex_search(code[at].text, r, result))
      continue;
    // The first branch after it ends its block: the choice, if on that predicate.
    for (size_t j = at + 1; j < code.size(); ++j) {
      if (code[j].text.find("BRA") == std::string::npos)
        continue;
      std::smatch b;
      if (!std::regex_search(code[j].text, b, branch) || b[2].str() != r[1].str())
        break;
      unsigned long target = std::stoul(b[3].str(), nullptr, 16);
      unsigned long next = j + 1 < code.size() ? code[j + 1].address : target;
      // @!P: taken where no thread voted, to the copy; @P: to the loop.
      bool toCopy = b[1].str() == "!";
      const SassKvLoop *with = firstLoopFrom(toCopy ? next : target);
      const SassKvLoop *without = firstLoopFrom(toCopy ? target : next);
      if (with && without && with != without)
        pairs.push_back({with->from, without->from});
      break;
    }
  }
  return pairs;
}

SassKvLoop attentionKvLoop(const std::string &sass) {
  std::vector<SassKvLoop> loops = attentionKvLoops(sass);
  auto smallest = std::min_element(loops.begin(), loops.end(),
                                   [](const SassKvLoop &a, const SassKvLoop &b) {
                                     return a.instructions < b.instructions;
                                   });
  return smallest == loops.end() ? SassKvLoop() : *smallest;
}

} // namespace flexjit::hoppertest
