// Process resource figures for ResourceFigures.
#ifndef OTA_RUNTIME_ADAPTER_SRC_RESOURCE_USAGE_H_
#define OTA_RUNTIME_ADAPTER_SRC_RESOURCE_USAGE_H_

#include <cstdint>

namespace ota::runtime_adapter {

// The process's peak resident set size in bytes: VmHWM from
// /proc/self/status, else getrusage's ru_maxrss; 0 if neither is available.
std::uint64_t PeakResidentBytes();

// CPU seconds the process has used so far (every thread), from
// CLOCK_PROCESS_CPUTIME_ID; 0 if the platform cannot tell.
double ProcessCpuSeconds();

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_RESOURCE_USAGE_H_
