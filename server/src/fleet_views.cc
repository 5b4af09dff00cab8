// The read-only operator endpoints behind the console (docs/server-api.md,
// "Console views"): devices with what went wrong, one device's timeline and
// chain, shadow results per candidate version, and drill reports. Every list
// is bounded; every query parameter is checked, with one precise 400.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "fleet_api.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::server {
namespace {

using nlohmann::json;
using QueryParams = FleetApi::QueryParams;

constexpr std::int64_t kMaxDeviceLimit = 500;
constexpr std::int64_t kDefaultDeviceLimit = 50;
constexpr std::int64_t kMaxOffset = 1'000'000'000;
constexpr std::int64_t kMaxTimelineLimit = 500;
constexpr std::int64_t kDefaultTimelineLimit = 100;
constexpr std::int64_t kMaxShadowLimit = 10'000;
constexpr std::int64_t kDefaultShadowLimit = 2'000;
// A device whose in-progress phase has not changed for this long is stuck.
constexpr std::int64_t kStuckSeconds = 3600;
constexpr std::size_t kMaxDrills = 500;
constexpr std::uintmax_t kMaxDrillFileBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxFilterText = 256;

std::string Iso(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "";
  return manifest::FormatExpires(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

ApiResponse BadParam(const std::string& message) { return ApiError(400, "bad-request", message); }

// Refuses a parameter outside `allowed` or given twice.
std::optional<ApiResponse> CheckNames(const QueryParams& params,
                                      const std::vector<std::string>& allowed) {
  std::string names;
  for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
  for (auto it = params.begin(); it != params.end(); it = params.upper_bound(it->first)) {
    if (std::find(allowed.begin(), allowed.end(), it->first) == allowed.end()) {
      return BadParam("unknown query parameter " + it->first + " (" + names + ")");
    }
    if (params.count(it->first) > 1) {
      return BadParam("query parameter " + it->first + " is given twice");
    }
  }
  return std::nullopt;
}

std::string Param(const QueryParams& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

// An integer parameter from `min` to `max`, `fallback` when absent.
std::optional<ApiResponse> IntParam(const QueryParams& params, const std::string& name,
                                    std::int64_t fallback, std::int64_t min, std::int64_t max,
                                    std::int64_t* out) {
  auto it = params.find(name);
  if (it == params.end()) {
    *out = fallback;
    return std::nullopt;
  }
  const std::string& v = it->second;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
    return BadParam("query parameter " + name + " must be an integer from " + std::to_string(min) +
                    " to " + std::to_string(max) + ", not \"" + v.substr(0, 64) + "\"");
  }
  *out = n;
  return std::nullopt;
}

// 1 to 256 bytes without control characters (the rule for device facts).
bool IsFilterText(const std::string& s) {
  return !s.empty() && s.size() <= kMaxFilterText && std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// [a-z0-9][a-z0-9._-]{0,63}, the model name rule of rollout manifests.
bool IsModelName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

std::optional<ApiResponse> ParseDeviceFilter(const QueryParams& params, DeviceFilter* f) {
  if (auto e = CheckNames(params, {"model", "version", "state", "region", "tag", "app_version",
                                   "problem", "limit", "offset"})) {
    return e;
  }
  f->model = Param(params, "model");
  f->version = Param(params, "version");
  f->state = Param(params, "state");
  f->region = Param(params, "region");
  f->tag = Param(params, "tag");
  f->app_version = Param(params, "app_version");
  if (params.contains("model") && !IsModelName(f->model)) {
    return BadParam("query parameter model must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  for (const char* name : {"version", "app_version"}) {
    const std::string v = Param(params, name);
    if (params.contains(name) && (v.size() > kMaxFilterText || !manifest::ParseVersion(v).ok())) {
      return BadParam(std::string("query parameter ") + name +
                      " must be a semantic version such as 2.0.0");
    }
  }
  if (params.contains("state") && !rollout::ParseDevicePhase(f->state)) {
    return BadParam(
        "query parameter state must be one of downloading, shadow_pass, shadow_fail, "
        "activated, confirmed, rolled_back, failed, incompatible");
  }
  for (const char* name : {"region", "tag"}) {
    if (params.contains(name) && !IsFilterText(Param(params, name))) {
      return BadParam(std::string("query parameter ") + name +
                      " must be 1 to 256 bytes without control characters");
    }
  }
  const std::string problem = Param(params, "problem");
  if (params.contains("problem") && problem != "1" && problem != "0") {
    return BadParam("query parameter problem must be 1 or 0");
  }
  f->problem = problem == "1";
  std::int64_t limit = 0, offset = 0;
  if (auto e = IntParam(params, "limit", kDefaultDeviceLimit, 1, kMaxDeviceLimit, &limit)) return e;
  if (auto e = IntParam(params, "offset", 0, 0, kMaxOffset, &offset)) return e;
  f->limit = static_cast<std::size_t>(limit);
  f->offset = static_cast<std::size_t>(offset);
  return std::nullopt;
}

// What an error event says went wrong, in one line.
std::string ErrorText(const json& e) {
  auto text = [&](const json& obj, const char* key) -> std::string {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
  };
  std::string out = text(e, "error");
  if (out.empty()) out = text(e, "reason");
  if (auto report = e.find("report"); out.empty() && report != e.end() && report->is_object()) {
    if (auto reasons = report->find("reasons"); reasons != report->end() && reasons->is_array()) {
      for (const json& r : *reasons) {
        if (r.is_string()) out += (out.empty() ? "" : "; ") + r.get<std::string>();
      }
    }
  }
  const std::string code = text(e, "error_code");
  if (!code.empty()) out = out.empty() ? code : code + ": " + out;
  return out.substr(0, 500);
}

bool IsErrorPhase(const std::string& phase) {
  return phase == "failed" || phase == "rolled_back" || phase == "shadow_fail";
}

bool IsInProgressPhase(const std::string& phase) {
  return phase == "downloading" || phase == "shadow_pass" || phase == "activated";
}

// Why a device needs attention: failing models (with the newest error
// event's text), stuck models, a broken chain.
json ProblemsJson(const DeviceSummary& s, std::int64_t stuck_before) {
  json out = json::array();
  for (const DeviceModelState& m : s.models) {
    if (IsErrorPhase(m.phase)) {
      json p = {{"kind", "failing"},
                {"model", m.model},
                {"version", m.version},
                {"phase", m.phase},
                {"since", Iso(m.updated_at)}};
      std::string why = m.phase;
      const bool same_model = s.last_error && s.last_error->body.value("model", "") == m.model;
      if (same_model) {
        const std::string detail = ErrorText(s.last_error->body);
        if (!detail.empty()) why += ": " + detail;
        p["event_seq"] = s.last_error->seq;
      }
      p["why"] = why;
      out.push_back(std::move(p));
    } else if (IsInProgressPhase(m.phase) && m.updated_at < stuck_before) {
      out.push_back({{"kind", "stuck"},
                     {"model", m.model},
                     {"version", m.version},
                     {"phase", m.phase},
                     {"since", Iso(m.updated_at)},
                     {"why", "no progress in phase " + m.phase + " since " + Iso(m.updated_at)}});
    }
  }
  if (!s.chain_problem.empty()) {
    out.push_back({{"kind", "chain"},
                   {"event_seq", s.chain_problem_seq},
                   {"why", "audit chain: " + s.chain_problem}});
  }
  return out;
}

json ModelsJson(const std::vector<DeviceModelState>& models) {
  json out = json::array();
  for (const DeviceModelState& m : models) {
    out.push_back({{"model", m.model},
                   {"version", m.version},
                   {"phase", m.phase},
                   {"updated_at", Iso(m.updated_at)}});
  }
  return out;
}

json SummaryJson(const DeviceSummary& s, std::int64_t stuck_before) {
  return {{"device_id", s.device_id},
          {"facts", s.facts},
          {"enrolled_at", Iso(s.enrolled_at)},
          {"last_seen", Iso(s.last_seen)},
          {"last_seq", s.last_seq},
          {"models", ModelsJson(s.models)},
          {"problems", ProblemsJson(s, stuck_before)}};
}

// A metric value as reported: a number, or a float kept as decimal text.
std::optional<double> MetricNumber(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    return std::nullopt;
  }
  return d;
}

// Numeric metrics of a shadow report, nested objects as dotted names.
void CollectMetrics(const json& obj, const std::string& prefix,
                    std::map<std::string, std::vector<double>>* out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it->is_object() && prefix.empty()) {
      CollectMetrics(*it, it.key() + ".", out);
    } else if (!it->is_boolean()) {
      if (auto d = MetricNumber(*it)) (*out)[prefix + it.key()].push_back(*d);
    }
  }
}

// Nearest rank of sorted `v` at percentile `p`.
double Percentile(const std::vector<double>& v, int p) {
  const std::size_t rank = (v.size() * static_cast<std::size_t>(p) + 99) / 100;
  return v[std::max<std::size_t>(rank, 1) - 1];
}

struct VersionShadow {
  std::map<std::string, std::uint64_t> verdicts = {
      {"pass", 0}, {"fail", 0}, {"inconclusive", 0}, {"skip", 0}};
  std::map<std::string, std::vector<double>> metrics;
};

}  // namespace

ApiResponse FleetApi::ListDevices(const QueryParams& params) {
  DeviceFilter f;
  if (auto e = ParseDeviceFilter(params, &f)) return *e;
  f.stuck_before = Now() - kStuckSeconds;
  auto page = store_.ListDevices(f);
  if (!page.ok()) return ApiError(500, "internal", "cannot list devices: " + page.error().message);
  json devices = json::array();
  for (const DeviceSummary& s : page->devices) devices.push_back(SummaryJson(s, f.stuck_before));
  return {200, json{{"total", page->total},
                    {"limit", f.limit},
                    {"offset", f.offset},
                    {"stuck_after_seconds", kStuckSeconds},
                    {"devices", devices}}};
}

ApiResponse FleetApi::GetDevice(const std::string& device_id, const QueryParams& params) {
  if (!IsValidDeviceId(device_id)) {
    return ApiError(404, "not-found", "no such device (ids are 1 to 128 of [A-Za-z0-9._-])");
  }
  if (auto e = CheckNames(params, {"limit", "before"})) return *e;
  std::int64_t limit = 0, before = 0;
  if (auto e = IntParam(params, "limit", kDefaultTimelineLimit, 1, kMaxTimelineLimit, &limit)) {
    return *e;
  }
  if (auto e = IntParam(params, "before", 0, 1, INT64_MAX, &before)) return *e;
  auto view = store_.DeviceView(device_id, static_cast<std::size_t>(limit), before);
  if (!view.ok()) return ApiError(500, "internal", "cannot read device: " + view.error().message);
  if (!*view) return ApiError(404, "not-found", "no enrolled device " + device_id);
  const DeviceDetail& d = **view;
  const std::int64_t stuck_before = Now() - kStuckSeconds;
  json out = SummaryJson(d.summary, stuck_before);
  out["enrolled_with"] = d.enrolled_with;
  for (json& m : out["models"]) {
    auto prev = d.previous_versions.find(m["model"].get<std::string>());
    m["previous_version"] = prev == d.previous_versions.end() ? "" : prev->second;
  }
  out["chain"] = {{"verified", d.chain_known && d.summary.chain_problem.empty()},
                  {"known", d.chain_known},
                  {"anchor_seq", d.chain_anchor_seq},
                  {"checked_seq", d.chain_checked_seq},
                  {"problem", d.summary.chain_problem},
                  {"problem_seq", d.summary.chain_problem_seq}};
  json events = json::array();
  for (const StoredEvent& e : d.timeline) {
    events.push_back(
        {{"seq", e.seq}, {"received_at", Iso(e.received_at)}, {"type", e.type}, {"event", e.body}});
  }
  out["events"] = events;
  out["events_truncated"] = d.timeline_truncated;
  if (d.timeline_truncated && !d.timeline.empty()) out["next_before"] = d.timeline.back().seq;
  return {200, out};
}

ApiResponse FleetApi::ShadowSummary(const QueryParams& params) {
  if (auto e = CheckNames(params, {"model", "limit"})) return *e;
  const std::string model = Param(params, "model");
  if (!IsModelName(model)) {
    return BadParam("query parameter model is required and must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  std::int64_t limit = 0;
  if (auto e = IntParam(params, "limit", kDefaultShadowLimit, 1, kMaxShadowLimit, &limit)) {
    return *e;
  }
  auto events = store_.ShadowEvents(model, static_cast<std::size_t>(limit));
  if (!events.ok()) {
    return ApiError(500, "internal", "cannot read shadow results: " + events.error().message);
  }
  std::map<std::string, VersionShadow> by_version;
  for (const StoredEvent& e : *events) {
    VersionShadow& v = by_version[e.body.value("version", "unknown")];
    if (e.type == "shadow-skipped") {
      ++v.verdicts["skip"];
      continue;
    }
    const std::string verdict = e.body.value("verdict", "");
    if (v.verdicts.contains(verdict)) ++v.verdicts[verdict];
    auto report = e.body.find("report");
    if (report == e.body.end() || !report->is_object()) continue;
    if (auto m = report->find("metrics"); m != report->end() && m->is_object()) {
      CollectMetrics(*m, "", &v.metrics);
    }
  }
  json versions = json::array();
  for (auto& [version, v] : by_version) {
    json metrics = json::object();
    for (auto& [name, values] : v.metrics) {
      std::sort(values.begin(), values.end());
      metrics[name] = {{"count", values.size()},
                       {"min", values.front()},
                       {"p50", Percentile(values, 50)},
                       {"p95", Percentile(values, 95)},
                       {"max", values.back()}};
    }
    versions.push_back({{"version", version}, {"verdicts", v.verdicts}, {"metrics", metrics}});
  }
  return {200, json{{"model", model},
                    {"events", events->size()},
                    {"limit", limit},
                    {"truncated", events->size() == static_cast<std::size_t>(limit)},
                    {"versions", versions}}};
}

// ---- Drill reports ----

namespace {

namespace fs = std::filesystem;

bool IsDrillName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// The regular file `file` of drill `name`, when it is inside `dir` (after
// symbolic links); nullopt otherwise.
std::optional<fs::path> DrillFile(const std::string& dir, const std::string& name,
                                  const char* file) {
  if (dir.empty() || !IsDrillName(name)) return std::nullopt;
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return std::nullopt;
  const fs::path path = fs::canonical(root / name / file, ec);
  if (ec || !fs::is_regular_file(path, ec) || path.parent_path().parent_path() != root) {
    return std::nullopt;
  }
  return path;
}

std::optional<std::string> ReadSmallFile(const fs::path& path) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxDrillFileBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ApiResponse NoDrill(const std::string& name) {
  return ApiError(404, "not-found", "no drill report named " + name.substr(0, 64));
}

}  // namespace

ApiResponse FleetApi::ListDrills(const std::string& drills_dir) {
  if (drills_dir.empty()) {
    return ApiError(404, "not-found", "no drills folder is configured (--drills-dir)");
  }
  std::set<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(drills_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (IsDrillName(name) && DrillFile(drills_dir, name, "report.json")) names.insert(name);
  }
  if (ec) return ApiError(500, "internal", "cannot read the drills folder: " + ec.message());
  json drills = json::array();
  for (const std::string& name : names) {
    if (drills.size() == kMaxDrills) break;
    json entry = {{"name", name},
                  {"has_timeline", DrillFile(drills_dir, name, "timeline.svg").has_value()}};
    auto text = ReadSmallFile(*DrillFile(drills_dir, name, "report.json"));
    json report = text ? json::parse(*text, nullptr, false) : json();
    if (report.is_object()) {
      entry["scenario"] = report.value("scenario", "");
      entry["passed"] = report.value("passed", false);
      entry["devices"] = report.value("devices", 0);
    } else {
      entry["error"] = "report.json is not a JSON object";
    }
    drills.push_back(std::move(entry));
  }
  return {200, json{{"drills", drills}, {"truncated", names.size() > kMaxDrills}}};
}

ApiResponse FleetApi::DrillReport(const std::string& drills_dir, const std::string& name) {
  auto path = DrillFile(drills_dir, name, "report.json");
  if (!path) return NoDrill(name);
  auto text = ReadSmallFile(*path);
  if (!text) return ApiError(500, "internal", "cannot read the report of drill " + name);
  json report = json::parse(*text, nullptr, false);
  if (report.is_discarded()) {
    return ApiError(500, "internal", "the report of drill " + name + " is not valid JSON");
  }
  return {200, report};
}

ApiResponse FleetApi::DrillTimeline(const std::string& drills_dir, const std::string& name,
                                    std::string* svg) {
  auto path = DrillFile(drills_dir, name, "timeline.svg");
  if (!path) return NoDrill(name);
  auto text = ReadSmallFile(*path);
  if (!text) return ApiError(500, "internal", "cannot read the timeline of drill " + name);
  *svg = std::move(*text);
  return {200, json::object()};
}

Result<int> FleetApi::AnnounceNewDrills(const std::string& drills_dir) {
  if (drills_dir.empty()) return 0;
  // Runs every second or so: lists the folder, and reads only the reports
  // of drills this process has not settled yet.
  std::lock_guard lock(drills_mu_);
  std::error_code ec;
  int announced = 0;
  for (fs::directory_iterator it(drills_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!IsDrillName(name) || drills_settled_.contains(name)) continue;
    auto file = DrillFile(drills_dir, name, "report.json");
    if (!file) continue;  // Not written yet: looked at again next time.
    auto text = ReadSmallFile(*file);
    const json report = text ? json::parse(*text, nullptr, false) : json();
    if (!report.is_object()) continue;
    const json body = {{"event", "drill.finished"},
                       {"drill", name},
                       {"scenario", report.value("scenario", "")},
                       {"passed", report.value("passed", false)},
                       {"devices", report.value("devices", 0)}};
    OTA_ASSIGN_OR_RETURN(bool written,
                         store_.EnqueueWebhookOnce("drill/" + name, "drill.finished", body));
    if (written) ++announced;
    drills_settled_.insert(name);
  }
  if (ec) return MakeError(ErrorCode::kIo, "cannot read the drills folder: " + ec.message());
  return announced;
}

}  // namespace ota::server
