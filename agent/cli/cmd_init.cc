// ota-agent init: enroll this device (trusted root, models, recipient key,
// TLS trust); ota-agent set-tls: record new TLS trust for later runs.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ota/agent/agent.h"
#include "ota/agent/tls.h"

namespace ota::agent::cli {
namespace {

struct InitArgs {
  std::string root_file;
  std::vector<std::string> models;
  std::string recipient_key;
  std::string enrollment_token_file;
};

// Reads the enrollment token (trailing line ends dropped) into *token; 0, or
// the exit code after printing why.
int ReadEnrollmentToken(Env& env, const std::string& file, std::string* token) {
  auto text = env.fs->ReadFile(file, 4096);
  if (!text.ok()) return Fail(text.error());
  *token = *text;
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  if (token->empty()) {
    std::fprintf(stderr, "ota-agent: --enrollment-token-file: %s is empty\n", file.c_str());
    return 2;
  }
  return 0;
}

int RunInit(Env& env, const GlobalOptions& g, const InitArgs& args) {
  auto root = env.fs->ReadFile(args.root_file, 1 << 20);
  if (!root.ok()) return Fail(root.error());
  EnrollOptions o{.state_dir = g.state_dir,
                  .server_url = g.server,
                  .trusted_root_json = *root,
                  .models = args.models,
                  .recipient_key_file = args.recipient_key,
                  .enrollment_token = "",  // Read below, once --server is known to be given.
                  .ca_bundle_file = g.ca_bundle,
                  .pinned_sha256 = g.pins};
  if (g.server.empty()) {
    std::fprintf(stderr, "ota-agent: init needs --server\n");
    return 2;
  }
  if (!args.enrollment_token_file.empty()) {
    if (int rc = ReadEnrollmentToken(env, args.enrollment_token_file, &o.enrollment_token);
        rc != 0) {
      return rc;
    }
  }
  auto s = Agent::Enroll(env, o);
  if (!s.ok()) return Fail(s.error());
  std::printf("enrolled %s for %zu model(s)\n", g.state_dir.c_str(), args.models.size());
  std::printf(
      "bundle recipient public key: %s/%s (%s; build bundles for this device with "
      "`otactl bundle build --recipient` and this file)\n",
      g.state_dir.c_str(), kDevicePublicKeyFile,
      args.recipient_key.empty() ? "new device key" : "installed fleet key");
  return 0;
}

int RunSetTls(Env& env, const GlobalOptions& g, bool clear_pins) {
  auto s = RecordTlsSettings(env, g.state_dir, {g.ca_bundle, g.pins}, clear_pins);
  if (!s.ok()) return Fail(s.error());
  std::printf("recorded TLS settings for %s\n", g.state_dir.c_str());
  return 0;
}

}  // namespace

void RegisterInitCommands(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto args = std::make_shared<InitArgs>();
  auto* init = app.add_subcommand("init", "Enroll this device: trust a root and pick models");
  init->add_option("--root", args->root_file, "Trusted root.json to start from")
      ->required()
      ->check(CLI::ExistingFile);
  init->add_option("--model", args->models, "Model name to track (repeatable)")->required();
  init->add_option("--recipient-key", args->recipient_key,
                   "Install this fleet recipient private key (mode 0600) instead of generating "
                   "a device key")
      ->check(CLI::ExistingFile);
  init->add_option("--enrollment-token-file", args->enrollment_token_file,
                   "File holding the fleet enrollment token the server requires of new devices "
                   "(ota-server enrollment-token create)")
      ->check(CLI::ExistingFile);
  init->callback([args, &global, selected] {
    selected->run = [args, &global](Env& env) { return RunInit(env, global, *args); };
  });

  auto clear_pins = std::make_shared<bool>(false);
  auto* set_tls = app.add_subcommand(
      "set-tls", "Record --ca-bundle and --pin-sha256 for every later run (rotation)");
  set_tls->add_flag("--clear-pins", *clear_pins, "Remove the recorded pins");
  set_tls->callback([clear_pins, &global, selected] {
    selected->run = [clear_pins, &global](Env& env) { return RunSetTls(env, global, *clear_pins); };
  });
}

}  // namespace ota::agent::cli
