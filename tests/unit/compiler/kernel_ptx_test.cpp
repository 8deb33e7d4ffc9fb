// The PTX of every kernel template, for the instantiations the tests use,
// against a recorded list of SHA-256 digests (kernel_ptx_hashes.txt): a
// change of the builders that is meant to leave the kernels alone must
// leave their PTX identical, and one that changes a kernel shows which.
//
//   scripts/kernel-ptx-check.sh            compare (this test), and on a
//                                          difference keep both PTX files
//   scripts/kernel-ptx-check.sh --update   record the digests of the code now
//
// Environment: FLEXJIT_PTX_DUMP_DIR=DIR writes every case's PTX to
// DIR/<case>.ptx; FLEXJIT_PTX_HASHES_UPDATE=1 rewrites the list instead of
// comparing. The list is only meaningful for the LLVM version it records
// (NVPTX's output changes between releases): under another, the test skips.
#include "backend_support.h"

#include "flexjit/AttentionSpec.hpp"
#include "flexjit/Frontend.hpp"
#include "kernels/KernelInstance.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/SHA256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace flexjit {
namespace {

using backendtest::sharedCompiler;
constexpr auto spec = backendtest::attentionSpec;

const char *kListPath = FLEXJIT_SOURCE_DIR "/tests/unit/compiler/kernel_ptx_hashes.txt";

std::shared_ptr<FileAST> examples() {
  static std::shared_ptr<FileAST> file = [] {
    auto f = loadFile(std::string(FLEXJIT_SOURCE_DIR) + "/examples/mods.flex");
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::shared_ptr<FileAST>(std::move(*f)) : nullptr;
  }();
  return file;
}

std::string sha256(const std::string &text) {
  llvm::SHA256 h;
  h.update(text);
  return llvm::toHex(h.final(), /*LowerCase=*/true);
}

/// The recorded list: case name -> digest, and the LLVM version it is for.
struct HashList {
  std::string llvmVersion;
  std::map<std::string, std::string> digests;
};

HashList readList() {
  HashList l;
  std::ifstream in(kListPath);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream s(line);
    std::string first, rest;
    s >> first;
    std::getline(s >> std::ws, rest);
    if (first == "llvm")
      l.llvmVersion = rest;
    else
      l.digests[rest] = first;
  }
  return l;
}

/// Rewrites the entries of `group` (case names starting with "<group> "),
/// keeping the other groups' lines.
void updateList(const std::string &group, const std::map<std::string, std::string> &now) {
  HashList l = readList();
  for (auto it = l.digests.begin(); it != l.digests.end();)
    it = it->first.rfind(group + " ", 0) == 0 ? l.digests.erase(it) : std::next(it);
  for (const auto &[name, digest] : now)
    l.digests[name] = digest;
  std::ofstream out(kListPath, std::ios::trunc);
  out << "# SHA-256 of the PTX of each kernel template instantiation that the tests use\n"
         "# (tests/unit/compiler/kernel_ptx_test.cpp). Rewrite with\n"
         "# scripts/kernel-ptx-check.sh --update after a change meant to change a kernel.\n"
      << "llvm " << LLVM_VERSION_STRING << "\n";
  for (const auto &[name, digest] : l.digests)
    out << digest << " " << name << "\n";
}

using PtxFn = std::function<Result<std::string>()>;

