// The out-of-bounds reports of a Session's attention launches that nobody
// has looked at yet (docs/attention.md, "When an out-of-bounds read is
// reported"). A launch whose mods read buffers leaves its error records in
// device memory; the launch's stream then copies them to the host
// (asynchronously) and marks the copy with an event. This class holds those
// pending copies and turns the ones that have landed into Errors: without
// waiting at each call (poll), or waiting for all of them (waitAll:
// Session::checkModErrors). Each record is reported once.
//
// No driver here: a report's event is reached through `done` / `wait`, so
// the bookkeeping is tested without a GPU (ModErrorReportsTest).
#pragma once

#include "flexjit/Error.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace flexjit {

/// One mod's error record (ModABI.h's 4 slots) and what names its report.
struct ModRecord {
  std::string mod;                      ///< the mod's name
  std::vector<std::string> bufferNames; ///< its buffers in slot order
  /// Host memory holding the record once the report has landed.
  const int64_t *slots = nullptr;
};

/// One launch's report on its way to the host.
struct PendingModReport {
  /// The stream it was queued on: reports on one stream land in order.
  const void *stream = nullptr;
  /// Whether it has landed, without waiting (an Error: the device failed).
  std::function<Result<bool>()> done;
  /// Waits until it has landed.
  std::function<Status()> wait;
  /// The mask mod's record first, then the score mod's (today's order of
  /// describeModErrors).
  std::vector<ModRecord> records;
  /// What holds the host copy (and its event); let go once consumed.
  std::shared_ptr<void> hold;
};

/// An error record that stays in device memory (a context used by a
/// captured CUDA graph, whose replays nothing copies): read and cleared on
/// request by `readAndClear`, which waits for the device itself.
struct StickyModRecord {
  const void *id = nullptr;     ///< one source per id (the context entry)
  std::weak_ptr<const void> alive; ///< expired: nothing can write it any more
  std::function<Result<std::array<int64_t, 4>>()> readAndClear;
  std::string mod;
  std::vector<std::string> bufferNames;
};

/// What a report's message ends with when a later call finds it (the call
/// then does not run), and when Session::checkModErrors does.
inline const char *const kReadFoundByLaterCall =
    " (read by an earlier call's kernel on this Session, reported now; this call did not run)";
inline const char *const kReadFoundByCheck = " (read by an earlier call's kernel on this Session)";

/// A landed report's first out-of-bounds read as an OutOfBounds Error
/// "attention: <describeOutOfBounds>" (the call's own: no suffix), else
/// success.
Status describeLanded(const PendingModReport &report);

class ModErrorReports {
public:
  void add(PendingModReport report);
  void addSticky(StickyModRecord source);

  /// Consumes the reports that have landed, without waiting (per stream in
  /// launch order, stopping at the first that has not); then reports the
  /// oldest out-of-bounds read found and not reported yet, as an
  /// OutOfBounds Error "attention: <describeOutOfBounds>" + `suffix` (reads
  /// with the same message found with it are reported with it, counted).
  /// Reads found later stay for the next poll or waitAll. A device failure
  /// of a query is a Device Error (that report is dropped).
  Status poll(const std::string &suffix);

  /// Waits for every pending report, reads and clears the sticky records,
  /// then reports as poll does.
  Status waitAll(const std::string &suffix);

  /// Reports not landed yet (tests).
  size_t pending() const;

private:
  /// The records of a landed report, in order, into found_ (mu_ held).
  void take(const PendingModReport &r);
  /// The oldest found read as an Error with `suffix`, or success (mu_ held).
  Status next(const std::string &suffix);

  mutable std::mutex mu_;
  std::deque<PendingModReport> pending_;
  std::vector<StickyModRecord> sticky_;
  std::deque<std::string> found_; ///< reads found, not reported yet (described)
};

} // namespace flexjit
