// Loading the role keys that repository commands take as --ROLE-key FILE.
#ifndef OTA_TOOLS_SRC_KEY_ARGS_H_
#define OTA_TOOLS_SRC_KEY_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "ota/common/env.h"
#include "ota/repo/repo.h"
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
  ota::repo::RepoKeys keys() const;

 private:
  std::optional<verifier::PrivateKey> root_, targets_, snapshot_, timestamp_;
};

// Adds --root-key/--targets-key/--snapshot-key/--timestamp-key options.
void AddRoleKeyOptions(CLI::App& cmd, RoleKeyPaths& paths, bool with_root);

// Several private keys (e.g. repeated --root-key). Pointers stay valid for
// the KeyRing's lifetime.
class KeyRing {
 public:
  static Result<KeyRing> Load(FileSystem& fs, const std::vector<std::string>& paths,
                              const std::string& what);
  std::vector<const verifier::PrivateKey*> pointers() const;
  bool empty() const { return keys_.empty(); }

 private:
  std::vector<verifier::PrivateKey> keys_;
};

// Parses repeated --expires-in ROLE=DAYS (ROLE root, targets, snapshot or
// timestamp; DAYS 1 to 3650) over the defaults. kInvalidArgument naming the
// bad item.
Result<ota::repo::ExpiryPolicy> ParseExpiresIn(const std::vector<std::string>& items);
void AddExpiresInOption(CLI::App& cmd, std::vector<std::string>& items);

// The top-level role names, for CLI::IsMember.
const std::vector<std::string>& TopLevelRoles();

}  // namespace ota::tools

#endif  // OTA_TOOLS_SRC_KEY_ARGS_H_
