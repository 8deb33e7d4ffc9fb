// The bookkeeping of out-of-bounds reports that land after their calls
// (api/attention/ModErrorReports.hpp), with fake events: no GPU needed.
#include "api/attention/ModErrorReports.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>

using namespace flexjit;

namespace {

/// A report whose "event" is a flag the test sets, and whose record is
/// host memory the test writes (as the async copy would).
struct FakeReport {
  bool landed = false;
  int waits = 0;
  std::array<int64_t, 4> record{0, 0, 0, 0};
  std::array<int64_t, 4> scoreRecord{0, 0, 0, 0};
};

PendingModReport pending(const std::shared_ptr<FakeReport> &f, const void *stream,
                         bool withScore = false) {
  PendingModReport r;
  r.stream = stream;
  r.done = [f]() -> Result<bool> { return f->landed; };
  r.wait = [f]() -> Status {
    ++f->waits;
    f->landed = true;
    return Status::success();
  };
  r.records.push_back({"document", {"doc_id"}, f->record.data()});
  if (withScore)
    r.records.push_back({"alibi", {"slopes"}, f->scoreRecord.data()});
  r.hold = f;
  return r;
}

const std::string kSuffix = " (by an earlier call)";

/// The record of a read of index 300 of dimension 0 of buffer slot 0, whose size is 256.
void readOutOfBounds(std::array<int64_t, 4> &rec, int64_t index = 300) { rec = {1, 0, index, 256}; }

} // namespace

TEST(ModErrorReportsTest, NothingUntilItLandsThenReportedOnce) {
  ModErrorReports reports;
  auto f = std::make_shared<FakeReport>();
  reports.add(pending(f, nullptr));
  readOutOfBounds(f->record); // written, but the copy has not landed
  EXPECT_TRUE(reports.poll(kSuffix).ok());
  EXPECT_EQ(reports.pending(), 1u);
  f->landed = true;
  Status st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds);
  EXPECT_EQ(st.message(), "attention: mod 'document' read buffer 'doc_id' out of bounds: index "
                          "300 of dimension 0, whose size is 256 (by an earlier call)");
  EXPECT_EQ(reports.pending(), 0u);
  EXPECT_EQ(f.use_count(), 1) << "the host copy is let go once consumed";
  EXPECT_TRUE(reports.poll(kSuffix).ok()) << "reported once";
  EXPECT_TRUE(reports.waitAll(kSuffix).ok()) << "reported once";
}

TEST(ModErrorReportsTest, ClearRecordsReportNothing) {
  ModErrorReports reports;
  auto f = std::make_shared<FakeReport>();
  f->landed = true;
  reports.add(pending(f, nullptr, true));
  EXPECT_TRUE(reports.poll(kSuffix).ok());
  EXPECT_EQ(reports.pending(), 0u);
}

TEST(ModErrorReportsTest, OneStreamInOrderOthersIndependent) {
  ModErrorReports reports;
  int a = 0, b = 0; // two streams
  auto first = std::make_shared<FakeReport>(), second = std::make_shared<FakeReport>(),
       other = std::make_shared<FakeReport>();
  reports.add(pending(first, &a));
  reports.add(pending(second, &a));
  reports.add(pending(other, &b));
  // Stream a's second report cannot have landed before its first: not
  // looked at while the first has not.
  second->landed = true;
  readOutOfBounds(second->record, 301);
  other->landed = true;
  EXPECT_TRUE(reports.poll(kSuffix).ok());
  EXPECT_EQ(reports.pending(), 2u); // stream b's consumed, both of a's kept
  first->landed = true;
  Status st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("index 301"), std::string::npos) << st.message();
  EXPECT_EQ(reports.pending(), 0u);
}

