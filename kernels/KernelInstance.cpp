// Dispatch of the template queries over KernelSpec (KernelInstance.h).
#include "kernels/KernelInstance.h"

namespace flexjit {

namespace {
template <class F> auto onTemplate(const KernelSpec &spec, F &&f) {
  return std::visit(
      [&](const auto &s) {
        using Spec = std::decay_t<decltype(s)>;
        return f(KernelTemplateOf<Spec>{}, s);
      },
      spec);
}
} // namespace

const char *templateName(const KernelSpec &spec) {
  return onTemplate(spec, [](auto t, const auto &) { return decltype(t)::name(); });
}

std::vector<ModSlot> modSlots(const KernelSpec &spec) {
  return onTemplate(spec, [](auto t, const auto &s) { return decltype(t)::modSlots(s); });
}

std::vector<EntryInfo> kernelEntries(const KernelInstance &instance) {
  return onTemplate(instance.spec, [&](auto t, const auto &s) {
    return decltype(t)::entries(s, instance.mods);
  });
}

std::string kernelRunName(const KernelInstance &instance) {
  return onTemplate(instance.spec, [&](auto t, const auto &s) {
    return decltype(t)::runName(s, instance.mods);
  });
}

Status checkKernelInstance(const KernelInstance &instance, const DeviceLimits &limits) {
  Status st =
      onTemplate(instance.spec, [&](auto t, const auto &s) { return decltype(t)::check(s, limits); });
  if (!st)
    return st;
  std::vector<ModSlot> slots = modSlots(instance.spec);
  std::string roles;
  for (const ModSlot &m : slots)
    roles += (roles.empty() ? "" : ", ") + m.role;
  if (instance.mods.size() != slots.size())
    return Error{"the " + std::string(templateName(instance.spec)) + " takes " +
                 std::to_string(slots.size()) + " mod(s)" + (roles.empty() ? "" : " (" + roles + ")") +
                 ", " + std::to_string(instance.mods.size()) + " given"};
  for (size_t i = 0; i < slots.size(); ++i)
    if (instance.mods[i].empty())
      return Error{"the " + std::string(templateName(instance.spec)) + "'s " + slots[i].role +
                   " is not named"};
  return Status::success();
}

} // namespace flexjit
