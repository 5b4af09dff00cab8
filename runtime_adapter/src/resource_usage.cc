#include "resource_usage.h"

#include <sys/resource.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ota::runtime_adapter {

std::uint64_t PeakResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (status && std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    std::uint64_t kib = 0;
    std::string unit;
    if (fields >> kib >> unit && unit == "kB") return kib * 1024;
    break;
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0 && usage.ru_maxrss > 0) {
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB.
  }
  return 0;
}

}  // namespace ota::runtime_adapter
