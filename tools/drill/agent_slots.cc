#include "agent_slots.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>

namespace ota::drill {

Result<std::size_t> OpenAgentBudget(std::uint64_t devices) {
  constexpr rlim_t kReserve = 256;  // The server, its clients, the drill's own files.
  const rlim_t need = static_cast<rlim_t>(devices * kFilesPerDevice) + kReserve;
  struct rlimit now {};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return static_cast<std::size_t>(devices);
  if (now.rlim_cur != RLIM_INFINITY && now.rlim_cur < need) {
    struct rlimit want = now;
    want.rlim_cur = need;
    if (want.rlim_max != RLIM_INFINITY && want.rlim_max < need) want.rlim_max = need;
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
      want = now;
      want.rlim_cur = now.rlim_max;
      (void)::setrlimit(RLIMIT_NOFILE, &want);
    }
    (void)::getrlimit(RLIMIT_NOFILE, &now);
  }
  if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= need) {
    return static_cast<std::size_t>(devices);
  }
  if (now.rlim_cur < kReserve + kFilesPerDevice) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a drill needs at least " + std::to_string(kReserve + kFilesPerDevice) +
                         " open files, and this process may open " + std::to_string(now.rlim_cur) +
                         " (ulimit -n): raise the limit");
  }
  return static_cast<std::size_t>((now.rlim_cur - kReserve) / kFilesPerDevice);
}

void AgentSlots::MakeRoom(std::vector<SimDevice>& devices, std::span<const std::size_t> next) {
  std::vector<std::size_t> keep(next.begin(), next.end());
  std::sort(keep.begin(), keep.end());
  std::size_t opening = 0;
  for (std::size_t i : next) opening += !devices[i].agent && devices[i].dead.empty() ? 1 : 0;
  for (auto it = open_.begin(); it != open_.end() && open_.size() + opening > budget_;) {
    const std::size_t i = it->second;
    if (std::binary_search(keep.begin(), keep.end(), i)) {
      ++it;
      continue;
    }
    devices[i].agent.reset();
    last_use_.erase(i);
    it = open_.erase(it);
  }
}

void AgentSlots::Used(std::vector<SimDevice>& devices, std::span<const std::size_t> used) {
  for (std::size_t i : used) {
    if (auto it = last_use_.find(i); it != last_use_.end()) {
      open_.erase({it->second, i});
      last_use_.erase(it);
    }
    if (devices[i].agent) {
      last_use_[i] = ++tick_;
      open_.insert({tick_, i});
    }
  }
}

}  // namespace ota::drill
