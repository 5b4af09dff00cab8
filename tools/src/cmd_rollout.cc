// otactl rollout ... and otactl fleet status: operator commands against
// ota-server's rollout API (docs/server-api.md), authenticated with a bearer
// token (docs/operator-guide.md, "Operator tokens").
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/common/tls.h"
#include "server_args.h"

namespace ota::tools {
namespace {

using nlohmann::json;

struct ServerArgs : OperatorServerArgs {
  bool json_output = false;
};

struct RolloutArgs {
  ServerArgs conn;
  std::string rollout_id;
  std::string manifest_file;
  std::string policy_file;
  std::string reason;
  std::string to_version;
  std::string app_versions;
  std::string bundle_version;
  std::string approval;
  std::string on_error;
  double success_percent = -1;
  double error_percent = -1;
  long long min_reporting = -1;
  long long max_errors = -1;
  long long percent = -1;
  bool force = false;
};

std::optional<json> Call(const ServerArgs& a, const std::string& method, const std::string& path,
                         const json* body, int* exit_code) {
  return CallOperatorApi(a, method, path, body, exit_code);
}

std::string Num(const json& v) {
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", v.get<double>());
    return buf;
  }
  return v.is_null() ? "-" : v.dump();
}

std::string Str(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return "-";
  const json& v = obj[key];
  return v.is_string() ? v.get<std::string>() : Num(v);
}

void PrintStatus(const json& s) {
  std::printf("rollout %s  model %s  target %s  state %s  manifest v%s  approval %s\n",
              Str(s, "rollout_id").c_str(), Str(s, "model").c_str(),
              Str(s, "target_version").c_str(), Str(s, "state").c_str(), Str(s, "version").c_str(),
              Str(s, "approval").c_str());
  std::printf("stage started %s, soak ends %s\n\n", Str(s, "stage_started_at").c_str(),
              Str(s, "soak_ends_at").c_str());
  std::printf("  %-5s %7s %7s %8s %9s %6s %6s %6s %6s %9s %8s %6s %7s %8s %7s  %s\n", "stage",
              "percent", "soak_s", "targeted", "reporting", "downl", "sh_ok", "sh_bad", "activ",
              "confirmed", "rolledbk", "failed", "incompat", "success%", "error%",
              "thresholds (succ%/err%/max err/min rep)");
  const json stages = s.value("stages", json::array());
  for (const json& st : stages) {
    const json ph = st.value("phases", json::object());
    const json p = st.value("policy", json::object());
    std::string thresholds = Num(p.value("success_percent", json())) + "/" +
                             Num(p.value("error_percent", json())) + "/" +
                             Num(p.value("max_errors", json())) + "/" +
                             Num(p.value("min_reporting", json())) + " " + Str(p, "on_error");
    std::printf("%s %-5s %6s%% %7s %8s %9s %6s %6s %6s %6s %9s %8s %6s %7s %8s %7s  %s\n",
                st.value("current", false) ? ">" : " ", Str(st, "index").c_str(),
                Str(st, "percent").c_str(), Str(st, "min_soak_seconds").c_str(),
                Str(st, "targeted").c_str(), Str(st, "reporting").c_str(),
                Str(ph, "downloading").c_str(), Str(ph, "shadow_pass").c_str(),
                Str(ph, "shadow_fail").c_str(), Str(ph, "activated").c_str(),
                Str(ph, "confirmed").c_str(), Str(ph, "rolled_back").c_str(),
                Str(ph, "failed").c_str(), Str(ph, "incompatible").c_str(),
                Str(st, "success_rate").c_str(), Str(st, "error_rate").c_str(), thresholds.c_str());
  }
  const json next = s.value("next_action", json::object());
  std::printf("\nnext action: %s (%s)\n", Str(next, "action").c_str(), Str(next, "reason").c_str());
  const json audit = s.value("audit", json::array());
  if (!audit.empty()) {
    std::printf("\naudit:\n");
    for (const json& a : audit) {
      std::printf("  %s  v%-4s %-16s %-20s %s\n", Str(a, "at").c_str(), Str(a, "version").c_str(),
                  Str(a, "action").c_str(), Str(a, "actor").c_str(), Str(a, "reason").c_str());
    }
  }
}

int RunStatus(const RolloutArgs& a) {
  int code = 0;
  if (a.rollout_id.empty()) {
    auto list = Call(a.conn, "GET", "/v1/rollouts", nullptr, &code);
    if (!list) return code;
    if (a.conn.json_output) {
      std::printf("%s\n", list->dump(2).c_str());
      return 0;
    }
    std::printf("%-24s %-16s %-12s %-8s %-7s %s\n", "rollout", "model", "target", "state", "stage",
                "manifest");
    for (const json& r : list->value("rollouts", json::array())) {
      std::printf("%-24s %-16s %-12s %-8s %s/%-5s v%s\n", Str(r, "rollout_id").c_str(),
                  Str(r, "model").c_str(), Str(r, "target_version").c_str(),
                  Str(r, "state").c_str(), Str(r, "current_stage").c_str(),
                  Str(r, "stages").c_str(), Str(r, "version").c_str());
    }
    return 0;
  }
  auto s = Call(a.conn, "GET", "/v1/rollouts/" + a.rollout_id, nullptr, &code);
  if (!s) return code;
  if (a.conn.json_output) {
    std::printf("%s\n", s->dump(2).c_str());
  } else {
    PrintStatus(*s);
  }
  return 0;
}

Result<json> ReadJsonFile(const std::string& path) {
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path, 1u << 20));
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return MakeError(ErrorCode::kInvalidArgument, path + ": invalid JSON");
  return doc;
}