/// Compiles every case of `group`, then compares with (or records) the list.
void checkGroup(const std::string &group, const std::vector<std::pair<std::string, PtxFn>> &cases) {
  const char *dump = std::getenv("FLEXJIT_PTX_DUMP_DIR");
  if (dump && !*dump)
    dump = nullptr;
  const char *update = std::getenv("FLEXJIT_PTX_HASHES_UPDATE");
  const bool updating = update && std::string(update) == "1";
  HashList recorded = readList();
  if (!updating && recorded.llvmVersion != LLVM_VERSION_STRING)
    GTEST_SKIP() << "the digests are recorded for LLVM " << recorded.llvmVersion
                 << ", this build uses LLVM " << LLVM_VERSION_STRING
                 << " (record them with scripts/kernel-ptx-check.sh --update)";
  std::map<std::string, std::string> now;
  std::vector<std::string> changed;
  for (const auto &[name, fn] : cases) {
    std::string full = group + " " + name;
    auto ptx = fn();
    ASSERT_TRUE(ptx.ok()) << full << ": " << ptx.error().message;
    now[full] = sha256(*ptx);
    if (dump) {
      std::string file = full;
      for (char &c : file)
        if (c == ' ' || c == '/' || c == '=')
          c = '_';
      std::filesystem::create_directories(dump);
      std::ofstream(std::string(dump) + "/" + file + ".ptx") << *ptx;
    }
    auto it = recorded.digests.find(full);
    if (it == recorded.digests.end())
      changed.push_back(full + " (not in the list)");
    else if (it->second != now[full])
      changed.push_back(full);
  }
  if (updating) {
    updateList(group, now);
    return;
  }
  std::string all;
  for (const std::string &c : changed)
    all += "\n  " + c;
  EXPECT_TRUE(changed.empty())
      << changed.size() << " of " << cases.size() << " kernels' PTX differs from "
      << kListPath << ":" << all
      << "\nscripts/kernel-ptx-check.sh keeps both versions to compare; if the change is "
         "meant, record it with scripts/kernel-ptx-check.sh --update";
}

AttentionKernelSpec dense(AttentionKernelSpec s) {
  s.blockSparse = false;
  return s;
}

TEST(KernelPtx, AttentionForward) {
  auto file = examples();
  ASSERT_TRUE(file);
  struct C {
    AttentionKernelSpec spec;
    std::string score, mask, arch;
  };
  const DType bf = DType::BF16, f16 = DType::F16;
  std::vector<C> cs = {
      // tests/unit/compiler/attention_kernel_test.cpp
      {spec(bf, 128, 128, 128, 16, 64, 2), "alibi", "causal", "sm_80"},
      {spec(bf, 128, 128, 128, 32, 64, 2), "", "causal", "sm_80"},
      {spec(bf, 128, 128, 128, 16, 64, 2), "", "", "sm_80"},
      {spec(f16, 64, 64, 64, 16, 128, 3), "", "document", "sm_80"},
      {spec(bf, 64, 128, 128, 16, 32, 1), "softcap", "", "sm_80"},
      {spec(bf, 128, 128, 128, 16, 64, 2), "alibi_causal", "causal", "sm_80"},
      // tests/unit/attnkernel: every spec shape without mods, then mods
      {spec(bf, 64, 64, 128, 16, 64, 2), "", "", "sm_80"},
      {spec(bf, 64, 64, 128, 32, 64, 2), "", "", "sm_80"},
      {spec(bf, 64, 64, 64, 16, 128, 3), "", "", "sm_80"},
      {spec(bf, 64, 64, 64, 32, 32, 1), "", "", "sm_80"},
      {spec(bf, 128, 128, 64, 16, 128, 3), "", "", "sm_80"},
      {spec(bf, 128, 128, 64, 32, 32, 1), "", "", "sm_80"},
      {spec(bf, 64, 64, 128, 16, 64, 2), "alibi", "causal", "sm_80"},
      {spec(f16, 64, 128, 64, 16, 32, 3), "softcap", "document", "sm_80"},
      {spec(bf, 64, 64, 128, 16, 64, 2), "", "sliding_window", "sm_80"},
      {spec(bf, 64, 64, 128, 32, 128, 2), "", "prefix_lm", "sm_80"},
      // flexjit's own choices (defaultAttentionSpec), as Session::attention
      // and flexc compile them, on sm_80 and sm_90a (the first is also
      // attnkernel's 128-row, two-m-tile shape)
      {defaultAttentionSpec(bf, 128, 128, false, false), "", "", "sm_80"},
      {defaultAttentionSpec(bf, 128, 128, false, true), "", "causal", "sm_90a"},
      {defaultAttentionSpec(bf, 128, 128, true, true), "alibi", "causal", "sm_90a"},
      {defaultAttentionSpec(bf, 128, 128, true, true), "softcap", "document", "sm_90a"},
      {defaultAttentionSpec(f16, 64, 64, false, true), "", "causal", "sm_90a"},
      {defaultAttentionSpec(bf, 64, 64, true, false), "bias_2d", "", "sm_80"},
      {defaultAttentionSpec(bf, 64, 64, true, true), "soft_alibi", "document_causal", "sm_80"},
      {defaultAttentionSpec(f16, 128, 64, true, false), "causal_by_score", "", "sm_80"},
      {spec(bf, 128, 64, 128, 16, 128, 3), "", "", "sm_80"},
      // the rest of each dimension's values
      {spec(f16, 128, 128, 128, 16, 64, 1), "relative_position", "natten", "sm_80"},
      {spec(bf, 128, 128, 64, 32, 64, 3), "", "global_tokens", "sm_90a"},
      {spec(f16, 64, 64, 128, 32, 128, 1), "", "dilated_sliding_window", "sm_80"},
      // dense kernels: no mask mod and no block mask, every kv tile
      {dense(defaultAttentionSpec(bf, 128, 128, false, false)), "", "", "sm_80"},
      {dense(defaultAttentionSpec(bf, 128, 128, true, false)), "alibi", "", "sm_90a"},
      {dense(spec(f16, 64, 64, 64, 16, 32, 1)), "softcap", "", "sm_80"},
  };
  std::vector<std::pair<std::string, PtxFn>> cases;
  for (C c : cs) {
    c.spec.hasScoreMod = !c.score.empty();
    c.spec.hasMaskMod = !c.mask.empty();
    std::string name = c.arch + " " + c.spec.tag() + " score=" +
                       (c.score.empty() ? "none" : c.score) +
                       " mask=" + (c.mask.empty() ? "none" : c.mask);
    cases.emplace_back(name, [file, c]() -> Result<std::string> {
      auto k = sharedCompiler().attentionKernel(*file, c.score, c.mask, c.spec, c.arch);
      if (!k)
        return k.error();
      return k->ptx;
    });
  }
  checkGroup("attention", cases);
}

