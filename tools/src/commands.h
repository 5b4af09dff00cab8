// otactl subcommand registration. Each Register* function adds its
// subcommands to `app`; when one of them is chosen on the command line, its
// CLI11 callback stores the work to do in *selected. main() runs it and exits
// with its return value (0 success, 1 failure, 2 usage error).
#ifndef OTA_TOOLS_COMMANDS_H_
#define OTA_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "ota/common/env.h"

namespace ota::tools {

using CommandRunner = std::function<int()>;

void RegisterKeygenCommand(CLI::App& app, CommandRunner* selected);
void RegisterRepoCommands(CLI::App& app, CommandRunner* selected);
void RegisterBundleCommands(CLI::App& app, CommandRunner* selected);
// Registers `delta` under the `bundle` group.
void RegisterBundleDeltaCommand(CLI::App& group, CommandRunner* selected);
void RegisterPublishCommand(CLI::App& app, CommandRunner* selected);
void RegisterModelCommands(CLI::App& app, CommandRunner* selected);
// otactl variants build (cmd_variants.cc).
void RegisterVariantsCommands(CLI::App& app, CommandRunner* selected);
void RegisterShadowCommands(CLI::App& app, CommandRunner* selected);
// otactl rollout ... and otactl fleet status (cmd_rollout.cc).
void RegisterRolloutCommands(CLI::App& app, CommandRunner* selected);
// otactl token create|list|revoke (operator tokens through the API).
void RegisterTokenCommands(CLI::App& app, CommandRunner* selected);
// otactl drill run (cmd_drill.cc).
void RegisterDrillCommands(CLI::App& app, CommandRunner* selected);
// otactl drill live, under the drill group (cmd_drill_live.cc).
void RegisterDrillLiveCommand(CLI::App& group, CommandRunner* selected);
// otactl audit verify under the `audit` group (cmd_audit.cc).
void RegisterAuditVerifyCommand(CLI::App* audit, CommandRunner* selected);

// otactl audit export and otactl audit query, under the `audit` group
// (cmd_audit_export.cc, cmd_audit_query.cc; AuditGroup in audit_fetch.h).
void RegisterAuditExportCommands(CLI::App* audit, CommandRunner* selected);
void RegisterAuditQueryCommand(CLI::App* audit, CommandRunner* selected);

// Registers repo add-key/revoke-key/set-threshold/commit under `repo`.
void RegisterRepoStagingCommands(CLI::App& repo, CommandRunner* selected);
void RegisterSignCommand(CLI::App& app, CommandRunner* selected);

// Prints "otactl: <message>" to stderr and returns 1.
int Fail(const std::string& message);

// Prints whether the staged metadata of `role` is ready to commit, or what
// it still lacks (one line on stdout).
void PrintStagedStatus(Env& env, const std::string& repo, const std::string& role);

}  // namespace ota::tools

#endif  // OTA_TOOLS_COMMANDS_H_
