#include "device_probe.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>
#include <vector>

#include "ota/agent/device_facts.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/version.h"

namespace ota::agent {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxProcFileBytes = 4u << 20;

// /proc files report a size of 0, so read until end of file (bounded).
Result<std::string> ReadProcFile(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  std::string out;
  std::uint8_t buf[16384];
  while (out.size() < kMaxProcFileBytes) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(out.size(), buf));
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), n);
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls fn(key, value) for each "key : value" line.
template <typename Fn>
void ForEachKeyValue(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    fn(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)));
  }
}

std::uint64_t ParseKb(std::string_view value) {
  std::uint64_t kb = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), kb);
  (void)ptr;
  if (ec != std::errc() || kb > (~0ull >> 10)) return 0;
  return kb << 10;
}

bool IsName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!ok_first(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return ok_first(c) || c == '.' || c == '_' || c == '-'; });
}

Error Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(kDeviceFactsFile) + ": " + message);
}

Result<std::uint64_t> FactUint(const json& v, const char* field) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  }
  return Invalid(std::string(field) + " must be a non-negative integer (bytes)");
}

Result<std::string> FactName(const json& v, const std::string& field) {
  if (!v.is_string() || !IsName(v.get<std::string>())) {
    return Invalid(field + " must be a name of the form [a-z0-9][a-z0-9._-]{0,63}");
  }
  return v.get<std::string>();
}

Result<std::set<std::string>> FactNames(const json& v, const char* field) {
  if (!v.is_array() || v.size() > 256) {
    return Invalid(std::string(field) + " must be an array of at most 256 names");
  }
  std::set<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    OTA_ASSIGN_OR_RETURN(std::string name,
                         FactName(v[i], std::string(field) + "[" + std::to_string(i) + "]"));
    out.insert(std::move(name));
  }
  return out;
}

// Free text for rollout selectors (tags, region, attribute values): 1 to 256
// bytes, no control characters, as the server's enrollment check.
constexpr std::size_t kMaxFactText = 256;
constexpr std::size_t kMaxFactEntries = 100;

Result<std::string> FactText(const json& v, const std::string& field) {
  if (!v.is_string()) return Invalid(field + " must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxFactText) {
    return Invalid(field + " must be 1 to " + std::to_string(kMaxFactText) + " bytes long");
  }
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Invalid(field + " contains a control character");
  }
  return s;
}

Result<std::set<std::string>> FactTags(const json& v) {
  if (!v.is_array() || v.size() > kMaxFactEntries) {
    return Invalid("tags must be an array of at most " + std::to_string(kMaxFactEntries) +
                   " strings");
  }
  std::set<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    OTA_ASSIGN_OR_RETURN(std::string tag, FactText(v[i], "tags[" + std::to_string(i) + "]"));
    if (!out.insert(std::move(tag)).second) {
      return Invalid("tags[" + std::to_string(i) + "] is listed twice");
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> FactAttributes(const json& v) {
  if (!v.is_object() || v.size() > kMaxFactEntries) {
    return Invalid("attributes must be an object of at most " + std::to_string(kMaxFactEntries) +
                   " \"name\": \"value\" pairs");
  }
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : v.items()) {
    if (!IsName(name)) {
      return Invalid("attributes key \"" + name.substr(0, 64) +
                     "\" must be a name of the form [a-z0-9][a-z0-9._-]{0,63}");
    }
    OTA_ASSIGN_OR_RETURN(out[name], FactText(value, "attributes." + name));
  }
  return out;
}

Result<manifest::Version> FactVersion(const json& v, const std::string& field) {
  if (!v.is_string()) return Invalid(field + " must be a version string");
  auto parsed = manifest::ParseVersion(v.get<std::string>());
  if (!parsed.ok()) return Invalid(field + ": " + parsed.error().message);
  return std::move(parsed).value();
}

}  // namespace

MemInfo ParseMeminfo(std::string_view text) {
  MemInfo info;
  ForEachKeyValue(text, [&](std::string_view key, std::string_view value) {
    if (key == "MemTotal") info.total_bytes = ParseKb(value);
    if (key == "MemAvailable") info.available_bytes = ParseKb(value);
  });
  return info;
}

std::set<std::string> ParseCpuFeatures(std::string_view cpuinfo) {
  std::set<std::string> features;
  ForEachKeyValue(cpuinfo, [&](std::string_view key, std::string_view value) {
    if (key != "flags" && key != "Features") return;
    while (!value.empty()) {
      const std::size_t space = value.find_first_of(" \t");
      std::string flag = Lower(value.substr(0, space));
      value = space == std::string_view::npos ? std::string_view() : Trim(value.substr(space));
      if (!IsName(flag)) continue;
      if (flag.rfind("avx512", 0) == 0) features.insert("avx512");
      if (flag == "asimd") features.insert("neon");
      if (flag == "asimddp") features.insert("dotprod");
      if (flag == "fphp" || flag == "asimdhp") features.insert("fp16");
      features.insert(std::move(flag));
    }
  });
  return features;
}

