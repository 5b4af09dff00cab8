#include "agent_slots.h"

#include <sys/resource.h>

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
  std::size_t opening = 0;
  for (std::size_t i : next) {
    devices[i].busy = true;
    if (!devices[i].agent && devices[i].dead.empty()) ++opening;
  }
  for (auto it = open_.begin(); it != open_.end() && open_.size() + opening > budget_;) {
    SimDevice& d = devices[it->second];
    if (d.busy) {
      ++it;
      continue;
    }
    d.agent.reset();
    d.used = 0;
    it = open_.erase(it);
  }
  for (std::size_t i : next) devices[i].busy = false;
}

void AgentSlots::Used(std::vector<SimDevice>& devices, std::span<const std::size_t> used) {
  for (std::size_t i : used) {
    SimDevice& d = devices[i];
    if (d.used != 0) open_.erase({d.used, i});
    d.used = 0;
    if (d.agent) {
      d.used = ++tick_;
      open_.insert({d.used, i});
    }
  }
}

}  // namespace ota::drill
