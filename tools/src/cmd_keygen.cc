// otactl keygen: a new Ed25519 signing key pair.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/verifier/keys.h"

namespace ota::tools {
namespace {

struct KeygenArgs {
  std::string out;
  bool force = false;
};

int RunKeygen(const KeygenArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  const std::string pub = args.out + ".pub";
  if (!args.force) {
    for (const std::string& p : {args.out, pub}) {
      auto exists = env.fs->Exists(p);
      if (!exists.ok()) return Fail(exists.error().message);
      if (*exists) return Fail(p + " exists; refusing to overwrite a key (use --force)");
    }
  }
  const std::string parent = DirName(args.out);
  if (!parent.empty()) {
    if (Status made = env.fs->CreateDirs(parent); !made.ok()) return Fail(made.error().message);
  }
  auto key = verifier::GenerateEd25519Key(*env.random);
  if (!key.ok()) return Fail(key.error().message);
  auto saved = verifier::SavePrivateKey(*env.fs, args.out, *key);
  if (!saved.ok()) return Fail(saved.error().message);
  auto saved_pub = verifier::SavePublicKey(*env.fs, pub, key->public_key);
  if (!saved_pub.ok()) return Fail(saved_pub.error().message);
  std::printf("keyid %s\nprivate key %s (mode 0600)\npublic key %s\n", key->keyid.c_str(),
              args.out.c_str(), pub.c_str());
  return 0;
}

}  // namespace

void RegisterKeygenCommand(CLI::App& app, CommandRunner* selected) {
  auto args = std::make_shared<KeygenArgs>();
  auto* cmd = app.add_subcommand("keygen", "Generate an Ed25519 signing key (FILE and FILE.pub)");
  cmd->add_option("--out", args->out, "Private key file to write (mode 0600)")->required();
  cmd->add_flag("--force", args->force, "Overwrite existing key files");
  cmd->callback([args, selected] { *selected = [args] { return RunKeygen(*args); }; });
}

}  // namespace ota::tools