int RunCreate(const RolloutArgs& a) {
  auto manifest = ReadJsonFile(a.manifest_file);
  if (!manifest.ok()) return OperatorUsage(manifest.error().message);
  json policy = json::object();
  if (!a.policy_file.empty()) {
    auto p = ReadJsonFile(a.policy_file);
    if (!p.ok()) return OperatorUsage(p.error().message);
    policy = *p;
    if (!policy.is_object())
      return OperatorUsage(a.policy_file + ": the policy must be a JSON object");
  }
  if (a.success_percent >= 0) policy["success_percent"] = a.success_percent;
  if (a.error_percent >= 0) policy["error_percent"] = a.error_percent;
  if (a.min_reporting >= 0) policy["min_reporting"] = a.min_reporting;
  if (a.max_errors >= 0) policy["max_errors"] = a.max_errors;
  if (!a.on_error.empty()) policy["on_error"] = a.on_error;
  if (!a.approval.empty()) policy["approval"] = a.approval;
  json body = {{"manifest", *manifest}, {"policy", policy}};
  if (!a.reason.empty()) body["reason"] = a.reason;
  int code = 0;
  auto r = Call(a.conn, "POST", "/v1/rollouts", &body, &code);
  if (!r) return code;
  if (a.conn.json_output) {
    std::printf("%s\n", r->dump(2).c_str());
  } else {
    std::printf("created rollout %s (manifest v%s)\n", Str(*r, "rollout_id").c_str(),
                Str(*r, "version").c_str());
  }
  return 0;
}

int RunAction(const RolloutArgs& a, const std::string& action) {
  json body = json::object();
  if (!a.reason.empty()) body["reason"] = a.reason;
  if (action == "advance" && a.force) body["force"] = true;
  if (action == "rollback") {
    body["to_version"] = a.to_version;
    if (a.percent > 0) body["percent"] = a.percent;
  }
  if (action == "pin" || action == "unpin") body["app_versions"] = a.app_versions;
  if (action == "pin") body["bundle_version"] = a.bundle_version;
  int code = 0;
  auto r = Call(a.conn, "POST", "/v1/rollouts/" + a.rollout_id + "/" + action, &body, &code);
  if (!r) return code;
  if (a.conn.json_output) {
    std::printf("%s\n", r->dump(2).c_str());
  } else {
    std::printf("%s %s: state %s, stage %s, manifest v%s\n", action.c_str(), a.rollout_id.c_str(),
                Str(*r, "state").c_str(), Str(*r, "current_stage").c_str(),
                Str(*r, "version").c_str());
  }
  return 0;
}

int RunFleetStatus(const ServerArgs& conn) {
  int code = 0;
  auto r = Call(conn, "GET", "/v1/fleet", nullptr, &code);
  if (!r) return code;
  if (conn.json_output) {
    std::printf("%s\n", r->dump(2).c_str());
    return 0;
  }
  std::printf("enrolled devices: %s\n\n", Str(*r, "devices").c_str());
  std::printf("%-24s %-16s %-14s %s\n", "model", "version", "state", "devices");
  const json models = r->value("models", json::object());
  for (auto m = models.begin(); m != models.end(); ++m) {
    if (!m->is_object()) continue;
    for (auto v = m->begin(); v != m->end(); ++v) {
      if (!v->is_object()) continue;
      for (auto p = v->begin(); p != v->end(); ++p) {
        std::printf("%-24s %-16s %-14s %s\n", m.key().c_str(), v.key().c_str(), p.key().c_str(),
                    Num(p.value()).c_str());
      }
    }
  }
  // Devices by enrollment facts (what stage selectors and pins see).
  for (const char* fact : {"app_versions", "regions", "tags"}) {
    const json counts = r->value(fact, json::object());
    if (!counts.is_object() || counts.empty()) continue;
    std::printf("\n%-41s %s\n", fact, "devices");
    for (auto c = counts.begin(); c != counts.end(); ++c) {
      std::printf("%-41s %s\n", c.key().c_str(), Num(c.value()).c_str());
    }
  }
  return 0;
}

