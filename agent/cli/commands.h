// ota-agent command registration, like otactl's (tools/src/commands.h). The
// options before the command (--state-dir, --server, TLS, drain,
// confirmation) are shared by every command and parsed in options.cc; each
// cmd_*.cc registers its subcommands on `app`, and when one is chosen its
// CLI11 callback stores the work to do in *selected. main() prepares the
// environment and runs it; the return value is the exit code (see main.cc).
#ifndef OTA_AGENT_CLI_COMMANDS_H_
#define OTA_AGENT_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent::cli {

// The options given before the command. Filled in by CLI11 during parsing,
// so a command reads them only when it runs.
struct GlobalOptions {
  std::string state_dir;
  std::string server;
  bool verbose = false;
  std::string ca_bundle;
  std::vector<std::string> pins;
  std::string app_version;
  std::string drain_policy = "switch-new-first";
  double drain_deadline = 30;
  std::vector<std::string> drain_models;
  int acquire_bound_ms = 200;
  double defer_limit_hours = 24;
  int confirm_sessions = AgentOptions{}.confirm_sessions;
  int confirm_window = static_cast<int>(AgentOptions{}.confirm_window.count());
  int confirm_max_failures = AgentOptions{}.confirm_max_failures;
  int confirm_max_restarts = AgentOptions{}.confirm_max_restarts;
  int keep_versions = 2;
  // Download conditions (docs/operator-guide.md "Download conditions").
  std::string download_policy_file;
  std::string conditions_file;
};

// The chosen command. `run` gets the process's Env (its filesystem replaced
// by the crashing one in power-loss tests) and returns the exit code.
struct CommandRunner {
  std::function<int(Env&)> run;
  // The daemon takes SIGTERM/SIGINT synchronously (sigtimedwait), so they
  // stay blocked in every thread; for any other command they are delivered.
  bool takes_stop_signals = false;
};

// Adds the options shared by every command to `app`, in the order --help
// lists them.
void RegisterGlobalOptions(CLI::App& app, GlobalOptions& global);

// init (enrollment) and set-tls (cmd_init.cc).
void RegisterInitCommands(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// check and update (cmd_update.cc).
void RegisterUpdateCommands(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// status (cmd_status.cc).
void RegisterStatusCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// shadow-results (cmd_shadow_results.cc).
void RegisterShadowResultsCommand(CLI::App& app, const GlobalOptions& global,
                                  CommandRunner* selected);
// rollback (cmd_rollback.cc).
void RegisterRollbackCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// audit (cmd_audit.cc).
void RegisterAuditCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// facts (cmd_status.cc).
void RegisterFactsCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);
// daemon (cmd_daemon.cc).
void RegisterDaemonCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected);

// Prints "ota-agent: <error>" to stderr and returns 1.
int Fail(const Error& e);

// The work of a command on the opened state folder; returns the exit code.
using AgentCommand = std::function<int(Env& env, Agent& agent)>;

// The runner of a command that needs the state folder open: opens it for
// `access` with the global options, then runs `command`. When opening fails
// it prints why and returns 2 for an invalid --drain-model, 1 when
// Agent::Open fails. `global` must outlive the runner.
std::function<int(Env&)> OnAgent(const GlobalOptions& global, AgentAccess access,
                                 AgentCommand command);

}  // namespace ota::agent::cli

#endif  // OTA_AGENT_CLI_COMMANDS_H_
