// otactl keygen: a new Ed25519 signing key pair, or (--recipient) a new
// X25519 key pair that bundles can be encrypted to.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/verifier/keys.h"

namespace ota::tools {
namespace {

struct KeygenArgs {
  std::string out;
  bool force = false;
  bool recipient = false;
};

// Writes FILE (mode 0600) and FILE.pub for a bundle recipient key.
int WriteRecipientKey(Env& env, const std::string& out, const std::string& pub) {
  auto key = bundle::GenerateRecipientKey(*env.random);
  if (!key.ok()) return Fail(key.error().message);
  if (Status s = bundle::SaveRecipientPrivateKey(*env.fs, out, *key); !s.ok()) {
    return Fail(s.error().message);
  }
  if (Status s = bundle::SaveRecipientPublicKey(
          *env.fs, pub, bundle::RecipientPublicKey{key->public_key, key->key_id});
      !s.ok()) {
    return Fail(s.error().message);
  }
  std::printf(
      "recipient key id %s\nprivate key %s (mode 0600)\npublic key %s (pass it to `otactl bundle "
      "build --recipient`)\n",
      key->key_id.c_str(), out.c_str(), pub.c_str());
  return 0;
}

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
  if (args.recipient) return WriteRecipientKey(env, args.out, pub);
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
  auto* cmd = app.add_subcommand(
      "keygen",
      "Generate an Ed25519 signing key, or an X25519 bundle recipient key (FILE, FILE.pub)");
  cmd->add_option("--out", args->out, "Private key file to write (mode 0600)")->required();
  cmd->add_flag("--force", args->force, "Overwrite existing key files");
  cmd->add_flag("--recipient", args->recipient,
                "Generate an X25519 key pair to encrypt bundles to (a device or fleet key)");
  cmd->callback([args, selected] { *selected = [args] { return RunKeygen(*args); }; });
}

}  // namespace ota::tools