std::string NormaliseArch(std::string_view machine) {
  const std::string m = Lower(machine);
  if (m == "amd64" || m == "x86_64") return "x86_64";
  if (m == "arm64" || m == "aarch64") return "aarch64";
  if (m.rfind("armv7", 0) == 0) return "armv7";
  if (m == "i386" || m == "i486" || m == "i586" || m == "i686") return "i686";
  return IsName(m) ? m : std::string();
}

Result<rollout::DeviceCapabilities> ProbeDevice(FileSystem& fs, const std::string& store_dir,
                                                const ProbeSources& sources) {
  rollout::DeviceCapabilities d;
  if (auto text = ReadProcFile(fs, sources.meminfo); text.ok()) {
    const MemInfo mem = ParseMeminfo(*text);
    d.total_ram_bytes = mem.total_bytes;
    d.available_ram_bytes = mem.available_bytes;
  }
  if (auto text = ReadProcFile(fs, sources.cpuinfo); text.ok()) {
    d.cpu_features = ParseCpuFeatures(*text);
  }
  OTA_ASSIGN_OR_RETURN(d.free_disk_bytes, fs.FreeSpace(store_dir));
  struct utsname u {};
  if (::uname(&u) == 0) {
    d.cpu_arch = NormaliseArch(u.machine);
    d.os = Lower(u.sysname) == "darwin" ? "macos" : Lower(u.sysname);
    if (!IsName(d.os)) d.os.clear();
    d.os_version = rollout::LooseVersion(u.release);
  }
  // Accelerators from their device nodes.
  if (auto present = fs.Exists(JoinPath(sources.dev, "nvidiactl")); present.ok() && *present) {
    d.accelerators.insert("cuda");
  }
  if (auto present = fs.Exists(JoinPath(sources.dev, "kfd")); present.ok() && *present) {
    d.accelerators.insert("rocm");
  }
  if (auto names = fs.ListDir(JoinPath(sources.dev, "dri")); names.ok()) {
    for (const std::string& n : *names) {
      if (n.rfind("renderD", 0) == 0) d.accelerators.insert("gpu");
    }
  }
  if (!d.accelerators.empty()) d.accelerators.insert("gpu");
  return d;
}

Status ApplyDeviceFacts(const json& facts, rollout::DeviceCapabilities& device) {
  if (!facts.is_object()) return Invalid("must be a JSON object");
  rollout::DeviceCapabilities d = device;
  for (const auto& [key, v] : facts.items()) {
    if (key == "total_ram") {
      OTA_ASSIGN_OR_RETURN(d.total_ram_bytes, FactUint(v, "total_ram"));
    } else if (key == "available_ram") {
      OTA_ASSIGN_OR_RETURN(d.available_ram_bytes, FactUint(v, "available_ram"));
    } else if (key == "free_disk") {
      OTA_ASSIGN_OR_RETURN(d.free_disk_bytes, FactUint(v, "free_disk"));
    } else if (key == "cpu_arch") {
      OTA_ASSIGN_OR_RETURN(d.cpu_arch, FactName(v, "cpu_arch"));
    } else if (key == "os") {
      OTA_ASSIGN_OR_RETURN(d.os, FactName(v, "os"));
    } else if (key == "os_version") {
      OTA_ASSIGN_OR_RETURN(d.os_version, FactVersion(v, "os_version"));
    } else if (key == "app_version") {
      OTA_ASSIGN_OR_RETURN(d.app_version, FactVersion(v, "app_version"));
    } else if (key == "cpu_features") {
      OTA_ASSIGN_OR_RETURN(d.cpu_features, FactNames(v, "cpu_features"));
    } else if (key == "accelerators") {
      OTA_ASSIGN_OR_RETURN(d.accelerators, FactNames(v, "accelerators"));
    } else if (key == "tags") {
      OTA_ASSIGN_OR_RETURN(d.tags, FactTags(v));
    } else if (key == "region") {
      OTA_ASSIGN_OR_RETURN(d.region, FactText(v, "region"));
    } else if (key == "attributes") {
      OTA_ASSIGN_OR_RETURN(d.attributes, FactAttributes(v));
    } else if (key == "runtimes") {
      if (!v.is_object() || v.size() > 64) {
        return Invalid("runtimes must be an object of at most 64 \"name\": \"version\" pairs");
      }
      d.runtimes.clear();
      for (const auto& [name, version] : v.items()) {
        OTA_ASSIGN_OR_RETURN(std::string n, FactName(json(name), "runtimes key \"" + name + "\""));
        OTA_ASSIGN_OR_RETURN(d.runtimes[n], FactVersion(version, "runtimes." + n));
      }
    } else {
      return Invalid("unknown field \"" + key + "\"");
    }
  }
  device = std::move(d);
  return Ok();
}