TEST(ModErrorReportsTest, SeveralReadsOneAtATimeSameOnesCounted) {
  ModErrorReports reports;
  std::vector<std::shared_ptr<FakeReport>> f;
  for (int i = 0; i < 4; ++i) {
    f.push_back(std::make_shared<FakeReport>());
    f.back()->landed = true;
    reports.add(pending(f.back(), nullptr, true));
  }
  readOutOfBounds(f[0]->record, 300);
  readOutOfBounds(f[1]->record, 300); // the same read, a later call
  readOutOfBounds(f[2]->record, 500);
  f[3]->scoreRecord = {1, 0, 9, 4};
  Status st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "attention: mod 'document' read buffer 'doc_id' out of bounds: index "
                          "300 of dimension 0, whose size is 256 (and 1 more call read the same)"
                          " (by an earlier call)");
  st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("index 500"), std::string::npos) << st.message();
  st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "attention: mod 'alibi' read buffer 'slopes' out of bounds: index 9 "
                          "of dimension 0, whose size is 4 (by an earlier call)");
  EXPECT_TRUE(reports.poll(kSuffix).ok());
}

TEST(ModErrorReportsTest, WaitAllWaitsForEveryReport) {
  ModErrorReports reports;
  int a = 0, b = 0;
  auto f = std::make_shared<FakeReport>(), g = std::make_shared<FakeReport>();
  reports.add(pending(f, &a));
  reports.add(pending(g, &b));
  readOutOfBounds(g->record);
  Status st = reports.waitAll(kSuffix);
  EXPECT_EQ(f->waits, 1);
  EXPECT_EQ(g->waits, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::OutOfBounds);
  EXPECT_EQ(reports.pending(), 0u);
  EXPECT_TRUE(reports.waitAll(kSuffix).ok());
  EXPECT_EQ(f->waits, 1) << "waited once";
}

TEST(ModErrorReportsTest, StickyRecordsReadOnRequest) {
  ModErrorReports reports;
  auto entry = std::make_shared<int>(0);
  std::array<int64_t, 4> device{1, 0, 77, 50}; // what a graph replay left
  int reads = 0;
  auto source = [&](const void *id, std::weak_ptr<const void> alive) {
    StickyModRecord s;
    s.id = id;
    s.alive = alive;
    s.readAndClear = [&]() -> Result<std::array<int64_t, 4>> {
      ++reads;
      auto r = device;
      device = {0, 0, 0, 0};
      return r;
    };
    s.mod = "document";
    s.bufferNames = {"doc_id"};
    return s;
  };
  reports.addSticky(source(entry.get(), entry));
  reports.addSticky(source(entry.get(), entry)); // the same entry: once
  EXPECT_TRUE(reports.poll(kSuffix).ok()) << "poll never reads device records";
  Status st = reports.waitAll(kSuffix);
  EXPECT_EQ(reads, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("index 77 of dimension 0, whose size is 50"), std::string::npos)
      << st.message();
  EXPECT_TRUE(reports.waitAll(kSuffix).ok()) << "cleared when read";
  EXPECT_EQ(reads, 2);
  entry.reset(); // the entry and its graphs are gone: never read again
  device = {1, 0, 1, 1};
  EXPECT_TRUE(reports.waitAll(kSuffix).ok());
  EXPECT_EQ(reads, 2);
}

TEST(ModErrorReportsTest, AFailedQueryIsADeviceError) {
  ModErrorReports reports;
  PendingModReport r;
  r.done = []() -> Result<bool> {
    return Error{ErrorKind::Device, "querying a CUDA event: CUDA_ERROR_ILLEGAL_ADDRESS"};
  };
  r.wait = [] { return Status::success(); };
  reports.add(std::move(r));
  Status st = reports.poll(kSuffix);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::Device);
  EXPECT_NE(st.message().find("CUDA_ERROR_ILLEGAL_ADDRESS"), std::string::npos) << st.message();
  EXPECT_EQ(reports.pending(), 0u) << "dropped, not failed again";
  EXPECT_TRUE(reports.poll(kSuffix).ok());
}
