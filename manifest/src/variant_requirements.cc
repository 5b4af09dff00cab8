#include "ota/manifest/variant_requirements.h"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string_view>
#include <utility>

#include "rollout_manifest_internal.h"

namespace ota::manifest {
namespace {

using nlohmann::json;
using rollout_internal::Invalid;
using rollout_internal::IsToken;
using rollout_internal::Quote;

constexpr std::int64_t kMaxRank = 1000000;

Status CheckKnown(const json& j, const std::string& where,
                  std::initializer_list<std::string_view> known) {
  if (!j.is_object()) return Invalid(where + " must be an object, not " + j.type_name());
  for (const auto& item : j.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return Invalid(where + " has the unknown field " + Quote(item.key()));
    }
  }
  return Ok();
}

Result<std::uint64_t> ReadUint(const json& j, const std::string& field) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(j.get<std::int64_t>());
  }
  return Invalid(field + " must be a non-negative integer");
}

Result<std::vector<std::string>> ReadTokenList(const json& j, const std::string& field) {
  if (!j.is_array()) return Invalid(field + " must be an array of names");
  if (j.empty()) return Invalid(field + " must not be empty (leave it out instead)");
  if (j.size() > kMaxRequirementListItems) {
    return Invalid(field + " has more than " + std::to_string(kMaxRequirementListItems) + " items");
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!j[i].is_string()) return Invalid(at + " must be a string");
    std::string s = j[i].get<std::string>();
    if (!IsToken(s)) {
      return Invalid(at + " " + Quote(s) + " is not a name of the form [a-z0-9][a-z0-9._-]{0,63}");
    }
    if (!seen.insert(s).second) return Invalid(at + " repeats " + Quote(s));
    out.push_back(std::move(s));
  }
  return out;
}

Result<VersionRange> ReadRange(const json& j, const std::string& field) {
  if (!j.is_string()) return Invalid(field + " must be a version range string");
  auto range = ParseVersionRange(j.get<std::string>());
  if (!range.ok()) return Invalid(field + ": " + range.error().message);
  return std::move(range).value();
}

}  // namespace

Result<VariantRequirements> ParseVariantRequirements(const json& j) {
  OTA_TRY(CheckKnown(j, "requires",
                     {"min_ram", "min_available_ram", "cpu_arch", "cpu_features", "os",
                      "os_version", "accelerators", "runtime", "app_version"}));
  VariantRequirements r;
  if (auto it = j.find("min_ram"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.min_ram_bytes, ReadUint(*it, "requires.min_ram"));
  }
  if (auto it = j.find("min_available_ram"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.min_available_ram_bytes, ReadUint(*it, "requires.min_available_ram"));
  }
  if (auto it = j.find("cpu_arch"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.cpu_arch, ReadTokenList(*it, "requires.cpu_arch"));
  }
  if (auto it = j.find("cpu_features"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.cpu_features, ReadTokenList(*it, "requires.cpu_features"));
  }
  if (auto it = j.find("os"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.os, ReadTokenList(*it, "requires.os"));
  }
  if (auto it = j.find("os_version"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.os_version, ReadRange(*it, "requires.os_version"));
  }
  if (auto it = j.find("accelerators"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.accelerators, ReadTokenList(*it, "requires.accelerators"));
  }
  if (auto it = j.find("runtime"); it != j.end()) {
    OTA_TRY(CheckKnown(*it, "requires.runtime", {"name", "version"}));
    auto name = it->find("name");
    if (name == it->end()) return Invalid("requires.runtime.name is missing");
    if (!name->is_string() || !IsToken(name->get<std::string>())) {
      return Invalid("requires.runtime.name must be a name of the form [a-z0-9][a-z0-9._-]{0,63}");
    }
    RuntimeRequirement runtime{name->get<std::string>(), std::nullopt};
    if (auto v = it->find("version"); v != it->end()) {
      OTA_ASSIGN_OR_RETURN(runtime.version, ReadRange(*v, "requires.runtime.version"));
    }
    r.runtime = std::move(runtime);
  }
  if (auto it = j.find("app_version"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(r.app_version, ReadRange(*it, "requires.app_version"));
  }
  return r;
}

Result<VariantInfo> ParseVariantInfo(const json& modelota) {
  if (!modelota.is_object()) return Invalid("custom.modelota must be an object");
  VariantInfo info;
  if (auto it = modelota.find("variant"); it != modelota.end()) {
    if (!it->is_string() || it->get<std::string>().size() > kMaxVariantNameBytes ||
        !IsToken(it->get<std::string>())) {
      return Invalid(
          "custom.modelota.variant must be a name of the form [a-z0-9][a-z0-9._-]{0,31}");
    }
    info.variant = it->get<std::string>();
  }
  if (auto it = modelota.find("rank"); it != modelota.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < -kMaxRank ||
        it->get<std::int64_t>() > kMaxRank) {
      return Invalid("custom.modelota.rank must be an integer from -1000000 to 1000000");
    }
    info.rank = it->get<std::int64_t>();
  }
  if (auto it = modelota.find("unpacked_size"); it != modelota.end()) {
    OTA_ASSIGN_OR_RETURN(info.unpacked_size, ReadUint(*it, "custom.modelota.unpacked_size"));
  }
  if (auto it = modelota.find("requires"); it != modelota.end()) {
    auto r = ParseVariantRequirements(*it);
    if (!r.ok()) return Invalid("custom.modelota." + r.error().message);
    info.requirements = std::move(r).value();
  }
  return info;
}

json VariantRequirementsToJson(const VariantRequirements& r) {
  json j = json::object();
  if (r.min_ram_bytes) j["min_ram"] = *r.min_ram_bytes;
  if (r.min_available_ram_bytes) j["min_available_ram"] = *r.min_available_ram_bytes;
  if (!r.cpu_arch.empty()) j["cpu_arch"] = r.cpu_arch;
  if (!r.cpu_features.empty()) j["cpu_features"] = r.cpu_features;
  if (!r.os.empty()) j["os"] = r.os;
  if (r.os_version) j["os_version"] = ToString(*r.os_version);
  if (!r.accelerators.empty()) j["accelerators"] = r.accelerators;
  if (r.runtime) {
    json rt = {{"name", r.runtime->name}};
    if (r.runtime->version) rt["version"] = ToString(*r.runtime->version);
    j["runtime"] = std::move(rt);
  }
  if (r.app_version) j["app_version"] = ToString(*r.app_version);
  return j;
}

}  // namespace ota::manifest
