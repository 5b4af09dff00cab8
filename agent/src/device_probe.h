// What this device can run: RAM, disk, CPU, OS, accelerators, runtimes and
// the app's version (rollout/capability.h), probed from the system and then
// overridden by the agent's facts file (docs/operator-guide.md, "Device
// facts"). Mobile apps, containers and tests supply their own facts there.
#ifndef OTA_AGENT_SRC_DEVICE_PROBE_H_
#define OTA_AGENT_SRC_DEVICE_PROBE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/rollout/capability.h"
#include "ota/rollout/evaluate.h"
#include "ota/runtime_adapter/runtime_registry.h"

namespace ota::agent {

// The facts file in the state folder; optional.
inline constexpr char kDeviceFactsFile[] = "device-facts.json";
inline constexpr std::uint64_t kMaxDeviceFactsBytes = 64 * 1024;

// Where the probe looks; tests point these at fixture folders.
struct ProbeSources {
  std::string meminfo = "/proc/meminfo";
  std::string cpuinfo = "/proc/cpuinfo";
  std::string dev = "/dev";
};

struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
};

// /proc/meminfo: MemTotal and MemAvailable (kB). Missing lines give 0.
MemInfo ParseMeminfo(std::string_view text);

// CPU features from /proc/cpuinfo ("flags" on x86, "Features" on Arm),
// lower-cased, plus the common names apps ask for: "avx512" when any
// avx512* flag is present, "neon" for asimd, "dotprod" for asimddp,
// "i8mm", "sve", "fp16" (fphp/asimdhp) as they are.
std::set<std::string> ParseCpuFeatures(std::string_view cpuinfo);

// Normalised architecture name: "x86_64", "aarch64", "armv7", "i686", "riscv64"...
std::string NormaliseArch(std::string_view machine);

// Probes the running system. store_dir is where models are kept (its
// filesystem's free space is reported). Unknown values stay empty/zero.
Result<rollout::DeviceCapabilities> ProbeDevice(FileSystem& fs, const std::string& store_dir,
                                                const ProbeSources& sources = {});

// Applies a facts object over probed values. Fields (all optional):
//   total_ram, available_ram, free_disk (integers, bytes), cpu_arch, os,
//   os_version, app_version (strings), cpu_features, accelerators (arrays of
//   names; they replace the probed sets), runtimes ({"name": "version"}),
//   and the rollout selector facts: tags (array of at most 100 distinct
//   strings), region (string), attributes ({"name": "value"}, at most 100);
//   these strings are 1 to 256 bytes without control characters.
// Unknown fields and wrong types are refused (kInvalidArgument naming the
// field), leaving `device` unchanged.
Status ApplyDeviceFacts(const nlohmann::json& facts, rollout::DeviceCapabilities& device);

// Probe, then the runtimes this agent was built with (name -> version), then
// <state_dir>/device-facts.json if present.
Result<rollout::DeviceCapabilities> LoadDeviceCapabilities(
    FileSystem& fs, const std::string& state_dir, const std::string& store_dir,
    const std::map<std::string, manifest::Version>& runtimes = {},
    const ProbeSources& sources = {});

// Name -> version of every runtime in `registry`.
std::map<std::string, manifest::Version> RuntimeVersions(
    const runtime_adapter::RuntimeRegistry& registry);

// For `ota-agent facts --json` and reports.
nlohmann::json DeviceCapabilitiesToJson(const rollout::DeviceCapabilities& device);

// Sets device.app_version from AgentOptions::app_version when that is not
// empty (the app's own word beats the facts file). kInvalidArgument if it is
// not a version.
Status ApplyAppVersionOverride(const std::string& app_version, rollout::DeviceCapabilities& device);

// What rollout::Decide sees: app version (0.0.0 when unknown), attributes,
// tags and region from `device`, with the versions it can run.
rollout::DeviceFacts RolloutFacts(const std::string& device_id,
                                  const rollout::DeviceCapabilities& device,
                                  std::vector<manifest::Version> runnable);

// The facts sent when enrolling with the server (docs/server-api.md): app
// version, tags, region, attributes, and the slowly changing probed basics
// cpu_arch, os and total_ram. Fields the device does not know are left out.
nlohmann::json EnrollmentFacts(const rollout::DeviceCapabilities& device);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DEVICE_PROBE_H_
