// otactl drill live: a rollback drill on real devices tagged for drills
// (docs/drills.md, "Live drills"). Publishes a drill-marked version to that
// cohort only (a one-stage rollout whose selector is the tag), waits until the
// devices run it, orders the rollback, and measures from the devices' signed
// reports (as the server stored them) how long each took to be back. The
// outcome is kept as a "live-drill" record of the server audit log.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/tuf_metadata.h"
#include "server_args.h"

namespace ota::tools {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr int kExitFailed = 1;
constexpr int kExitError = 3;
constexpr std::size_t kMaxCohort = 10000;

struct LiveArgs {
  OperatorServerArgs conn;
  std::string model, drill_version, baseline_version, tag = "drill", rollout_id, reason, out_dir;
  long long hold_seconds = 0;
  long long timeout_seconds = 1800;
  long long poll_ms = 2000;
  long long expect_back_seconds = 0;
  bool json_output = false;
};

// What the server last stored about one drill device's model.
struct DeviceState {
  std::string version, phase;
  std::int64_t updated_at = 0;  // Server receive time, Unix seconds.
};

std::int64_t UnixFromIso(const std::string& text) {
  auto t = manifest::ParseExpires(text);
  return t.ok() ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count()
                : 0;
}

bool Running(const DeviceState& s, const std::string& version) {
  return s.version == version && (s.phase == "activated" || s.phase == "confirmed");
}

// The drill cohort: every device carrying the tag, with its state for the
// model. nullopt (and *exit_code) when the server refused.
std::optional<std::map<std::string, DeviceState>> Cohort(const LiveArgs& a, int* exit_code) {
  std::map<std::string, DeviceState> out;
  for (std::size_t offset = 0; offset < kMaxCohort; offset += 500) {
    auto page = CallOperatorApi(a.conn, "GET",
                                "/v1/devices?limit=500&offset=" + std::to_string(offset) +
                                    "&tag=" + UrlEncodeQueryValue(a.tag),
                                nullptr, exit_code);
    if (!page) return std::nullopt;
    const json devices = page->value("devices", json::array());
    for (const json& d : devices) {
      DeviceState s;
      for (const json& m : d.value("models", json::array())) {
        if (m.value("model", "") != a.model) continue;
        s = {m.value("version", ""), m.value("phase", ""), UnixFromIso(m.value("updated_at", ""))};
      }
      out[d.value("device_id", "")] = s;
    }
    if (devices.size() < 500) break;
  }
  return out;
}

json CreateBody(const LiveArgs& a, const manifest::Version& drill) {
  manifest::RolloutManifest m;
  m.rollout_id = a.rollout_id;
  m.model = a.model;
  m.version = 1;
  m.target.bundle_version = drill;
  manifest::RolloutStage stage;
  stage.percent_hundredths = 10000;
  stage.selectors.tags_any_of = {a.tag};
  m.stages.push_back(stage);
  return {{"manifest", manifest::ToJson(m)},
          {"policy", {{"min_reporting", 1}, {"approval", "auto"}, {"on_error", "pause"}}},
          {"reason", a.reason}};
}

std::int64_t Percentile(std::vector<std::int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Polls the cohort until `done` holds for every device in `who` or the time
// runs out; returns the last states.
std::optional<std::map<std::string, DeviceState>> WaitFor(
    const LiveArgs& a, const std::vector<std::string>& who, Clock::time_point deadline,
    const std::function<bool(const DeviceState&)>& done, int* exit_code) {
  while (true) {
    auto states = Cohort(a, exit_code);
    if (!states) return std::nullopt;
    const bool all = std::all_of(who.begin(), who.end(), [&](const std::string& id) {
      auto it = states->find(id);
      return it != states->end() && done(it->second);
    });
    if (all || Clock::now() >= deadline) return states;
    std::this_thread::sleep_for(std::chrono::milliseconds(a.poll_ms));
  }
}

// The audit time of the rollout's latest `action`, Unix seconds (0: none).
std::int64_t ActionTime(const json& status, const std::string& action) {
  std::int64_t at = 0;
  for (const json& e : status.value("audit", json::array())) {
    if (e.value("action", "") == action) at = UnixFromIso(e.value("at", ""));
  }
  return at;
}

void PrintReport(const json& r) {
  auto secs = [](const json& v) {
    char buf[32];
    if (v.is_null()) return std::string("-");
    std::snprintf(buf, sizeof(buf), "%lld s", static_cast<long long>(v.get<std::int64_t>()));
    return std::string(buf);
  };
  std::printf("live drill %s: model %s, drill version %s, back to %s, cohort tag %s\n",
              r["rollout_id"].get<std::string>().c_str(), r["model"].get<std::string>().c_str(),
              r["drill_version"].get<std::string>().c_str(),
              r["baseline_version"].get<std::string>().c_str(),
              r["tag"].get<std::string>().c_str());
  std::printf("  drill devices          %s\n", r["devices"].dump().c_str());
  std::printf("  ran the drill version  %s\n", r["exposed"].dump().c_str());
  std::printf("  back after the order   %s\n", r["back"].dump().c_str());
  std::printf("  back after (p50/p95/max) %s / %s / %s\n", secs(r["back_p50_seconds"]).c_str(),
              secs(r["back_p95_seconds"]).c_str(), secs(r["back_max_seconds"]).c_str());
  for (const json& s : r["stuck"]) {
    std::printf("  stuck: %s (%s)\n", s["device_id"].get<std::string>().c_str(),
                s["why"].get<std::string>().c_str());
  }
  std::printf("  result                 %s\n", r["passed"].get<bool>() ? "PASS" : "FAIL");
}

int WriteOut(const LiveArgs& a, const json& report) {
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  std::ofstream out(a.out_dir + "/report.json");
  out << report.dump(2) << "\n";
  if (ec || !out) return Fail("cannot write " + a.out_dir + "/report.json");
  return 0;
}

// The checks before anything is changed; 0 or the usage exit code.
int CheckArgs(LiveArgs& a, manifest::Version* drill) {
  auto v = manifest::ParseVersion(a.drill_version);
  if (!v.ok()) return OperatorUsage("--version: " + v.error().message);
  const auto dash = a.drill_version.find('-');
  if (dash == std::string::npos || a.drill_version.find("drill", dash) == std::string::npos) {
    return OperatorUsage(
        "--version must be marked as a drill version (a pre-release naming "
        "drill, e.g. 2.1.0-drill.1), not " +
        a.drill_version);
  }
  if (!manifest::ParseVersion(a.baseline_version).ok()) {
    return OperatorUsage("--to: not a version: " + a.baseline_version);
  }
  if (a.rollout_id.empty()) {
    a.rollout_id = "drill-" + a.model + "-" +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      Clock::now().time_since_epoch())
                                      .count());
  }
  if (a.reason.empty()) a.reason = "live drill of " + a.drill_version + " on tag " + a.tag;
  *drill = *v;
  return 0;
}

