// The one bounded LRU of kernels and block masks.
#include "flexjit/Cache.hpp"

#include <algorithm>
#include <exception>
#include <new>
#include <thread>

namespace flexjit {

namespace {
Error oversized(CacheKind kind, size_t bytes, size_t bound) {
  return Error{ErrorKind::Cache, std::string("cache: a ") + cacheKindName(kind) + " entry of " +
                                     std::to_string(bytes) +
                                     " bytes exceeds the cache's byte bound of " +
                                     std::to_string(bound) +
                                     " bytes; raise it with Cache::setLimits"};
}
} // namespace

Status Cache::admits(CacheKind kind, size_t bytes) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (bytes > limits_.maxBytes)
    return oversized(kind, bytes, limits_.maxBytes);
  return Status::success();
}

/// A build in flight: the builder fills it, waiters read it once `done`.
struct Cache::Pending {
  bool done = false;
  std::thread::id builder;
  std::optional<Error> error;
  std::shared_ptr<void> object;
};

Cache::Cache(CacheLimits limits) : limits_(limits) {}

Cache::~Cache() {
  // Objects are released here at the latest (callers may still hold some).
  std::lock_guard<std::mutex> lk(mu_);
  lru_.clear();
  map_.clear();
}

CacheStats &Cache::statsFor(CacheKind kind, int device) {
  for (auto &r : stats_)
    if (r.kind == kind && r.device == device)
      return r.stats;
  StatsRow row{kind, device, {}};
  auto pos = std::find_if(stats_.begin(), stats_.end(), [&](const StatsRow &r) {
    return std::make_pair(int(r.kind), r.device) > std::make_pair(int(kind), device);
  });
  return stats_.insert(pos, row)->stats;
}

void Cache::account(const CacheKey &key, int64_t dBytes, int64_t dEntries) {
  CacheStats &s = statsFor(key.kind(), key.device());
  s.bytes = uint64_t(int64_t(s.bytes) + dBytes);
  s.entries = uint64_t(int64_t(s.entries) + dEntries);
  s.peakBytes = std::max(s.peakBytes, s.bytes);
  bytes_ = size_t(int64_t(bytes_) + dBytes);
  readyEntries_ = size_t(int64_t(readyEntries_) + dEntries);
  peakBytes_ = std::max(peakBytes_, bytes_);
}

uint64_t Cache::generationOf(int device) const {
  uint64_t g = allGeneration_;
  for (auto &[d, gen] : deviceGenerations_)
    if (d == device)
      g += gen;
  return g;
}

void Cache::eraseReady(
    std::unordered_map<CacheKey, Entry, CacheKeyHash>::iterator it,
    std::vector<std::shared_ptr<void>> &dropped) {
  account(it->first, -int64_t(it->second.bytes), -1);
  lru_.erase(it->second.lruPos);
  dropped.push_back(std::move(it->second.object));
  map_.erase(it);
}

void Cache::evictToLimits(size_t extraBytes, size_t extraEntries,
                          std::vector<std::shared_ptr<void>> &dropped) {
  while ((bytes_ + extraBytes > limits_.maxBytes ||
          readyEntries_ + extraEntries > limits_.maxEntries) &&
         !lru_.empty()) {
    const CacheKey *victim = lru_.back();
    auto it = map_.find(*victim);
    statsFor(victim->kind(), victim->device()).evictions++;
    eraseReady(it, dropped);
  }
}

