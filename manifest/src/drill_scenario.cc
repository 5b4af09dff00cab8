// JSON -> DrillScenario: types, required and unknown fields, then the rules
// between fields.
#include "ota/manifest/drill_scenario.h"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <utility>

namespace ota::manifest {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxScenarioBytes = 1 << 20;

Error BadScenario(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, "drill scenario: " + message);
}

bool IsDrillName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// Typed members of one object of the scenario, named by their path.
class DrillObject {
 public:
  static Result<DrillObject> Of(const json& j, std::string path,
                                std::initializer_list<std::string_view> known) {
    if (!j.is_object()) {
      return BadScenario((path.empty() ? "the scenario" : path) + " must be an object, not " +
                         j.type_name());
    }
    for (const auto& item : j.items()) {
      if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
        return BadScenario((path.empty() ? "the scenario" : path) + " has the unknown field \"" +
                           item.key() + "\"");
      }
    }
    return DrillObject(j, std::move(path));
  }

  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  bool Has(std::string_view key) const { return j_->contains(key); }
  const json& At(std::string_view key) const { return (*j_)[std::string(key)]; }

  Result<std::string> Text(std::string_view key, bool required) const {
    if (!Has(key)) {
      if (required) return BadScenario(Path(key) + " is missing");
      return std::string();
    }
    if (!At(key).is_string()) {
      return BadScenario(Path(key) + " must be a string, not " + At(key).type_name());
    }
    return At(key).get<std::string>();
  }

  // A whole number in [low, high]; `fallback` when absent and not required.
  Result<std::uint64_t> Number(std::string_view key, std::uint64_t low, std::uint64_t high,
                               std::optional<std::uint64_t> fallback) const {
    if (!Has(key)) {
      if (!fallback) return BadScenario(Path(key) + " is missing");
      return *fallback;
    }
    const json& v = At(key);
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < low || v.get<std::uint64_t>() > high) {
      return BadScenario(Path(key) + " must be a whole number from " + std::to_string(low) +
                         " to " + std::to_string(high) + ", not " + v.dump());
    }
    return v.get<std::uint64_t>();
  }

  Result<const json*> List(std::string_view key, bool required) const {
    if (!Has(key)) {
      if (required) return BadScenario(Path(key) + " is missing");
      return static_cast<const json*>(nullptr);
    }
    if (!At(key).is_array()) {
      return BadScenario(Path(key) + " must be an array, not " + At(key).type_name());
    }
    return &At(key);
  }

  Result<std::vector<std::string>> Names(std::string_view key) const {
    OTA_ASSIGN_OR_RETURN(const json* list, List(key, false));
    std::vector<std::string> out;
    if (list == nullptr) return out;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& item = (*list)[i];
      if (!item.is_string() || !IsDrillName(item.get<std::string>())) {
        return BadScenario(Path(key) + "[" + std::to_string(i) +
                           "] must be a name of [a-z0-9._-]{1,64}, not " + item.dump());
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }

 private:
  DrillObject(const json& j, std::string path) : j_(&j), path_(std::move(path)) {}
  const json* j_;
  std::string path_;
};

Result<Version> DrillVersion(const DrillObject& o, std::string_view key) {
  OTA_ASSIGN_OR_RETURN(std::string text, o.Text(key, true));
  auto v = ParseVersion(text);
  if (!v.ok()) return BadScenario(o.Path(key) + ": " + v.error().message);
  return *v;
}

Result<DrillGroup> ParseDrillGroup(const json& j, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(
      DrillObject o,
      DrillObject::Of(j, path, {"name", "percent", "tags", "region", "app_version"}));
  DrillGroup g;
  OTA_ASSIGN_OR_RETURN(g.name, o.Text("name", true));
  if (!IsDrillName(g.name)) {
    return BadScenario(o.Path("name") + " must be [a-z0-9._-]{1,64}, not \"" + g.name + "\"");
  }
  OTA_ASSIGN_OR_RETURN(std::uint64_t pct, o.Number("percent", 1, 100, std::nullopt));
  g.percent = static_cast<std::uint32_t>(pct);
  OTA_ASSIGN_OR_RETURN(g.tags, o.Names("tags"));
  OTA_ASSIGN_OR_RETURN(g.region, o.Text("region", false));
  if (!g.region.empty() && !IsDrillName(g.region)) {
    return BadScenario(o.Path("region") + " must be [a-z0-9._-]{1,64}, not \"" + g.region + "\"");
  }
  OTA_ASSIGN_OR_RETURN(g.app_version, o.Text("app_version", false));
  if (!g.app_version.empty() && !ParseVersion(g.app_version).ok()) {
    return BadScenario(o.Path("app_version") + " must be a semantic version, not \"" +
                       g.app_version + "\"");
  }
  return g;
}

