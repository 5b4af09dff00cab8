// The options every ota-agent command shares, and opening the state folder
// with them.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "commands.h"
#include "ota/agent/conditions.h"
#include "ota/agent/drain.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/download_policy.h"

namespace ota::agent::cli {
namespace {

// MODEL=POLICY[:SECONDS]; the deadline defaults to `base`'s.
Result<std::pair<std::string, DrainOptions>> ParseDrainSpec(const std::string& spec,
                                                            const DrainOptions& base) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "expected MODEL=POLICY[:SECONDS]");
  }
  const std::string model = spec.substr(0, eq);
  bool valid = model.size() <= 64;
  for (std::size_t i = 0; i < model.size() && valid; ++i) {
    const char c = model[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    valid = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
  }
  if (!valid) {
    return MakeError(ErrorCode::kInvalidArgument,
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
      return MakeError(ErrorCode::kInvalidArgument,
                       "deadline must be 0 to 86400 seconds (got \"" + secs + "\")");
    }
    d.deadline = std::chrono::milliseconds(static_cast<long long>(v * 1000));
  }
  auto policy = ParseDrainPolicy(rest);
  if (!policy) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "policy must be defer or switch-new-first (got \"" + rest + "\")");
  }
  d.policy = *policy;
  return std::make_pair(model, d);
}

// The agent's options from the global ones; 0, or 2 after printing why a
// --drain-model is invalid.
int BuildAgentOptions(const GlobalOptions& g, AgentAccess access, AgentOptions& options) {
  options.state_dir = g.state_dir;
  options.server_url_override = g.server;
  options.ca_bundle_file = g.ca_bundle;
  options.pinned_sha256 = g.pins;
  options.drain.policy = *ParseDrainPolicy(g.drain_policy);
  options.drain.deadline =
      std::chrono::milliseconds(static_cast<long long>(g.drain_deadline * 1000));
  options.lease_acquire_bound = std::chrono::milliseconds(g.acquire_bound_ms);
  options.defer_limit = std::chrono::seconds(static_cast<long long>(g.defer_limit_hours * 3600));
  for (const std::string& spec : g.drain_models) {
    auto parsed = ParseDrainSpec(spec, options.drain);
    if (!parsed.ok()) {
      std::fprintf(stderr, "ota-agent: --drain-model %s: %s\n", spec.c_str(),
                   parsed.error().message.c_str());
      return 2;
    }
    options.drain_per_model[parsed->first] = parsed->second;
  }
  options.keep_versions = g.keep_versions;
  options.confirm_sessions = g.confirm_sessions;
  options.confirm_window = std::chrono::seconds(g.confirm_window);
  options.confirm_max_failures = g.confirm_max_failures;
  options.confirm_max_restarts = g.confirm_max_restarts;
  options.app_version = g.app_version;
  options.access = access;
  return 0;
}

// --download-policy and --conditions-file; 0, or 2 after printing why the
// policy file cannot be used.
int AddDownloadConditions(const GlobalOptions& g, Env& env, AgentOptions& options) {
  if (!g.download_policy_file.empty()) {
    auto text = env.fs->ReadFile(g.download_policy_file, 1 << 20);
    Result<nlohmann::json> parsed =
        text.ok() ? manifest::ParseJsonStrict(*text) : Result<nlohmann::json>(text.error());
    Result<manifest::DownloadPolicy> policy =
        parsed.ok() ? manifest::ParseDownloadPolicy(*parsed, "policy")
                    : Result<manifest::DownloadPolicy>(parsed.error());
    if (!policy.ok()) {
      std::fprintf(stderr, "ota-agent: --download-policy %s: %s\n", g.download_policy_file.c_str(),
                   policy.error().message.c_str());
      return 2;
    }
    options.download_policy = manifest::OverlayDownloadPolicy(options.download_policy, *policy);
  }
  if (!g.conditions_file.empty())
    options.conditions = ConditionsFromFile(*env.fs, g.conditions_file);
  return 0;
}

void AddDrainOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("--drain-policy", g.drain_policy,
                 "Default drain policy at activation: switch-new-first or defer")
      ->check(CLI::IsMember({"switch-new-first", "defer"}));
  app.add_option("--drain-deadline", g.drain_deadline,
                 "Seconds to wait for sessions on the old version")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--drain-model", g.drain_models,
                 "Per-model drain: MODEL=POLICY[:SECONDS] (repeatable)");
  app.add_option("--lease-acquire-bound-ms", g.acquire_bound_ms,
                 "Longest an app's lease acquire waits during a switch")
      ->check(CLI::Range(0, 60000));
  app.add_option("--defer-limit-hours", g.defer_limit_hours,
                 "After deferring this long, switch new sessions first")
      ->check(CLI::Range(0.0, 8760.0));
}

void AddConfirmOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("--confirm-sessions", g.confirm_sessions,
                 "Successful app sessions on a new version that confirm it (0: the window only)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--confirm-window", g.confirm_window,
                 "Seconds after activation with no session failure that confirm a new version "
                 "(0: confirm right after the load check)")
      ->check(CLI::Range(0, 30 * 24 * 3600));
  app.add_option("--confirm-max-failures", g.confirm_max_failures,
                 "Failed sessions, before enough successes, that roll a new version back")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--confirm-max-restarts", g.confirm_max_restarts,
                 "Agent starts while confirming tolerated; one more rolls back (crash loop)")
      ->check(CLI::Range(0, 1000));
}

}  // namespace

void RegisterGlobalOptions(CLI::App& app, GlobalOptions& g) {
  app.add_option("--state-dir", g.state_dir, "Agent state folder")->required();
  app.add_option("--server", g.server, "Server base URL (overrides the enrolled one)");
  app.add_flag("-v,--verbose", g.verbose, "Log debug details");
  // TLS trust (docs/security.md "TLS"): recorded by init, replaced for one
  // run when given to any other command, like --server.
  app.add_option("--ca-bundle", g.ca_bundle,
                 "PEM file of the CAs to trust for an https server instead of the system store "
                 "(init: copied into the state folder)");
  app.add_option("--pin-sha256", g.pins,
                 "Base64 SHA-256 of a server public key (SubjectPublicKeyInfo) the server must "
                 "present; repeatable (init: recorded)");
  app.add_option("--app-version", g.app_version,
                 "The app's version for rollout selectors and pins (overrides "
                 "device-facts.json)");
  // Session drain at activation (docs/operator-guide.md "Session drain").
  AddDrainOptions(app, g);
  // Confirmation window (docs/operator-guide.md "Confirmation window").
  AddConfirmOptions(app, g);
  app.add_option("--keep-versions", g.keep_versions,
                 "Verified versions kept per model, the active one included (2 keeps the "
                 "previous one for rollback without a download)")
      ->check(CLI::Range(1, 100));
  app.add_option("--download-policy", g.download_policy_file,
                 "JSON file: when downloads may run (network, charging, idle, battery, local time "
                 "windows, bandwidth cap), over the defaults; bundles and rollouts may override "
                 "it (docs/formats.md \"Download policy\")")
      ->check(CLI::ExistingFile);
  app.add_option("--conditions-file", g.conditions_file,
                 "JSON file the host rewrites with the device's conditions (network, charging, "
                 "idle, battery, free storage), read before and during each download; unreadable "
                 "or malformed: downloads wait (docs/formats.md \"Device conditions\")");
}

int Fail(const Error& e) {
  std::fprintf(stderr, "ota-agent: %s\n", e.ToString().c_str());
  return 1;
}

std::function<int(Env&)> OnAgent(const GlobalOptions& global, AgentAccess access,
                                 AgentCommand command) {
  return [&global, access, command = std::move(command)](Env& env) {
    AgentOptions options;
    if (int rc = BuildAgentOptions(global, access, options); rc != 0) return rc;
    if (int rc = AddDownloadConditions(global, env, options); rc != 0) return rc;
    auto agent = Agent::Open(env, options);
    if (!agent.ok()) return Fail(agent.error());
    return command(env, **agent);
  };
}

}  // namespace ota::agent::cli