int RunLive(LiveArgs a) {
  manifest::Version drill;
  if (int rc = CheckArgs(a, &drill); rc != 0) return rc;
  int code = 0;
  auto cohort = Cohort(a, &code);
  if (!cohort) return kExitError;
  if (cohort->empty()) return OperatorUsage("no enrolled device carries tag " + a.tag);
  std::vector<std::string> ids;
  for (const auto& [id, s] : *cohort) ids.push_back(id);
  const auto timeout = std::chrono::seconds(a.timeout_seconds);

  const json create = CreateBody(a, drill);
  if (!CallOperatorApi(a.conn, "POST", "/v1/rollouts", &create, &code)) return kExitError;
  std::fprintf(stderr, "otactl: drill rollout %s created for %zu devices tagged %s\n",
               a.rollout_id.c_str(), ids.size(), a.tag.c_str());
  auto exposed_states = WaitFor(
      a, ids, Clock::now() + timeout,
      [&](const DeviceState& s) { return Running(s, a.drill_version); }, &code);
  if (!exposed_states) return kExitError;
  std::vector<std::string> exposed;
  for (const std::string& id : ids) {
    if (Running((*exposed_states)[id], a.drill_version)) exposed.push_back(id);
  }
  std::this_thread::sleep_for(std::chrono::seconds(a.hold_seconds));

  const json order = {{"to_version", a.baseline_version}, {"stages", {0}}, {"reason", a.reason}};
  if (!CallOperatorApi(a.conn, "POST", "/v1/rollouts/" + a.rollout_id + "/rollback", &order,
                       &code)) {
    return kExitError;
  }
  auto status = CallOperatorApi(a.conn, "GET", "/v1/rollouts/" + a.rollout_id, nullptr, &code);
  if (!status) return kExitError;
  const std::int64_t ordered_at = ActionTime(*status, "rollback");
  auto back_states = WaitFor(
      a, exposed, Clock::now() + timeout,
      [&](const DeviceState& s) {
        return Running(s, a.baseline_version) && s.updated_at >= ordered_at;
      },
      &code);
  if (!back_states) return kExitError;
  const json halt = {{"reason", "live drill finished"}};
  if (!CallOperatorApi(a.conn, "POST", "/v1/rollouts/" + a.rollout_id + "/halt", &halt, &code)) {
    return kExitError;
  }

  std::vector<std::int64_t> back_after;
  json stuck = json::array();
  for (const std::string& id : ids) {
    const DeviceState& s = (*back_states)[id];
    const bool was_exposed = std::find(exposed.begin(), exposed.end(), id) != exposed.end();
    if (was_exposed && Running(s, a.baseline_version) && s.updated_at >= ordered_at) {
      back_after.push_back(s.updated_at - ordered_at);
    } else if (stuck.size() < 100) {
      stuck.push_back(
          {{"device_id", id},
           {"why",
            (was_exposed ? std::string("not back: ") : std::string("never ran the drill: ")) +
                (s.version.empty() ? std::string("no report") : s.version + " " + s.phase)}});
    }
  }
  const bool all_back = back_after.size() == ids.size();
  const std::int64_t worst = Percentile(back_after, 100);
  const bool in_time = a.expect_back_seconds == 0 || worst <= a.expect_back_seconds;
  json report = {
      {"rollout_id", a.rollout_id},
      {"model", a.model},
      {"drill_version", a.drill_version},
      {"baseline_version", a.baseline_version},
      {"tag", a.tag},
      {"ordered_at", manifest::FormatExpires(Clock::time_point(std::chrono::seconds(ordered_at)))},
      {"devices", ids.size()},
      {"exposed", exposed.size()},
      {"back", back_after.size()},
      {"back_p50_seconds", back_after.empty() ? json(nullptr) : json(Percentile(back_after, 50))},
      {"back_p95_seconds", back_after.empty() ? json(nullptr) : json(Percentile(back_after, 95))},
      {"back_max_seconds", back_after.empty() ? json(nullptr) : json(worst)},
      {"stuck", stuck},
      {"passed", all_back && in_time}};
  auto recorded = CallOperatorApi(a.conn, "POST", "/v1/live-drills", &report, &code);
  if (!recorded) return kExitError;
  report["audit_seq"] = recorded->value("audit_seq", 0);
  if (a.json_output) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    PrintReport(report);
  }
  if (!a.out_dir.empty()) {
    if (int rc = WriteOut(a, report); rc != 0) return kExitError;
  }
  return report["passed"].get<bool>() ? 0 : kExitFailed;
}

}  // namespace

