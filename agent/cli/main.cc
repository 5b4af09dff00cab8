// ota-agent: the device agent's command line. Each command lives in a
// cmd_*.cc of this folder, the options shared by all of them in options.cc.
//
// Exit codes: 0 success; 1 the operation failed (one line on stderr says
// why); 2 usage error; 3 `update` ran but a model update failed or was
// deferred (a new version active in its confirmation window is not); 70
// an internal error (ota/common/main_guard.h).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ota/common/crash_points.h"
#include "ota/common/log.h"
#include "ota/common/main_guard.h"

namespace {

using ota::agent::cli::CommandRunner;

// SIGTERM and SIGINT are blocked before any thread starts, so that the
// daemon can take them synchronously; any other command gets them back.
void SetUpStopSignals(const CommandRunner& command) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (!command.takes_stop_signals) pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int AgentMain(int argc, char** argv) {
  namespace cli = ota::agent::cli;
  CLI::App app{"ota-agent: keeps this device's models up to date, safely."};
  app.require_subcommand(1);
  cli::GlobalOptions global;
  cli::RegisterGlobalOptions(app, global);
  CommandRunner selected;
  cli::RegisterInitCommands(app, global, &selected);
  cli::RegisterUpdateCommands(app, global, &selected);
  cli::RegisterStatusCommand(app, global, &selected);
  cli::RegisterShadowResultsCommand(app, global, &selected);
  cli::RegisterRollbackCommand(app, global, &selected);
  cli::RegisterAuditCommand(app, global, &selected);
  cli::RegisterFactsCommand(app, global, &selected);
  cli::RegisterDaemonCommand(app, global, &selected);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!selected.run) {
    std::fprintf(stderr, "ota-agent: no command given (see --help)\n");
    return 2;
  }
  ota::SetLogLevel(global.verbose ? ota::LogLevel::kDebug : ota::LogLevel::kWarning);
  SetUpStopSignals(selected);

  auto owned = ota::MakePosixEnv();
  ota::Env& env = owned->env();
  // Power-loss tests only (OTA_CRASH_AT / OTA_CRASH_TRACE): every file
  // operation becomes a place the process may be killed.
  std::unique_ptr<ota::FileSystem> crashing_fs;
  if (ota::CrashPointsEnabled()) {
    crashing_fs = ota::MakeCrashingFileSystem(*env.fs);
    env.fs = crashing_fs.get();
  }
  return selected.run(env);
}

}  // namespace

int main(int argc, char** argv) {
  return ota::RunGuardedMain("ota-agent", [&] { return AgentMain(argc, argv); });
}