Result<DrillFleet> ParseDrillFleet(const json& j) {
  OTA_ASSIGN_OR_RETURN(DrillObject o, DrillObject::Of(j, "fleet",
                                                      {"devices", "check_interval_seconds",
                                                       "jitter_seconds", "groups"}));
  DrillFleet f;
  OTA_ASSIGN_OR_RETURN(f.devices, o.Number("devices", 1, kDrillMaxDevices, std::nullopt));
  OTA_ASSIGN_OR_RETURN(f.check_interval_seconds,
                       o.Number("check_interval_seconds", 60, 604800, 3600));
  OTA_ASSIGN_OR_RETURN(f.jitter_seconds,
                       o.Number("jitter_seconds", 0, f.check_interval_seconds, 0));
  OTA_ASSIGN_OR_RETURN(const json* groups, o.List("groups", false));
  std::uint32_t total = 0;
  std::set<std::string> names;
  for (std::size_t i = 0; groups != nullptr && i < groups->size(); ++i) {
    const std::string path = "fleet.groups[" + std::to_string(i) + "]";
    OTA_ASSIGN_OR_RETURN(DrillGroup g, ParseDrillGroup((*groups)[i], path));
    if (!names.insert(g.name).second) {
      return BadScenario(path + ".name \"" + g.name + "\" is used twice");
    }
    total += g.percent;
    if (total > 100) return BadScenario("fleet.groups add up to more than 100 percent");
    f.groups.push_back(std::move(g));
  }
  return f;
}

Result<std::vector<DrillStage>> ParseDrillStages(const DrillObject& rollout) {
  OTA_ASSIGN_OR_RETURN(const json* list, rollout.List("stages", true));
  if (list->empty() || list->size() > 16) {
    return BadScenario("rollout.stages must hold 1 to 16 stages");
  }
  std::vector<DrillStage> stages;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = "rollout.stages[" + std::to_string(i) + "]";
    OTA_ASSIGN_OR_RETURN(DrillObject o,
                         DrillObject::Of((*list)[i], path, {"percent", "soak_seconds"}));
    DrillStage s;
    OTA_ASSIGN_OR_RETURN(std::uint64_t pct, o.Number("percent", 1, 100, std::nullopt));
    s.percent = static_cast<std::uint32_t>(pct);
    OTA_ASSIGN_OR_RETURN(s.soak_seconds, o.Number("soak_seconds", 0, 31536000, 0));
    if (!stages.empty() && s.percent <= stages.back().percent) {
      return BadScenario(path + ".percent must be above the stage before it (" +
                         std::to_string(stages.back().percent) + ")");
    }
    stages.push_back(s);
  }
  if (stages.back().percent != 100) return BadScenario("the last of rollout.stages must be 100%");
  return stages;
}

Result<DrillFaultKind> ParseDrillFaultKind(const std::string& text, const std::string& path) {
  for (DrillFaultKind k : {DrillFaultKind::kShadowFail, DrillFaultKind::kSessionsFail,
                           DrillFaultKind::kCrashAfterActivation, DrillFaultKind::kLoadFail,
                           DrillFaultKind::kPowerLoss}) {
    if (text == DrillFaultName(k)) return k;
  }
  return BadScenario(path +
                     " must be \"shadow-fail\", \"sessions-fail\", \"crash-after-activation\", "
                     "\"load-fail\" or \"power-loss\", not \"" +
                     text + "\"");
}

