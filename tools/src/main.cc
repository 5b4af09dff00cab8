// otactl: the operator's tool for keys, repositories, bundles and models.
// Exit codes: 0 success, 1 the command failed, 2 usage error, 70 an internal
// error (ota/common/main_guard.h).
#include <cstdio>

#include "audit_fetch.h"
#include "commands.h"
#include "ota/common/main_guard.h"

namespace ota::tools {

int Fail(const std::string& message) {
  std::fprintf(stderr, "otactl: %s\n", message.c_str());
  return 1;
}

}  // namespace ota::tools

namespace {

int OtactlMain(int argc, char** argv) {
  CLI::App app{"otactl: build, sign and publish model bundles for ModelOTA."};
  app.require_subcommand(1);
  ota::tools::CommandRunner selected;
  ota::tools::RegisterKeygenCommand(app, &selected);
  ota::tools::RegisterRepoCommands(app, &selected);
  ota::tools::RegisterBundleCommands(app, &selected);
  ota::tools::RegisterPublishCommand(app, &selected);
  ota::tools::RegisterSignCommand(app, &selected);
  ota::tools::RegisterModelCommands(app, &selected);
  ota::tools::RegisterVariantsCommands(app, &selected);
  ota::tools::RegisterShadowCommands(app, &selected);
  ota::tools::RegisterRolloutCommands(app, &selected);
  ota::tools::RegisterTokenCommands(app, &selected);
  ota::tools::RegisterDrillCommands(app, &selected);
  CLI::App* audit = ota::tools::AuditGroup(app);
  ota::tools::RegisterAuditExportCommands(audit, &selected);
  ota::tools::RegisterAuditVerifyCommand(audit, &selected);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!selected) {
    std::fprintf(stderr, "otactl: no command given (see --help)\n");
    return 2;
  }
  return selected();
}

}  // namespace

int main(int argc, char** argv) {
  return ota::RunGuardedMain("otactl", [&] { return OtactlMain(argc, argv); });
}
