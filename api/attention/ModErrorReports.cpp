// Pending out-of-bounds reports of attention launches (ModErrorReports.hpp).
#include "api/attention/ModErrorReports.hpp"

#include "api/ModError.hpp"

#include <algorithm>

namespace flexjit {

Status describeLanded(const PendingModReport &report) {
  for (const ModRecord &m : report.records)
    if (m.slots && m.slots[0] != 0)
      return Error{ErrorKind::OutOfBounds,
                   "attention: " + describeOutOfBounds(m.mod, m.bufferNames, m.slots)};
  return Status::success();
}

void ModErrorReports::add(PendingModReport report) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(report));
}

void ModErrorReports::addSticky(StickyModRecord source) {
  std::lock_guard<std::mutex> lock(mu_);
  // Sources nothing can write any more go; one per context entry.
  sticky_.erase(std::remove_if(sticky_.begin(), sticky_.end(),
                               [](const StickyModRecord &s) { return s.alive.expired(); }),
                sticky_.end());
  for (const StickyModRecord &s : sticky_)
    if (s.id == source.id)
      return;
  sticky_.push_back(std::move(source));
}

size_t ModErrorReports::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

void ModErrorReports::take(const PendingModReport &r) {
  for (const ModRecord &m : r.records)
    if (m.slots && m.slots[0] != 0)
      found_.push_back(describeOutOfBounds(m.mod, m.bufferNames, m.slots));
}

Status ModErrorReports::next(const std::string &suffix) {
  if (found_.empty())
    return Status::success();
  std::string first = std::move(found_.front());
  found_.pop_front();
  // The same read again (the same call repeated before anything looked):
  // one report, counted.
  size_t more = 0;
  while (!found_.empty() && found_.front() == first) {
    found_.pop_front();
    ++more;
  }
  std::string counted =
      more ? " (and " + std::to_string(more) + " more call" + (more == 1 ? "" : "s") +
                 " read the same)"
           : "";
  return Error{ErrorKind::OutOfBounds, "attention: " + first + counted + suffix};
}

Status ModErrorReports::poll(const std::string &suffix) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const void *> blocked; // streams with a report not landed yet
  std::optional<Error> failure;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (std::find(blocked.begin(), blocked.end(), it->stream) != blocked.end()) {
      ++it;
      continue;
    }
    Result<bool> landed = it->done();
    if (!landed) {
      if (!failure)
        failure = landed.error();
      it = pending_.erase(it);
      continue;
    }
    if (!*landed) {
      blocked.push_back(it->stream);
      ++it;
      continue;
    }
    take(*it);
    it = pending_.erase(it);
  }
  if (failure)
    return failure->prefixed("attention: checking an earlier call's out-of-bounds report: ");
  return next(suffix);
}

Status ModErrorReports::waitAll(const std::string &suffix) {
  // Waited for without the lock: calls on other threads poll meanwhile.
  std::deque<PendingModReport> waiting;
  std::vector<StickyModRecord> sticky;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting.swap(pending_);
    sticky = sticky_;
  }
  std::optional<Error> failure;
  std::vector<std::string> found;
  for (const PendingModReport &r : waiting) {
    if (Status st = r.wait(); !st) {
      if (!failure)
        failure = st.error();
      continue;
    }
    for (const ModRecord &m : r.records)
      if (m.slots && m.slots[0] != 0)
        found.push_back(describeOutOfBounds(m.mod, m.bufferNames, m.slots));
  }
  for (const StickyModRecord &s : sticky) {
    if (s.alive.expired())
      continue;
    auto rec = s.readAndClear();
    if (!rec) {
      if (!failure)
        failure = rec.error();
      continue;
    }
    if ((*rec)[0] != 0)
      found.push_back(describeOutOfBounds(s.mod, s.bufferNames, rec->data()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (std::string &f : found)
    found_.push_back(std::move(f));
  if (failure)
    return failure->prefixed("attention: checking out-of-bounds reports: ");
  return next(suffix);
}

} // namespace flexjit