Result<std::vector<DrillFault>> ParseDrillFaults(const DrillObject& top, const DrillFleet& fleet) {
  OTA_ASSIGN_OR_RETURN(const json* list, top.List("faults", false));
  std::vector<DrillFault> faults;
  for (std::size_t i = 0; list != nullptr && i < list->size(); ++i) {
    const std::string path = "faults[" + std::to_string(i) + "]";
    OTA_ASSIGN_OR_RETURN(DrillObject o,
                         DrillObject::Of((*list)[i], path, {"kind", "groups", "percent"}));
    DrillFault f;
    OTA_ASSIGN_OR_RETURN(std::string kind, o.Text("kind", true));
    OTA_ASSIGN_OR_RETURN(f.kind, ParseDrillFaultKind(kind, o.Path("kind")));
    OTA_ASSIGN_OR_RETURN(f.groups, o.Names("groups"));
    for (const std::string& g : f.groups) {
      const bool known = std::any_of(fleet.groups.begin(), fleet.groups.end(),
                                     [&](const DrillGroup& d) { return d.name == g; });
      if (!known) return BadScenario(o.Path("groups") + " names the unknown group \"" + g + "\"");
    }
    OTA_ASSIGN_OR_RETURN(std::uint64_t pct, o.Number("percent", 1, 100, 100));
    f.percent = static_cast<std::uint32_t>(pct);
    faults.push_back(std::move(f));
  }
  return faults;
}

Result<DrillNetwork> ParseDrillNetwork(const DrillObject& top, std::uint64_t duration) {
  DrillNetwork n;
  if (!top.Has("network")) return n;
  OTA_ASSIGN_OR_RETURN(DrillObject o,
                       DrillObject::Of(top.At("network"), "network",
                                       {"outages", "truncated_downloads", "truncate_after_bytes"}));
  OTA_ASSIGN_OR_RETURN(n.truncated_downloads, o.Number("truncated_downloads", 0, 1000000, 0));
  OTA_ASSIGN_OR_RETURN(n.truncate_after_bytes,
                       o.Number("truncate_after_bytes", 1, 1ULL << 40, 4096));
  OTA_ASSIGN_OR_RETURN(const json* list, o.List("outages", false));
  std::uint64_t free_from = 0;  // Where the previous outage ended.
  for (std::size_t i = 0; list != nullptr && i < list->size(); ++i) {
    const std::string path = "network.outages[" + std::to_string(i) + "]";
    OTA_ASSIGN_OR_RETURN(DrillObject w,
                         DrillObject::Of((*list)[i], path, {"at_seconds", "duration_seconds"}));
    DrillOutage out;
    OTA_ASSIGN_OR_RETURN(out.at_seconds, w.Number("at_seconds", 0, duration, std::nullopt));
    OTA_ASSIGN_OR_RETURN(out.duration_seconds,
                         w.Number("duration_seconds", 1, duration, std::nullopt));
    if (i > 0 && out.at_seconds < free_from) {
      return BadScenario(path +
                         " starts before the outage before it ends (outages go in time "
                         "order and do not overlap)");
    }
    free_from = out.at_seconds + out.duration_seconds;
    n.outages.push_back(out);
  }
  return n;
}

Result<DrillOperator> ParseDrillOperator(const DrillObject& top) {
  DrillOperator r;
  if (!top.Has("operator")) return r;
  OTA_ASSIGN_OR_RETURN(DrillObject o, DrillObject::Of(top.At("operator"), "operator",
                                                      {"on_stop", "reaction_seconds"}));
  OTA_ASSIGN_OR_RETURN(std::string on_stop, o.Text("on_stop", false));
  if (!on_stop.empty() && on_stop != "rollback" && on_stop != "none") {
    return BadScenario("operator.on_stop must be \"rollback\" or \"none\", not \"" + on_stop +
                       "\"");
  }
  r.rollback_on_stop = on_stop != "none";
  OTA_ASSIGN_OR_RETURN(r.reaction_seconds, o.Number("reaction_seconds", 0, 604800, 0));
  return r;
}

Result<DrillExpect> ParseDrillExpect(const DrillObject& top, std::size_t stages) {
  DrillExpect e;
  if (!top.Has("expect")) return e;
  OTA_ASSIGN_OR_RETURN(
      DrillObject o, DrillObject::Of(top.At("expect"), "expect",
                                     {"stopped_before_stage", "canary_only", "max_exposed_percent",
                                      "all_back_within_seconds"}));
  if (o.Has("stopped_before_stage")) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t k,
                         o.Number("stopped_before_stage", 1, stages, std::nullopt));
    e.stopped_before_stage = static_cast<std::uint32_t>(k);
  }
  if (o.Has("canary_only")) {
    if (!o.At("canary_only").is_boolean()) {
      return BadScenario("expect.canary_only must be true or false, not " +
                         o.At("canary_only").dump());
    }
    e.canary_only = o.At("canary_only").get<bool>();
  }
  if (o.Has("max_exposed_percent")) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t p, o.Number("max_exposed_percent", 0, 100, std::nullopt));
    e.max_exposed_percent = static_cast<std::uint32_t>(p);
  }
  if (o.Has("all_back_within_seconds")) {
    OTA_ASSIGN_OR_RETURN(e.all_back_within_seconds,
                         o.Number("all_back_within_seconds", 1, 31536000, std::nullopt));
  }
  return e;
}

