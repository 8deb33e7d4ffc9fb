// flex-bench's child-process line: written and read back with llvm::json.
#include "JitTimes.h"

#include <gtest/gtest.h>

using flexbench::JitTimes;
using flexbench::jitTimesLine;
using flexbench::readJitTimes;

namespace {

JitTimes sample() {
  JitTimes t;
  t.initMs = 41.5;
  t.parseMs = 0.125;
  t.blockMaskMs = 3.0;
  t.attentionHostMs = 812.0625;
  t.secondHostMs = 0.03125;
  t.firstCallMs = 900.1;
  t.kernelCompiled = true;
  return t;
}

TEST(JitTimesTest, RoundTripsThroughTheLine) {
  JitTimes t = sample();
  std::string line = jitTimesLine(t);
  EXPECT_EQ(line.rfind("FLEXBENCH_JIT {", 0), 0u) << line;
  EXPECT_EQ(line.back(), '\n');
  // Among the child's other output (the driver, warnings), with a newline.
  std::optional<JitTimes> back = readJitTimes("starting\n" + line + "done\n");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->initMs, t.initMs);
  EXPECT_EQ(back->parseMs, t.parseMs);
  EXPECT_EQ(back->blockMaskMs, t.blockMaskMs);
  EXPECT_EQ(back->attentionHostMs, t.attentionHostMs);
  EXPECT_EQ(back->secondHostMs, t.secondHostMs);
  EXPECT_EQ(back->firstCallMs, t.firstCallMs); // llvm::json keeps a double exactly
  EXPECT_TRUE(back->kernelCompiled);
  EXPECT_DOUBLE_EQ(back->jitMs(), 0.125 + 812.0625 - 0.03125);
}

TEST(JitTimesTest, KeyOrderAndSpacingDoNotMatter) {
  std::optional<JitTimes> t = readJitTimes(
      "FLEXBENCH_JIT { \"kernel_compiled\": false, \"first_call_ms\": 5, \"second_host_ms\": 1e-1,"
      " \"attention_host_ms\": 2, \"blockmask_ms\": 0, \"parse_ms\": 1.5, \"init_ms\": 7 }\n");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->kernelCompiled);
  EXPECT_EQ(t->secondHostMs, 0.1);
  EXPECT_EQ(t->parseMs, 1.5);
  EXPECT_EQ(t->initMs, 7);
}

TEST(JitTimesTest, NoResultWithoutEveryTime) {
  EXPECT_FALSE(readJitTimes(""));
  EXPECT_FALSE(readJitTimes("no line here\n"));
  // Not JSON; a member missing; a member of the wrong type; not an object.
  EXPECT_FALSE(readJitTimes("FLEXBENCH_JIT {\"init_ms\": \n"));
  std::string line = jitTimesLine(sample());
  std::string missing = line;
  missing.replace(missing.find("\"parse_ms\""), 10, "\"parse_mx\"");
  EXPECT_FALSE(readJitTimes(missing));
  std::string wrongType = line;
  size_t at = wrongType.find("true");
  ASSERT_NE(at, std::string::npos);
  wrongType.replace(at, 4, "\"yes\"");
  EXPECT_FALSE(readJitTimes(wrongType));
  EXPECT_FALSE(readJitTimes("FLEXBENCH_JIT [1, 2]\n"));
  // A substring search would have taken "init_ms" from inside a string.
  EXPECT_FALSE(readJitTimes("FLEXBENCH_JIT {\"note\": \"\\\"init_ms\\\": 1\"}\n"));
}

TEST(JitTimesTest, TheLastCompleteLineWins) {
  JitTimes first = sample(), second = sample();
  second.parseMs = 9;
  std::optional<JitTimes> t =
      readJitTimes(jitTimesLine(first) + jitTimesLine(second) + "FLEXBENCH_JIT {}\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->parseMs, 9);
}

} // namespace