void RegisterDrillLiveCommand(CLI::App& group, CommandRunner* selected) {
  auto args = std::make_shared<LiveArgs>();
  CLI::App* live = group.add_subcommand(
      "live", "Rehearse a rollback on real devices tagged for drills and measure recovery");
  AddOperatorServerOptions(*live, args->conn);
  live->add_option("--model", args->model, "Model name")->required();
  live->add_option("--version", args->drill_version,
                   "Drill version to publish to the cohort (pre-release naming drill, e.g. "
                   "2.1.0-drill.1), already in the repository")
      ->required();
  live->add_option("--to", args->baseline_version, "Version the devices go back to")->required();
  live->add_option("--tag", args->tag, "The drill cohort: devices carrying this tag")
      ->capture_default_str();
  live->add_option("--rollout-id", args->rollout_id, "Default: drill-<model>-<unix time>");
  live->add_option("--reason", args->reason, "Kept in the audit records");
  live->add_option("--hold-seconds", args->hold_seconds,
                   "Time on the drill version before the rollback order")
      ->check(CLI::Range(0LL, 86400LL))
      ->capture_default_str();
  live->add_option("--timeout-seconds", args->timeout_seconds,
                   "Give up waiting for devices after this long (each phase)")
      ->check(CLI::Range(1LL, 7LL * 86400))
      ->capture_default_str();
  live->add_option("--poll-ms", args->poll_ms, "How often the devices' state is read")
      ->check(CLI::Range(50LL, 60000LL))
      ->capture_default_str();
  live->add_option("--expect-back-seconds", args->expect_back_seconds,
                   "Fail unless every device is back within this many seconds of the order")
      ->check(CLI::Range(0LL, 7LL * 86400));
  live->add_option("--out", args->out_dir, "Write report.json here");
  live->add_flag("--json", args->json_output, "Print the report as JSON");
  live->callback([args, selected] { *selected = [args] { return RunLive(*args); }; });
}

}  // namespace ota::tools
