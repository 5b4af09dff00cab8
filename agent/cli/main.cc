// ota-agent: the device agent's command line.
//
// Exit codes: 0 success; 1 the operation failed (one line on stderr says
// why); 2 usage error; 3 `update` ran but a model update failed or was
// deferred (a new version active in its confirmation window is not); 70
// an internal error (ota/common/main_guard.h).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/agent/daemon.h"
#include "ota/agent/device_facts.h"
#include "ota/agent/tls.h"
#include "ota/common/crash_points.h"
#include "ota/common/log.h"
#include "ota/common/main_guard.h"
#include "progress.h"

namespace ota::agent {
namespace {

int Fail(const Error& e) {
  std::fprintf(stderr, "ota-agent: %s\n", e.ToString().c_str());
  return 1;
}

nlohmann::json ToJson(const CheckResult& r) {
  nlohmann::json j = {{"model", r.model}, {"update_available", r.update_available}};
  j["active"] = r.active ? nlohmann::json{{"id", r.active->id},
                                          {"version", r.active->version},
                                          {"path", r.active->path}}
                         : nlohmann::json(nullptr);
  j["available_version"] =
      r.available_version ? nlohmann::json(*r.available_version) : nlohmann::json(nullptr);
  j["download_bytes"] = r.download_bytes;
  if (!r.available_variant.empty()) j["variant"] = r.available_variant;
  if (!r.incompatible_reason.empty()) j["incompatible"] = r.incompatible_reason;
  return j;
}

const char* KindName(UpdateOutcome::Kind k) {
  switch (k) {
    case UpdateOutcome::Kind::kUpToDate:
      return "up-to-date";
    case UpdateOutcome::Kind::kUpdated:
      return "updated";
    case UpdateOutcome::Kind::kFailed:
      return "failed";
    case UpdateOutcome::Kind::kDeferred:
      return "deferred";
  }
  return "unknown";
}

nlohmann::json ToJson(const UpdateOutcome& o) {
  nlohmann::json j = {{"model", o.model},
                      {"outcome", o.confirming ? "confirming" : KindName(o.kind)},
                      {"from_version", o.from_version},
                      {"to_version", o.to_version},
                      {"bytes_fetched", o.bytes_fetched},
                      {"bytes_resumed", o.bytes_resumed},
                      {"duration_ms", o.duration.count()}};
  if (o.error) {
    j["error_code"] = ota::ErrorCodeName(o.error->code);
    j["error"] = o.error->message;
  }
  return j;
}

void PrintOutcome(const UpdateOutcome& o) {
  if (o.confirming) {
    // Active, waiting for its confirmation window: not a failure.
    std::printf("%s: confirming %s%s\n", o.model.c_str(), o.to_version.c_str(),
                o.error ? (" (" + o.error->message + ")").c_str() : "");
    return;
  }
  std::string line = o.model + ": " + KindName(o.kind);
  if (o.kind == UpdateOutcome::Kind::kUpdated) {
    line += " " + (o.from_version.empty() ? std::string("(none)") : o.from_version) + " -> " +
            o.to_version + ", fetched " + HumanBytes(o.bytes_fetched);
    if (o.bytes_resumed > 0) line += " (resumed after " + HumanBytes(o.bytes_resumed) + ")";
    line += " in " + std::to_string(o.duration.count()) + " ms";
  } else if (o.kind == UpdateOutcome::Kind::kUpToDate) {
    line += o.to_version.empty() ? " (nothing published)" : " at " + o.to_version;
  } else {
    line += " (target " + o.to_version + ")";
  }
  if (o.error) line += ": " + o.error->ToString();
  std::printf("%s\n", line.c_str());
}

std::string FormatTime(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int PrintShadowResults(const std::vector<ShadowVerdict>& rows, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const ShadowVerdict& v : rows) {
      auto report = nlohmann::json::parse(v.report_json, nullptr, /*allow_exceptions=*/false);
      out.push_back({{"id", v.id},
                     {"deployment_id", v.deployment_id},
                     {"model", v.model},
                     {"candidate_id", v.candidate_id},
                     {"candidate_version", v.candidate_version},
                     {"current_id", v.current_id},
                     {"current_version", v.current_version},
                     {"verdict", v.verdict},
                     {"action", v.action},
                     {"gate", v.gate},
                     {"reason", v.reason},
                     {"attempt", v.attempt},
                     {"time", v.created_at},
                     {"report", report.is_discarded() ? nlohmann::json(nullptr) : report}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (rows.empty()) std::printf("no shadow tests recorded\n");
  for (const ShadowVerdict& v : rows) {
    std::printf("%s  %s %s vs %s  %s (%s, %s gate, attempt %d): %s\n",
                FormatTime(v.created_at).c_str(), v.model.c_str(), v.candidate_version.c_str(),
                v.current_version.c_str(), v.verdict.c_str(), v.action.c_str(), v.gate.c_str(),
                v.attempt, v.reason.c_str());
  }
  return 0;
}

int PrintStatus(const AgentStatus& s, bool json) {
  if (json) {
    nlohmann::json j = {
        {"device_id", s.device_id},          {"server_url", s.server_url},
        {"state_dir", s.state_dir},          {"pending_reports", s.pending_reports},
        {"models", nlohmann::json::array()}, {"deployments", nlohmann::json::array()}};
    for (const CheckResult& r : s.active) j["models"].push_back(ToJson(r));
    for (const DeploymentSummary& d : s.recent_deployments) {
      j["deployments"].push_back({{"id", d.id},
                                  {"model", d.model},
                                  {"version", d.version},
                                  {"state", d.state},
                                  {"error", d.error},
                                  {"updated_at", FormatTime(d.updated_at)}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("device    %s\nserver    %s\nstate     %s\n", s.device_id.c_str(),
              s.server_url.c_str(), s.state_dir.c_str());
  for (const CheckResult& r : s.active) {
    if (r.active) {
      std::printf("model     %s  active %s  (%s)\n", r.model.c_str(), r.active->version.c_str(),
                  r.active->path.c_str());
    } else {
      std::printf("model     %s  no version installed\n", r.model.c_str());
    }
  }
  std::printf("reports   %lld queued\n", static_cast<long long>(s.pending_reports));
  if (!s.recent_deployments.empty()) std::printf("recent deployments:\n");
  for (const DeploymentSummary& d : s.recent_deployments) {
    std::printf("  #%lld %s %s %s %s%s\n", static_cast<long long>(d.id),
                FormatTime(d.updated_at).c_str(), d.model.c_str(), d.version.c_str(),
                d.state.c_str(), d.error.empty() ? "" : ("  " + d.error).c_str());
  }
  return 0;
}

// Blocks until `d` passes or SIGTERM/SIGINT arrives (signals are blocked in
// every thread and taken synchronously, so no handler races the agent).
bool WaitOrStop(std::chrono::milliseconds d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{static_cast<time_t>(d.count() / 1000),
              static_cast<long>((d.count() % 1000) * 1000000)};
  while (true) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) return false;
    if (sig < 0 && errno == EINTR) continue;
    return true;  // Timed out: time for the next cycle.
  }
}

// MODEL=POLICY[:SECONDS]; the deadline defaults to `base`'s.
ota::Result<std::pair<std::string, DrainOptions>> ParseDrainSpec(const std::string& spec,
                                                                 const DrainOptions& base) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    return ota::MakeError(ota::ErrorCode::kInvalidArgument, "expected MODEL=POLICY[:SECONDS]");
  }
  const std::string model = spec.substr(0, eq);
  bool valid = model.size() <= 64;
  for (std::size_t i = 0; i < model.size() && valid; ++i) {
    const char c = model[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    valid = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
  }
  if (!valid) {
    return ota::MakeError(ota::ErrorCode::kInvalidArgument,
                          "invalid model name \"" + model + "\" (use [a-z0-9][a-z0-9._-]{0,63})");
  }
  DrainOptions d = base;
  std::string rest = spec.substr(eq + 1);
  const auto colon = rest.find(':');
  if (colon != std::string::npos) {
    const std::string secs = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(secs.c_str(), &end);
    if (secs.empty() || end == nullptr || *end != '\0' || errno != 0 || !(v >= 0 && v <= 86400)) {
      return ota::MakeError(ota::ErrorCode::kInvalidArgument,
                            "deadline must be 0 to 86400 seconds (got \"" + secs + "\")");
    }
    d.deadline = std::chrono::milliseconds(static_cast<long long>(v * 1000));
  }
  auto policy = ParseDrainPolicy(rest);
  if (!policy) {
    return ota::MakeError(ota::ErrorCode::kInvalidArgument,
                          "policy must be defer or switch-new-first (got \"" + rest + "\")");
  }
  d.policy = *policy;
  return std::make_pair(model, d);
}

}  // namespace
}  // namespace ota::agent

namespace {

int AgentMain(int argc, char** argv) {
  using namespace ota::agent;  // NOLINT: main only.
  CLI::App app{"ota-agent: keeps this device's models up to date, safely."};
  app.require_subcommand(1);
  std::string state_dir;
  std::string server;
  bool verbose = false;
  app.add_option("--state-dir", state_dir, "Agent state folder")->required();
  app.add_option("--server", server, "Server base URL (overrides the enrolled one)");
  app.add_flag("-v,--verbose", verbose, "Log debug details");
  // TLS trust (docs/security.md "TLS"): recorded by init, replaced for one
  // run when given to any other command, like --server.
  std::string ca_bundle;
  std::vector<std::string> pins;
  app.add_option("--ca-bundle", ca_bundle,
                 "PEM file of the CAs to trust for an https server instead of the system store "
                 "(init: copied into the state folder)");
  app.add_option("--pin-sha256", pins,
                 "Base64 SHA-256 of a server public key (SubjectPublicKeyInfo) the server must "
                 "present; repeatable (init: recorded)");
  std::string app_version;
  app.add_option("--app-version", app_version,
                 "The app's version for rollout selectors and pins (overrides "
                 "device-facts.json)");
  // Session drain at activation (docs/operator-guide.md "Session drain").
  std::string drain_policy = "switch-new-first";
  double drain_deadline = 30;
  std::vector<std::string> drain_models;
  int acquire_bound_ms = 200;
  double defer_limit_hours = 24;
  app.add_option("--drain-policy", drain_policy,
                 "Default drain policy at activation: switch-new-first or defer")
      ->check(CLI::IsMember({"switch-new-first", "defer"}));
  app.add_option("--drain-deadline", drain_deadline,
                 "Seconds to wait for sessions on the old version")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--drain-model", drain_models,
                 "Per-model drain: MODEL=POLICY[:SECONDS] (repeatable)");
  app.add_option("--lease-acquire-bound-ms", acquire_bound_ms,
                 "Longest an app's lease acquire waits during a switch")
      ->check(CLI::Range(0, 60000));
  app.add_option("--defer-limit-hours", defer_limit_hours,
                 "After deferring this long, switch new sessions first")
      ->check(CLI::Range(0.0, 8760.0));
  // Confirmation window (docs/operator-guide.md "Confirmation window").
  AgentOptions defaults;
  int confirm_sessions = defaults.confirm_sessions;
  int confirm_window = static_cast<int>(defaults.confirm_window.count());
  int confirm_max_failures = defaults.confirm_max_failures;
  int confirm_max_restarts = defaults.confirm_max_restarts;
  app.add_option("--confirm-sessions", confirm_sessions,
                 "Successful app sessions on a new version that confirm it (0: the window only)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--confirm-window", confirm_window,
                 "Seconds after activation with no session failure that confirm a new version "
                 "(0: confirm right after the load check)")
      ->check(CLI::Range(0, 30 * 24 * 3600));
  app.add_option("--confirm-max-failures", confirm_max_failures,
                 "Failed sessions, before enough successes, that roll a new version back")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--confirm-max-restarts", confirm_max_restarts,
                 "Agent starts while confirming tolerated; one more rolls back (crash loop)")
      ->check(CLI::Range(0, 1000));

  auto* init = app.add_subcommand("init", "Enroll this device: trust a root and pick models");
  std::string root_file;
  std::vector<std::string> models;
  init->add_option("--root", root_file, "Trusted root.json to start from")
      ->required()
      ->check(CLI::ExistingFile);
  init->add_option("--model", models, "Model name to track (repeatable)")->required();
  std::string recipient_key;
  init->add_option("--recipient-key", recipient_key,
                   "Install this fleet recipient private key (mode 0600) instead of generating "
                   "a device key")
      ->check(CLI::ExistingFile);
  std::string enrollment_token_file;
  init->add_option("--enrollment-token-file", enrollment_token_file,
                   "File holding the fleet enrollment token the server requires of new devices "
                   "(ota-server enrollment-token create)")
      ->check(CLI::ExistingFile);

  auto* set_tls = app.add_subcommand(
      "set-tls", "Record --ca-bundle and --pin-sha256 for every later run (rotation)");
  bool clear_pins = false;
  set_tls->add_flag("--clear-pins", clear_pins, "Remove the recorded pins");

  auto* check = app.add_subcommand("check", "Refresh signed metadata and show what would change");
  bool check_json = false;
  check->add_flag("--json", check_json, "Print JSON");

  auto* update = app.add_subcommand("update", "Run one full update cycle");
  bool no_progress = false;
  update->add_flag("--no-progress", no_progress, "Do not print download progress");
  bool update_json = false;
  update->add_flag("--json", update_json, "Print the outcomes as JSON (implies --no-progress)");

  auto* status = app.add_subcommand("status", "Show installed versions and recent deployments");
  bool status_json = false;
  status->add_flag("--json", status_json, "Print JSON");

  auto* shadow_results = app.add_subcommand(
      "shadow-results", "Show shadow-test verdicts recorded on this device, newest first");
  std::string shadow_model;
  shadow_results->add_option("--model", shadow_model, "Only this model");
  int shadow_limit = 20;
  shadow_results->add_option("--limit", shadow_limit, "At most this many verdicts")
      ->check(CLI::Range(1, 10000));
  bool shadow_json = false;
  shadow_results->add_flag("--json", shadow_json, "Print JSON, with each full report");

  auto* rollback = app.add_subcommand(
      "rollback", "Return a model to the previous version kept on disk (no download)");
  std::string rollback_model;
  rollback->add_option("--model", rollback_model,
                       "Model to roll back (default: the only tracked model)");
  int keep_versions = 2;
  app.add_option("--keep-versions", keep_versions,
                 "Verified versions kept per model, the active one included (2 keeps the "
                 "previous one for rollback without a download)")
      ->check(CLI::Range(1, 100));

  auto* audit = app.add_subcommand(
      "audit", "Print the event log and check its hash chain (exit 1 if it was altered)");
  bool audit_json = false;
  audit->add_flag("--json", audit_json, "Print JSON");

  auto* facts = app.add_subcommand(
      "facts", "Show the device facts variants are chosen by (probed, then device-facts.json)");

  auto* daemon = app.add_subcommand("daemon", "Poll and update until SIGTERM");
  int interval = 3600;
  double jitter = 0.2;
  daemon->add_option("--interval", interval, "Seconds between cycles")
      ->check(CLI::Range(1, 604800));
  daemon->add_option("--jitter", jitter, "Fraction of the interval to randomize")
      ->check(CLI::Range(0.0, 0.9));
  int confirm_poll = 30;
  daemon
      ->add_option("--confirm-poll", confirm_poll,
                   "Seconds between local re-checks while a confirmation window is open")
      ->check(CLI::Range(1, 86400));
  bool until_idle = false;
  daemon->add_flag("--until-idle", until_idle,
                   "Exit once a cycle leaves nothing confirming (one check of ota-agentd)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  ota::SetLogLevel(verbose ? ota::LogLevel::kDebug : ota::LogLevel::kWarning);

  // Taken synchronously by the daemon's wait; blocked before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (!daemon->parsed()) pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  auto owned = ota::MakePosixEnv();
  ota::Env& env = owned->env();
  // Power-loss tests only (OTA_CRASH_AT / OTA_CRASH_TRACE): every file
  // operation becomes a place the process may be killed.
  std::unique_ptr<ota::FileSystem> crashing_fs;
  if (ota::CrashPointsEnabled()) {
    crashing_fs = ota::MakeCrashingFileSystem(*env.fs);
    env.fs = crashing_fs.get();
  }

  if (init->parsed()) {
    auto root = env.fs->ReadFile(root_file, 1 << 20);
    if (!root.ok()) return Fail(root.error());
    EnrollOptions o{state_dir, server, *root, models, recipient_key, "", ca_bundle, pins};
    if (server.empty()) {
      std::fprintf(stderr, "ota-agent: init needs --server\n");
      return 2;
    }
    if (!enrollment_token_file.empty()) {
      auto token = env.fs->ReadFile(enrollment_token_file, 4096);
      if (!token.ok()) return Fail(token.error());
      o.enrollment_token = *token;
      while (!o.enrollment_token.empty() &&
             (o.enrollment_token.back() == '\n' || o.enrollment_token.back() == '\r')) {
        o.enrollment_token.pop_back();
      }
      if (o.enrollment_token.empty()) {
        std::fprintf(stderr, "ota-agent: --enrollment-token-file: %s is empty\n",
                     enrollment_token_file.c_str());
        return 2;
      }
    }
    auto s = Agent::Enroll(env, o);
    if (!s.ok()) return Fail(s.error());
    std::printf("enrolled %s for %zu model(s)\n", state_dir.c_str(), models.size());
    std::printf(
        "bundle recipient public key: %s/%s (%s; build bundles for this device with "
        "`otactl bundle build --recipient` and this file)\n",
        state_dir.c_str(), ota::agent::kDevicePublicKeyFile,
        recipient_key.empty() ? "new device key" : "installed fleet key");
    return 0;
  }

  if (set_tls->parsed()) {
    auto s = RecordTlsSettings(env, state_dir, {ca_bundle, pins}, clear_pins);
    if (!s.ok()) return Fail(s.error());
    std::printf("recorded TLS settings for %s\n", state_dir.c_str());
    return 0;
  }

  if (facts->parsed()) {
    auto text = DeviceFactsJson(env, state_dir);
    if (!text.ok()) return Fail(text.error());
    std::printf("%s\n", text->c_str());
    return 0;
  }

  AgentOptions options;
  options.state_dir = state_dir;
  options.server_url_override = server;
  options.ca_bundle_file = ca_bundle;
  options.pinned_sha256 = pins;
  options.drain.policy = *ParseDrainPolicy(drain_policy);
  options.drain.deadline = std::chrono::milliseconds(static_cast<long long>(drain_deadline * 1000));
  options.lease_acquire_bound = std::chrono::milliseconds(acquire_bound_ms);
  options.defer_limit = std::chrono::seconds(static_cast<long long>(defer_limit_hours * 3600));
  for (const std::string& spec : drain_models) {
    auto parsed = ParseDrainSpec(spec, options.drain);
    if (!parsed.ok()) {
      std::fprintf(stderr, "ota-agent: --drain-model %s: %s\n", spec.c_str(),
                   parsed.error().message.c_str());
      return 2;
    }
    options.drain_per_model[parsed->first] = parsed->second;
  }
  options.keep_versions = keep_versions;
  options.confirm_sessions = confirm_sessions;
  options.confirm_window = std::chrono::seconds(confirm_window);
  options.confirm_max_failures = confirm_max_failures;
  options.confirm_max_restarts = confirm_max_restarts;
  options.app_version = app_version;
  // Only the updating process counts as a start while a version confirms.
  if (status->parsed() || audit->parsed() || shadow_results->parsed()) {
    options.access = AgentAccess::kReadOnly;
  } else if (rollback->parsed()) {
    options.access = AgentAccess::kCommand;
  }
  auto agent = Agent::Open(env, options);
  if (!agent.ok()) return Fail(agent.error());

  if (check->parsed()) {
    auto results = (*agent)->Check();
    if (!results.ok()) return Fail(results.error());
    if (check_json) {
      nlohmann::json j = nlohmann::json::array();
      for (const CheckResult& r : *results) j.push_back(ToJson(r));
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    for (const CheckResult& r : *results) {
      std::printf("%s: active %s, newest signed %s%s\n", r.model.c_str(),
                  r.active ? r.active->version.c_str() : "(none)",
                  r.available_version ? r.available_version->c_str() : "(none)",
                  r.update_available
                      ? (", update available (" + HumanBytes(r.download_bytes) + ")").c_str()
                      : "");
      if (!r.incompatible_reason.empty()) {
        std::printf("  cannot install it here: %s\n", r.incompatible_reason.c_str());
      }
    }
    return 0;
  }
  if (update->parsed()) {
    ProgressPrinter printer(stderr, isatty(STDERR_FILENO) != 0);
    DownloadProgress progress;
    if (!no_progress && !update_json) {
      progress = [&](const std::string& m, std::uint64_t d, std::uint64_t t) {
        printer.Update(m, d, t);
      };
    }
    auto outcomes = (*agent)->Update(progress);
    printer.Finish();
    if (!outcomes.ok()) return Fail(outcomes.error());
    int rc = 0;
    nlohmann::json all = nlohmann::json::array();
    for (const UpdateOutcome& o : *outcomes) {
      if (update_json) {
        all.push_back(ToJson(o));
      } else {
        PrintOutcome(o);
      }
      if (o.kind == UpdateOutcome::Kind::kFailed ||
          (o.kind == UpdateOutcome::Kind::kDeferred && !o.confirming))
        rc = 3;
    }
    if (update_json) std::printf("%s\n", all.dump(2).c_str());
    return rc;
  }
  if (rollback->parsed()) {
    if (rollback_model.empty()) {
      auto s = (*agent)->GetStatus();
      if (!s.ok()) return Fail(s.error());
      if (s->models.size() != 1) {
        std::fprintf(stderr, "ota-agent: this device tracks %zu models; say which with --model\n",
                     s->models.size());
        return 2;
      }
      rollback_model = s->models[0];
    }
    auto r = (*agent)->RollBack(rollback_model);
    if (!r.ok()) return Fail(r.error());
    std::printf("%s: rolled back %s -> %s (kept on disk, nothing downloaded)\n", r->model.c_str(),
                r->from.version.c_str(), r->to.version.c_str());
    return 0;
  }
  if (audit->parsed()) {
    auto report = (*agent)->Audit();
    if (!report.ok()) return Fail(report.error());
    if (audit_json) {
      nlohmann::json j = {{"intact", report->intact}, {"events", nlohmann::json::array()}};
      if (!report->intact) j["problem"] = report->problem;
      for (const AuditEntry& e : report->entries) {
        auto body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
        j["events"].push_back({{"seq", e.seq},
                               {"chain", e.chain},
                               {"delivered", e.delivered},
                               {"event", body.is_discarded() ? nlohmann::json(e.body) : body}});
      }
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      for (const AuditEntry& e : report->entries) {
        std::printf("%6lld %.12s %s %s\n", static_cast<long long>(e.seq),
                    e.chain.empty() ? "(unchained) " : e.chain.c_str(),
                    e.delivered ? "sent  " : "queued", e.body.c_str());
      }
      if (report->intact) {
        std::printf("chain intact: %zu events, head %s\n", report->entries.size(),
                    report->entries.empty() ? "(none)" : report->entries.back().chain.c_str());
      }
    }
    if (!report->intact) {
      std::fprintf(stderr, "ota-agent: audit chain broken: %s\n", report->problem.c_str());
      return 1;
    }
    return 0;
  }
  if (shadow_results->parsed()) {
    auto rows = (*agent)->ShadowResults(shadow_model, shadow_limit);
    if (!rows.ok()) return Fail(rows.error());
    return PrintShadowResults(*rows, shadow_json);
  }
  if (status->parsed()) {
    auto s = (*agent)->GetStatus();
    if (!s.ok()) return Fail(s.error());
    return PrintStatus(*s, status_json);
  }
  // daemon
  DaemonOptions d;
  d.interval = std::chrono::seconds(interval);
  d.jitter = jitter;
  d.confirm_poll = std::chrono::seconds(confirm_poll);
  d.until_idle = until_idle;
  if (!until_idle) {
    std::fprintf(stderr, "ota-agent: daemon polling every %ds (±%.0f%%)\n", interval, jitter * 100);
  }
  RunDaemon(**agent, d, *env.random, WaitOrStop,
            [](const ota::Result<std::vector<UpdateOutcome>>& r) {
              if (!r.ok()) {
                std::fprintf(stderr, "ota-agent: cycle failed: %s\n", r.error().ToString().c_str());
                return;
              }
              for (const UpdateOutcome& o : *r) PrintOutcome(o);
              std::fflush(stdout);
            });
  if (!until_idle) std::fprintf(stderr, "ota-agent: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ota::RunGuardedMain("ota-agent", [&] { return AgentMain(argc, argv); });
}
