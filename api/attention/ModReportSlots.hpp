// Host memory and events for the out-of-bounds reports of attention
// launches (ModErrorReports.hpp): after a launch whose mods read buffers,
// its stream copies the contexts' error records into a slot and records the
// slot's event, and the Session reads the slot once the event has passed.
// Slots come from a pool per device (page-locked memory, so that the copy
// is asynchronous; events made once per slot) and go back when let go.
#pragma once

#include "flexjit/Runtime.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace flexjit {

class ModReportSlot {
public:
  /// Records per slot: the mask mod's, the score mod's.
  static constexpr size_t kRecords = 2;
  static constexpr size_t kBytes = kRecords * 4 * sizeof(int64_t);

  ModReportSlot(int64_t *words, bool pinned) : words_(words), pinned_(pinned) {}
  /// Record i's 4 slots (ModABI.h).
  int64_t *record(size_t i) { return words_ + 4 * i; }
  cuda::Event &event() { return event_; }
  /// False where page-locked memory could not be had: a copy into the slot
  /// then returns only once it is done (the call waits).
  bool pinned() const { return pinned_; }

private:
  friend Result<std::shared_ptr<ModReportSlot>> takeModReportSlot(const cuda::Context &ctx);
  int64_t *words_;
  bool pinned_;
  cuda::Event event_;
};

/// A free slot of `ctx`'s device, its records zeroed and its event made;
/// back in the pool when the last holder lets go. The pool grows by 1024
/// slots (one 64 KB page-locked allocation) when every slot is taken and is
/// never freed (its memory is the driver's until exit).
Result<std::shared_ptr<ModReportSlot>> takeModReportSlot(const cuda::Context &ctx);

} // namespace flexjit
