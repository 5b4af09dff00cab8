// Which simulated devices' agents are open. Each open agent keeps about
// kFilesPerDevice files open, and a process may open only so many: beyond
// that, the least recently used agents are closed between their check-ins.
#ifndef OTA_TOOLS_DRILL_AGENT_SLOTS_H_
#define OTA_TOOLS_DRILL_AGENT_SLOTS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "fleet.h"
#include "ota/common/result.h"

namespace ota::drill {

// A device's state database (with its WAL and shared memory files) and its
// folder lock: about four files, five with room.
inline constexpr std::uint64_t kFilesPerDevice = 5;

// How many devices' agents may be open at once: this process's open-file
// limit, raised as far as it may go towards what all `devices` need, over
// kFilesPerDevice (all of them when the limit allows). kInvalidArgument
// when not even one fits beside the drill's own files.
Result<std::size_t> OpenAgentBudget(std::uint64_t devices);

class AgentSlots {
 public:
  explicit AgentSlots(std::size_t budget) : budget_(budget < 1 ? 1 : budget) {}

  // Agents open at once (at least 1).
  std::size_t budget() const { return budget_; }
  // Closes the least recently used agents of devices outside `next` until
  // the agents of `next` fit in the budget. `next` holds at most budget()
  // devices.
  void MakeRoom(std::vector<SimDevice>& devices, std::span<const std::size_t> next);
  // `used` were just used: their open agents are now the most recent.
  void Used(std::vector<SimDevice>& devices, std::span<const std::size_t> used);

 private:
  std::size_t budget_;
  std::uint64_t tick_ = 0;                                // Counts uses of agents.
  std::set<std::pair<std::uint64_t, std::size_t>> open_;  // Open agents: (last use, device).
  std::map<std::size_t, std::uint64_t> last_use_;         // Their last use, by device.
};

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_AGENT_SLOTS_H_