void AddServerOptions(CLI::App& cmd, ServerArgs& a) {
  AddOperatorServerOptions(cmd, a);
  cmd.add_flag("--json", a.json_output, "Print the server's JSON answer");
}

}  // namespace

void RegisterRolloutCommands(CLI::App& app, CommandRunner* selected) {
  auto* rollout = app.add_subcommand("rollout", "Create and steer staged rollouts on ota-server");
  rollout->require_subcommand(1);

  {
    auto args = std::make_shared<RolloutArgs>();
    auto* c = rollout->add_subcommand("create", "Create a rollout from a rollout manifest");
    AddServerOptions(*c, args->conn);
    c->add_option("--manifest", args->manifest_file, "Rollout manifest (modelota.rollout/1)")
        ->required()
        ->check(CLI::ExistingFile);
    c->add_option("--policy", args->policy_file, "Controller policy JSON file")
        ->check(CLI::ExistingFile);
    c->add_option("--success-percent", args->success_percent,
                  "Confirmed devices needed to advance, percent of reporting")
        ->check(CLI::Range(0.0, 100.0));
    c->add_option("--error-percent", args->error_percent,
                  "Errors that stop the rollout, percent of reporting")
        ->check(CLI::Range(0.0, 100.0));
    c->add_option("--min-reporting", args->min_reporting,
                  "Devices that must report before rates count")
        ->check(CLI::Range(1LL, 1000000000LL));
    c->add_option("--max-errors", args->max_errors, "Errors that stop the rollout (0: off)")
        ->check(CLI::Range(0LL, 1000000000LL));
    c->add_option("--on-error", args->on_error, "pause or halt")
        ->check(CLI::IsMember({"pause", "halt"}));
    c->add_option("--approval", args->approval, "auto, or manual (an operator approves advances)")
        ->check(CLI::IsMember({"auto", "manual"}));
    c->add_option("--reason", args->reason, "Why (kept in the audit trail)");
    c->callback([args, selected] { *selected = [args] { return RunCreate(*args); }; });
  }
  {
    auto args = std::make_shared<RolloutArgs>();
    auto* c = rollout->add_subcommand("status", "Per-stage counts, rates, thresholds, next action");
    AddServerOptions(*c, args->conn);
    c->add_option("rollout", args->rollout_id, "Rollout id (none: list every rollout)");
    c->callback([args, selected] { *selected = [args] { return RunStatus(*args); }; });
  }
  struct ActionSpec {
    const char* name;
    const char* help;
  };
  for (const ActionSpec& spec :
       {ActionSpec{"advance", "Move to the next stage (approves in manual mode)"},
        ActionSpec{"pause", "Stop moving devices to the target"},
        ActionSpec{"resume", "Resume a paused or halted rollout (clears a rollback order)"},
        ActionSpec{"halt", "Stop the rollout for good"},
        ActionSpec{"rollback", "Order devices on the target back to an earlier version"},
        ActionSpec{"pin", "Pin app versions in a range to a bundle version"},
        ActionSpec{"unpin", "Remove the pin of an app version range"}}) {
    auto args = std::make_shared<RolloutArgs>();
    const std::string action = spec.name;
    auto* c = rollout->add_subcommand(action, spec.help);
    AddServerOptions(*c, args->conn);
    c->add_option("rollout", args->rollout_id, "Rollout id")->required();
    c->add_option("--reason", args->reason, "Why (kept in the audit trail)");
    if (action == "advance") {
      c->add_flag("--force", args->force, "Advance although the stage gate is not met");
    }
    if (action == "rollback") {
      c->add_option("--to", args->to_version, "Version to go back to")->required();
      c->add_option("--percent", args->percent,
                    "Only devices with a bucket below this (hundredths of a percent)")
          ->check(CLI::Range(1LL, 10000LL));
    }
    if (action == "pin" || action == "unpin") {
      c->add_option("--app-versions", args->app_versions, "App version range, e.g. \">=1.0 <2\"")
          ->required();
    }
    if (action == "pin") {
      c->add_option("--bundle-version", args->bundle_version, "Bundle version to pin to")
          ->required();
    }
    c->callback([args, selected, action] {
      *selected = [args, action] { return RunAction(*args, action); };
    });
  }

  auto* fleet = app.add_subcommand("fleet", "Fleet-wide views from ota-server");
  fleet->require_subcommand(1);
  auto conn = std::make_shared<ServerArgs>();
  auto* status = fleet->add_subcommand(
      "status", "Devices by model, version and state; by app version, region and tag");
  AddServerOptions(*status, *conn);
  status->callback([conn, selected] { *selected = [conn] { return RunFleetStatus(*conn); }; });
}

}  // namespace ota::tools
