// The tools' shared command line (tools/cli): llvm::cl options in a
// subcommand of their own, parsed with the tools' exit statuses.
#include "CommandLine.h"

#include <gtest/gtest.h>

#include <vector>

namespace cl = llvm::cl;
using flexjit::cli::Failure;
using flexjit::cli::kUsageError;

namespace {

cl::SubCommand testCommand("cli-test", "options of this test");
cl::OptionCategory testCategory("cli test options");
cl::opt<int64_t> count("count", cl::init(3), cl::sub(testCommand), cl::cat(testCategory));
cl::opt<std::string> name("name", cl::sub(testCommand), cl::cat(testCategory));
cl::list<std::string> items("item", cl::CommaSeparated, cl::sub(testCommand),
                            cl::cat(testCategory));
cl::opt<std::string> input(cl::Positional, cl::sub(testCommand), cl::cat(testCategory));

/// Parses `args` after "tool cli-test"; the exit status a mistake gives, or 0.
int parse(std::vector<const char *> args) {
  cl::ResetAllOptionOccurrences();
  args.insert(args.begin(), {"/some/where/tool", "cli-test"});
  try {
    flexjit::cli::parse(int(args.size()), const_cast<char **>(args.data()), "a test",
                        {&testCategory}, "0.0");
  } catch (const Failure &f) {
    return f.code;
  }
  return 0;
}

TEST(CommandLineTest, ParsesIntoTheOptions) {
  ASSERT_EQ(parse({"in.flex", "--count", "7", "--name=x", "--item", "a,b", "--item=c"}), 0);
  EXPECT_TRUE(testCommand);
  EXPECT_EQ(flexjit::cli::toolName(), "tool cli-test");
  EXPECT_EQ(count, 7);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(input, "in.flex");
  EXPECT_EQ(std::vector<std::string>(items.begin(), items.end()),
            (std::vector<std::string>{"a", "b", "c"}));
}

TEST(CommandLineTest, MistakesAreUsageErrors) {
  EXPECT_EQ(parse({"--frobnicate"}), kUsageError);
  EXPECT_EQ(parse({"--count", "x"}), kUsageError);
  EXPECT_EQ(parse({"--count"}), kUsageError);
  EXPECT_EQ(parse({"a.flex", "b.flex"}), kUsageError);
  EXPECT_EQ(parse({"-count", "1"}), kUsageError); // long options take two dashes
}

TEST(CommandLineTest, RangeChecksAreUsageErrors) {
  ASSERT_EQ(parse({"--count", "5"}), 0);
  EXPECT_EQ(flexjit::cli::inRange(count, 1, 5), 5);
  try {
    flexjit::cli::inRange(count, 1, 4);
    FAIL() << "no usage error";
  } catch (const Failure &f) {
    EXPECT_EQ(f.code, kUsageError);
  }
}

TEST(CommandLineTest, LlvmsOwnOptionsAreHidden) {
  ASSERT_EQ(parse({}), 0);
  // Ours stay visible; LLVM's own top-level options (there are some in
  // any program linking it), all but the generic ones (--help, --version),
  // are hidden from --help.
  EXPECT_EQ(count.getOptionHiddenFlag(), cl::NotHidden);
  int hidden = 0;
  for (auto &[key, option] : cl::getRegisteredOptions(cl::SubCommand::getTopLevel())) {
    bool generic = false;
    for (cl::OptionCategory *c : option->Categories)
      generic |= c->getName() == "Generic Options";
    if (generic)
      continue;
    EXPECT_EQ(option->getOptionHiddenFlag(), cl::ReallyHidden) << key.str();
    ++hidden;
  }
  EXPECT_GT(hidden, 0);
}

} // namespace