Result<DrillScenario> ParseDrillJson(const json& j) {
  OTA_ASSIGN_OR_RETURN(
      DrillObject top,
      DrillObject::Of(j, "",
                      {"schema", "name", "description", "seed", "fleet", "release", "rollout",
                       "faults", "network", "operator", "expect", "duration_seconds"}));
  OTA_ASSIGN_OR_RETURN(std::string schema, top.Text("schema", true));
  if (schema != kDrillSchema) {
    return BadScenario("schema must be \"" + std::string(kDrillSchema) + "\", not \"" + schema +
                       "\"");
  }
  DrillScenario s;
  OTA_ASSIGN_OR_RETURN(s.name, top.Text("name", true));
  if (!IsDrillName(s.name)) {
    return BadScenario("name must be [a-z0-9._-]{1,64}, not \"" + s.name + "\"");
  }
  OTA_ASSIGN_OR_RETURN(s.description, top.Text("description", false));
  OTA_ASSIGN_OR_RETURN(s.seed, top.Number("seed", 0, UINT64_MAX, 1));
  if (!top.Has("fleet")) return BadScenario("fleet is missing");
  OTA_ASSIGN_OR_RETURN(s.fleet, ParseDrillFleet(top.At("fleet")));
  if (!top.Has("release")) return BadScenario("release is missing");
  OTA_ASSIGN_OR_RETURN(DrillObject release,
                       DrillObject::Of(top.At("release"), "release", {"from", "to"}));
  OTA_ASSIGN_OR_RETURN(s.from, DrillVersion(release, "from"));
  OTA_ASSIGN_OR_RETURN(s.to, DrillVersion(release, "to"));
  if (!(s.from < s.to)) return BadScenario("release.to must be a higher version than release.from");
  if (!top.Has("rollout")) return BadScenario("rollout is missing");
  OTA_ASSIGN_OR_RETURN(DrillObject rollout,
                       DrillObject::Of(top.At("rollout"), "rollout",
                                       {"stages", "policy", "controller_interval_seconds"}));
  OTA_ASSIGN_OR_RETURN(s.stages, ParseDrillStages(rollout));
  if (rollout.Has("policy")) {
    if (!rollout.At("policy").is_object()) {
      return BadScenario(std::string("rollout.policy must be an object, not ") +
                         rollout.At("policy").type_name());
    }
    s.policy = rollout.At("policy");
  }
  OTA_ASSIGN_OR_RETURN(s.controller_interval_seconds,
                       rollout.Number("controller_interval_seconds", 10, 86400, 300));
  OTA_ASSIGN_OR_RETURN(s.faults, ParseDrillFaults(top, s.fleet));
  OTA_ASSIGN_OR_RETURN(s.response, ParseDrillOperator(top));
  OTA_ASSIGN_OR_RETURN(s.expect, ParseDrillExpect(top, s.stages.size()));
  OTA_ASSIGN_OR_RETURN(s.duration_seconds, top.Number("duration_seconds", 60, 31536000, 86400));
  OTA_ASSIGN_OR_RETURN(s.network, ParseDrillNetwork(top, s.duration_seconds));
  return s;
}

}  // namespace

std::string_view DrillFaultName(DrillFaultKind kind) {
  switch (kind) {
    case DrillFaultKind::kShadowFail:
      return "shadow-fail";
    case DrillFaultKind::kSessionsFail:
      return "sessions-fail";
    case DrillFaultKind::kCrashAfterActivation:
      return "crash-after-activation";
    case DrillFaultKind::kLoadFail:
      return "load-fail";
    case DrillFaultKind::kPowerLoss:
      return "power-loss";
  }
  return "unknown";
}

Result<DrillScenario> ParseDrillScenario(std::string_view json_text) {
  if (json_text.size() > kMaxScenarioBytes) {
    return BadScenario("more than 1 MiB of JSON");
  }
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return BadScenario("not valid JSON");
  return ParseDrillJson(j);
}

}  // namespace ota::manifest