Result<std::shared_ptr<void>> Cache::getOrCreate(const CacheKey &key,
                                                 const Factory &factory) {
  std::unique_lock<std::mutex> lk(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    Entry &e = it->second;
    if (!e.pending) {
      statsFor(key.kind(), key.device()).hits++;
      lru_.splice(lru_.begin(), lru_, e.lruPos);
      return e.object;
    }
    std::shared_ptr<Pending> p = e.pending;
    if (p->builder == std::this_thread::get_id())
      return Error{ErrorKind::Internal, std::string("cache: the factory of a ") +
                                            cacheKindName(key.kind()) +
                                            " entry asked the cache for its own key (a cycle)"};
    // Someone else is building it: wait, and count it as a hit (it is not
    // built twice).
    statsFor(key.kind(), key.device()).hits++;
    built_.wait(lk, [&] { return p->done; });
    if (p->error)
      return *p->error;
    return p->object;
  }

  statsFor(key.kind(), key.device()).misses++;
  auto pending = std::make_shared<Pending>();
  pending->builder = std::this_thread::get_id();
  Entry fresh;
  fresh.pending = pending;
  it = map_.emplace(key, std::move(fresh)).first;
  uint64_t generation = generationOf(key.device());
  lk.unlock();

  std::optional<Result<CacheValue>> made;
  try {
    made.emplace(factory());
  } catch (const std::bad_alloc &) {
    made.emplace(Error{ErrorKind::OutOfMemory, "cache: out of memory while building the value"});
  } catch (const std::exception &ex) {
    made.emplace(Error{ErrorKind::Internal, std::string("cache: the factory threw: ") + ex.what()});
  } catch (...) {
    made.emplace(Error{ErrorKind::Internal, "cache: the factory threw a non-standard exception"});
  }
  if (made->ok() && !(*made)->object)
    made.emplace(Error{ErrorKind::Internal, "cache: the factory returned no object"});

  std::vector<std::shared_ptr<void>> dropped;
  std::shared_ptr<void> result;
  lk.lock();
  // The pending entry is still ours: clears leave pending entries alone.
  it = map_.find(key);
  pending->done = true;
  if (made->ok() && (*made)->bytes > limits_.maxBytes)
    made.emplace(oversized(key.kind(), (*made)->bytes, limits_.maxBytes));
  if (!made->ok()) {
    statsFor(key.kind(), key.device()).failures++;
    pending->error = made->error();
    map_.erase(it);
    built_.notify_all();
    return made->error();
  }
  result = (*made)->object;
  pending->object = result;
  if (generationOf(key.device()) != generation || limits_.maxEntries == 0) {
    // Cleared while building (or nothing may be kept): hand it out uncached.
    map_.erase(it);
  } else {
    // Room first, so that the bounds hold at every instant (peaks included).
    evictToLimits((*made)->bytes, 1, dropped);
    Entry &e = it->second;
    e.pending.reset();
    e.object = result;
    e.bytes = (*made)->bytes;
    lru_.push_front(&it->first);
    e.lruPos = lru_.begin();
    account(key, int64_t(e.bytes), 1);
  }
  built_.notify_all();
  lk.unlock();
  dropped.clear(); // release actions run here, outside the lock
  return result;
}

std::shared_ptr<void> Cache::lookup(const CacheKey &key) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = map_.find(key);
  if (it == map_.end() || it->second.pending) {
    statsFor(key.kind(), key.device()).misses++;
    return nullptr;
  }
  statsFor(key.kind(), key.device()).hits++;
  lru_.splice(lru_.begin(), lru_, it->second.lruPos);
  return it->second.object;
}

bool Cache::contains(const CacheKey &key) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = map_.find(key);
  return it != map_.end() && !it->second.pending;
}

void Cache::clear() {
  std::vector<std::shared_ptr<void>> dropped;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++allGeneration_;
    for (auto it = map_.begin(); it != map_.end();) {
      auto next = std::next(it);
      if (!it->second.pending)
        eraseReady(it, dropped);
      it = next;
    }
  }
}

void Cache::clearDevice(int device) {
  std::vector<std::shared_ptr<void>> dropped;
  {
    std::lock_guard<std::mutex> lk(mu_);
    bool found = false;
    for (auto &[d, gen] : deviceGenerations_)
      if (d == device) {
        ++gen;
        found = true;
      }
    if (!found)
      deviceGenerations_.push_back({device, 1});
    for (auto it = map_.begin(); it != map_.end();) {
      auto next = std::next(it);
      if (!it->second.pending && it->first.device() == device)
        eraseReady(it, dropped);
      it = next;
    }
  }
}

void Cache::setLimits(CacheLimits limits) {
  std::vector<std::shared_ptr<void>> dropped;
  std::lock_guard<std::mutex> lk(mu_);
  limits_ = limits;
  evictToLimits(0, 0, dropped);
  // `dropped` is released after the lock: declared before the guard.
}

CacheLimits Cache::limits() const {
  std::lock_guard<std::mutex> lk(mu_);
  return limits_;
}

CacheStats Cache::stats(CacheKind kind, int device) const {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto &r : stats_)
    if (r.kind == kind && r.device == device)
      return r.stats;
  return {};
}

CacheStats Cache::totals() const {
  std::lock_guard<std::mutex> lk(mu_);
  CacheStats t;
  for (auto &r : stats_) {
    t.hits += r.stats.hits;
    t.misses += r.stats.misses;
    t.evictions += r.stats.evictions;
    t.failures += r.stats.failures;
  }
  t.entries = readyEntries_;
  t.bytes = bytes_;
  t.peakBytes = peakBytes_;
  return t;
}

std::vector<Cache::StatsRow> Cache::statsRows() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void Cache::resetCounters() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto &r : stats_) {
    r.stats.hits = r.stats.misses = r.stats.evictions = r.stats.failures = 0;
    r.stats.peakBytes = r.stats.bytes;
  }
  peakBytes_ = bytes_;
}

Cache &globalCache() {
  static Cache cache;
  return cache;
}

} // namespace flexjit
