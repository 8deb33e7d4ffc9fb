// The per-device pools of report slots (ModReportSlots.hpp).
#include "api/attention/ModReportSlots.hpp"

#include "api/DeviceModContext.hpp"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace flexjit {

namespace {

struct SlotPool {
  static constexpr size_t kChunkBytes = 64 << 10;
  std::mutex mu;
  std::vector<std::unique_ptr<HostStaging>> chunks;
  std::vector<std::unique_ptr<ModReportSlot>> slots;
  std::vector<ModReportSlot *> free;
};

/// Never destroyed: slots may be let go during exit.
SlotPool &poolFor(int device) {
  static std::mutex mu;
  static auto *pools = new std::map<int, std::unique_ptr<SlotPool>>();
  std::lock_guard<std::mutex> lock(mu);
  auto &p = (*pools)[device];
  if (!p)
    p = std::make_unique<SlotPool>();
  return *p;
}

} // namespace

Result<std::shared_ptr<ModReportSlot>> takeModReportSlot(const cuda::Context &ctx) {
  SlotPool &pool = poolFor(ctx.device());
  ModReportSlot *slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    if (pool.free.empty()) {
      auto chunk = std::make_unique<HostStaging>();
      chunk->reserve(ctx, SlotPool::kChunkBytes);
      auto *words = reinterpret_cast<int64_t *>(chunk->data());
      const size_t n = SlotPool::kChunkBytes / ModReportSlot::kBytes;
      for (size_t i = 0; i < n; ++i) {
        pool.slots.push_back(std::make_unique<ModReportSlot>(
            words + i * (ModReportSlot::kBytes / sizeof(int64_t)), chunk->pinned()));
        pool.free.push_back(pool.slots.back().get());
      }
      pool.chunks.push_back(std::move(chunk));
    }
    slot = pool.free.back();
    pool.free.pop_back();
  }
  auto back = [&pool](ModReportSlot *s) {
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.free.push_back(s);
  };
  if (!slot->event_.valid()) {
    auto e = cuda::Event::create(ctx, /*timing=*/false);
    if (!e) {
      back(slot);
      return e.error();
    }
    slot->event_ = std::move(*e);
  }
  std::memset(slot->words_, 0, ModReportSlot::kBytes);
  return std::shared_ptr<ModReportSlot>(slot, back);
}

} // namespace flexjit