/// The cases of a template whose one mod is all that varies: (mod, arch).
std::vector<std::pair<std::string, PtxFn>>
oneModCases(const KernelSpec &spec, const std::vector<std::pair<const char *, const char *>> &mods) {
  auto file = examples();
  std::vector<std::pair<std::string, PtxFn>> cases;
  for (auto [mod, arch] : mods)
    cases.emplace_back(std::string(arch) + " " + mod,
                       [file, spec, mod = std::string(mod),
                        arch = std::string(arch)]() -> Result<std::string> {
                         auto k = sharedCompiler().compile(*file, KernelInstance{spec, {mod}}, arch);
                         if (!k)
                           return k.error();
                         return k->ptx;
                       });
  return cases;
}

TEST(KernelPtx, BlockMaskKernels) {
  ASSERT_TRUE(examples());
  checkGroup("blockmask", oneModCases(BlockMaskKernelsSpec{},
                                      {{"causal", "sm_80"},
                                       {"causal", "sm_90a"},
                                       {"document", "sm_80"},
                                       {"prefix_lm", "sm_80"},
                                       {"natten", "sm_80"},
                                       {"sliding_window", "sm_90a"},
                                       {"document_causal", "sm_80"}}));
}

TEST(KernelPtx, DenseMask) {
  ASSERT_TRUE(examples());
  checkGroup("densemask", oneModCases(DenseMaskKernelSpec{},
                                      {{"causal", "sm_80"},
                                       {"causal", "sm_90a"},
                                       {"document", "sm_80"},
                                       {"prefix_lm", "sm_80"},
                                       {"natten", "sm_80"},
                                       {"alibi", "sm_80"},
                                       {"softcap", "sm_90a"},
                                       {"bias_2d", "sm_80"},
                                       {"alibi_causal", "sm_80"}}));
}

} // namespace
} // namespace flexjit