std::map<std::string, manifest::Version> RuntimeVersions(
    const runtime_adapter::RuntimeRegistry& registry) {
  std::map<std::string, manifest::Version> out;
  for (const auto& runtime : registry.runtimes()) {
    out.emplace(std::string(runtime->Name()), runtime->RuntimeVersion());
  }
  return out;
}

Result<rollout::DeviceCapabilities> LoadDeviceCapabilities(
    FileSystem& fs, const std::string& state_dir, const std::string& store_dir,
    const std::map<std::string, manifest::Version>& runtimes, const ProbeSources& sources) {
  OTA_ASSIGN_OR_RETURN(rollout::DeviceCapabilities device, ProbeDevice(fs, store_dir, sources));
  device.runtimes = runtimes;
  const std::string path = JoinPath(state_dir, kDeviceFactsFile);
  OTA_ASSIGN_OR_RETURN(bool present, fs.Exists(path));
  if (!present) return device;
  OTA_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path, kMaxDeviceFactsBytes));
  Result<json> facts = manifest::ParseJsonStrict(text);
  if (!facts.ok()) return Invalid(facts.error().message);
  OTA_TRY(ApplyDeviceFacts(*facts, device));
  return device;
}

json DeviceCapabilitiesToJson(const rollout::DeviceCapabilities& d) {
  json runtimes = json::object();
  for (const auto& [name, version] : d.runtimes) runtimes[name] = manifest::ToString(version);
  json j = {{"total_ram", d.total_ram_bytes}, {"available_ram", d.available_ram_bytes},
            {"free_disk", d.free_disk_bytes}, {"cpu_arch", d.cpu_arch},
            {"cpu_features", d.cpu_features}, {"os", d.os},
            {"accelerators", d.accelerators}, {"runtimes", runtimes}};
  if (d.os_version) j["os_version"] = manifest::ToString(*d.os_version);
  if (d.app_version) j["app_version"] = manifest::ToString(*d.app_version);
  j["tags"] = d.tags;
  if (!d.region.empty()) j["region"] = d.region;
  j["attributes"] = d.attributes;
  return j;
}

Status ApplyAppVersionOverride(const std::string& app_version,
                               rollout::DeviceCapabilities& device) {
  if (app_version.empty()) return Ok();
  auto v = manifest::ParseVersion(app_version);
  if (!v.ok()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "app version override \"" + app_version.substr(0, 64) + "\": " + v.error().message);
  }
  device.app_version = *v;
  return Ok();
}

rollout::DeviceFacts RolloutFacts(const std::string& device_id,
                                  const rollout::DeviceCapabilities& device,
                                  std::vector<manifest::Version> runnable) {
  rollout::DeviceFacts f;
  f.device_id = device_id;
  // Unknown app version: 0.0.0, which app-version selectors and pins with a
  // lower bound do not match.
  if (device.app_version) f.app_version = *device.app_version;
  f.attributes = device.attributes;
  f.tags = device.tags;
  f.region = device.region;
  f.runnable_versions = std::move(runnable);
  return f;
}

json EnrollmentFacts(const rollout::DeviceCapabilities& d) {
  json j = json::object();
  if (d.app_version) j["app_version"] = manifest::ToString(*d.app_version);
  if (!d.tags.empty()) j["tags"] = d.tags;
  if (!d.region.empty()) j["region"] = d.region;
  if (!d.attributes.empty()) j["attributes"] = d.attributes;
  if (!d.cpu_arch.empty()) j["cpu_arch"] = d.cpu_arch;
  if (!d.os.empty()) j["os"] = d.os;
  if (d.total_ram_bytes != 0) j["total_ram"] = d.total_ram_bytes;
  return j;
}

}  // namespace ota::agent

namespace ota::agent {

Result<std::string> DeviceFactsJson(Env& env, const std::string& state_dir) {
  const runtime_adapter::RuntimeRegistry registry =
      runtime_adapter::MakeDefaultRuntimeRegistry(env.clock);
  OTA_ASSIGN_OR_RETURN(
      rollout::DeviceCapabilities device,
      LoadDeviceCapabilities(*env.fs, state_dir, state_dir, RuntimeVersions(registry)));
  return DeviceCapabilitiesToJson(device).dump(2);
}

}  // namespace ota::agent
