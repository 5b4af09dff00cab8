// Loading the role keys that repository commands take as --ROLE-key FILE.
#ifndef OTA_TOOLS_SRC_KEY_ARGS_H_
#define OTA_TOOLS_SRC_KEY_ARGS_H_

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "ota/common/env.h"
#include "ota/tools/repo.h"
#include "ota/verifier/keys.h"

namespace ota::tools {

// Paths given on the command line; empty means "not given".
struct RoleKeyPaths {
  std::string root, targets, snapshot, timestamp;
};

// Owns the loaded keys and exposes them as RepoKeys (null for absent ones).
class LoadedKeys {
 public:
  static Result<LoadedKeys> Load(FileSystem& fs, const RoleKeyPaths& paths);
  RepoKeys keys() const;

 private:
  std::optional<verifier::PrivateKey> root_, targets_, snapshot_, timestamp_;
};

// Adds --root-key/--targets-key/--snapshot-key/--timestamp-key options.
void AddRoleKeyOptions(CLI::App& cmd, RoleKeyPaths& paths, bool with_root);

}  // namespace ota::tools

#endif  // OTA_TOOLS_SRC_KEY_ARGS_H_
