#include "mirror_files.h"

#include <cmath>

#include "ota/common/hash.h"

namespace ota::agent::mirror_files {
namespace {

using nlohmann::json;

Error Invalid(const std::string& what, const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, what + ": " + message);
}

bool IsModelName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return s != "." && s != "..";
}

Result<json> ParseObject(const std::string& text, const std::string& what, const char* schema) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Invalid(what, "not a JSON object");
  auto it = j.find("schema");
  if (it == j.end() || !it->is_string() || it->get<std::string>() != schema) {
    return Invalid(what, std::string("schema must be \"") + schema + "\"");
  }
  return j;
}

Result<std::string> Text(const json& j, const char* key, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return Invalid(what, std::string(key) + " must be a string");
  return it->get<std::string>();
}

Result<double> Number(const json& j, const char* key, double lo, double hi,
                      const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number() || !std::isfinite(it->get<double>()) ||
      it->get<double>() < lo || it->get<double>() > hi) {
    return Invalid(what, std::string(key) + " must be a number from " + std::to_string(lo) +
                             " to " + std::to_string(hi));
  }
  return it->get<double>();
}

}  // namespace

std::string MirrorDir(const std::string& state_dir) { return JoinPath(state_dir, kMirrorDir); }

std::string AnnouncementPath(const std::string& state_dir, const std::string& model) {
  return JoinPath(MirrorDir(state_dir), model + ".json");
}

std::string StatsPath(const std::string& state_dir, const std::string& model, std::int64_t pid) {
  return JoinPath(MirrorDir(state_dir), model + "." + std::to_string(pid) + ".stats.json");
}

json AnnouncementToJson(const Announcement& a) {
  return {{"schema", kAnnouncementSchema},
          {"model", a.model},
          {"deployment_id", a.deployment_id},
          {"candidate_id", a.candidate_id},
          {"candidate_version", a.candidate_version},
          {"current_id", a.current_id},
          {"sample_rate", a.sample_rate},
          {"cpu_budget", a.cpu_budget},
          {"max_new_tokens", a.max_new_tokens},
          {"context_length", a.context_length},
          {"threads", a.threads}};
}

Result<Announcement> ParseAnnouncement(const std::string& text) {
  const std::string what = "mirror announcement";
  OTA_ASSIGN_OR_RETURN(json j, ParseObject(text, what, kAnnouncementSchema));
  Announcement a;
  OTA_ASSIGN_OR_RETURN(a.model, Text(j, "model", what));
  if (!IsModelName(a.model)) return Invalid(what, "model is not a valid model name");
  OTA_ASSIGN_OR_RETURN(a.candidate_id, Text(j, "candidate_id", what));
  OTA_ASSIGN_OR_RETURN(a.current_id, Text(j, "current_id", what));
  if (!IsLowerHex(a.candidate_id, 64) || !IsLowerHex(a.current_id, 64)) {
    return Invalid(what, "candidate_id and current_id must be 64 lower-case hex digits");
  }
  OTA_ASSIGN_OR_RETURN(a.candidate_version, Text(j, "candidate_version", what));
  OTA_ASSIGN_OR_RETURN(double id, Number(j, "deployment_id", 0, 9e15, what));
  a.deployment_id = static_cast<std::int64_t>(id);
  OTA_ASSIGN_OR_RETURN(a.sample_rate, Number(j, "sample_rate", 0, 1, what));
  OTA_ASSIGN_OR_RETURN(a.cpu_budget, Number(j, "cpu_budget", 0, 1, what));
  if (a.cpu_budget <= 0) return Invalid(what, "cpu_budget must be above 0");
  OTA_ASSIGN_OR_RETURN(double tokens, Number(j, "max_new_tokens", 1, 512, what));
  OTA_ASSIGN_OR_RETURN(double context, Number(j, "context_length", 64, 131072, what));
  OTA_ASSIGN_OR_RETURN(double threads, Number(j, "threads", 1, 256, what));
  a.max_new_tokens = static_cast<int>(tokens);
  a.context_length = static_cast<int>(context);
  a.threads = static_cast<int>(threads);
  return a;
}

std::string StatsFileToJson(const StatsFile& s) {
  return json{{"schema", kStatsSchema},
              {"model", s.model},
              {"candidate_id", s.candidate_id},
              {"pid", s.pid},
              {"stats", shadow::MirrorStatsToJson(s.stats)}}
      .dump();
}

Result<StatsFile> ParseStatsFile(const std::string& text) {
  const std::string what = "mirror stats file";
  OTA_ASSIGN_OR_RETURN(json j, ParseObject(text, what, kStatsSchema));
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "schema" && key != "model" && key != "candidate_id" && key != "pid" &&
        key != "stats") {
      return Invalid(what, "unknown field \"" + key.substr(0, 64) + "\"");
    }
  }
  StatsFile s;
  OTA_ASSIGN_OR_RETURN(s.model, Text(j, "model", what));
  OTA_ASSIGN_OR_RETURN(s.candidate_id, Text(j, "candidate_id", what));
  if (!IsLowerHex(s.candidate_id, 64)) return Invalid(what, "candidate_id must be 64 hex digits");
  OTA_ASSIGN_OR_RETURN(double pid, Number(j, "pid", 1, 4194304, what));
  s.pid = static_cast<std::int64_t>(pid);
  auto stats = j.find("stats");
  if (stats == j.end()) return Invalid(what, "stats is missing");
  auto parsed = shadow::MirrorStatsFromJson(*stats);
  if (!parsed.ok()) return Invalid(what, parsed.error().message);
  s.stats = *parsed;
  return s;
}

Result<shadow::MirrorStats> CollectStats(FileSystem& fs, const std::string& state_dir,
                                         const std::string& model, const std::string& candidate_id,
                                         int* files, int* skipped) {
  shadow::MirrorStats merged;
  if (files != nullptr) *files = 0;
  if (skipped != nullptr) *skipped = 0;
  const std::string dir = MirrorDir(state_dir);
  OTA_ASSIGN_OR_RETURN(bool exists, fs.Exists(dir));
  if (!exists) return merged;
  OTA_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(dir));
  const std::string prefix = model + ".";
  const std::string suffix = ".stats.json";
  for (const std::string& name : names) {
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    auto text = fs.ReadFile(JoinPath(dir, name), kMaxFileBytes);
    auto parsed = text.ok() ? ParseStatsFile(*text) : Result<StatsFile>(text.error());
    if (!parsed.ok() || parsed->model != model || parsed->candidate_id != candidate_id) {
      if (skipped != nullptr) ++*skipped;
      continue;
    }
    merged = shadow::MergeMirrorStats(merged, parsed->stats);
    if (files != nullptr) ++*files;
  }
  return merged;
}

}  // namespace ota::agent::mirror_files
