#include "key_args.h"

#include <CLI/CLI.hpp>

namespace ota::tools {
namespace {

Result<std::optional<verifier::PrivateKey>> LoadIf(FileSystem& fs, const std::string& path,
                                                   const char* role) {
  if (path.empty()) return std::optional<verifier::PrivateKey>();
  auto key = verifier::LoadPrivateKey(fs, path);
  if (!key.ok()) {
    return MakeError(key.error().code,
                     std::string("cannot load the ") + role + " key: " + key.error().message);
  }
  return std::optional<verifier::PrivateKey>(std::move(*key));
}

}  // namespace

Result<LoadedKeys> LoadedKeys::Load(FileSystem& fs, const RoleKeyPaths& paths) {
  LoadedKeys k;
  OTA_ASSIGN_OR_RETURN(k.root_, LoadIf(fs, paths.root, "root"));
  OTA_ASSIGN_OR_RETURN(k.targets_, LoadIf(fs, paths.targets, "targets"));
  OTA_ASSIGN_OR_RETURN(k.snapshot_, LoadIf(fs, paths.snapshot, "snapshot"));
  OTA_ASSIGN_OR_RETURN(k.timestamp_, LoadIf(fs, paths.timestamp, "timestamp"));
  return k;
}

ota::repo::RepoKeys LoadedKeys::keys() const {
  ota::repo::RepoKeys k;
  k.root = root_ ? &*root_ : nullptr;
  k.targets = targets_ ? &*targets_ : nullptr;
  k.snapshot = snapshot_ ? &*snapshot_ : nullptr;
  k.timestamp = timestamp_ ? &*timestamp_ : nullptr;
  return k;
}

void AddRoleKeyOptions(CLI::App& cmd, RoleKeyPaths& paths, bool with_root) {
  if (with_root) {
    cmd.add_option("--root-key", paths.root, "Private key file of the root role")
        ->required()
        ->check(CLI::ExistingFile);
  }
  cmd.add_option("--targets-key", paths.targets, "Private key file of the targets role")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option("--snapshot-key", paths.snapshot, "Private key file of the snapshot role")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option("--timestamp-key", paths.timestamp, "Private key file of the timestamp role")
      ->required()
      ->check(CLI::ExistingFile);
}

Result<KeyRing> KeyRing::Load(FileSystem& fs, const std::vector<std::string>& paths,
                              const std::string& what) {
  KeyRing ring;
  ring.keys_.reserve(paths.size());
  for (const std::string& path : paths) {
    auto key = verifier::LoadPrivateKey(fs, path);
    if (!key.ok()) {
      return MakeError(key.error().code,
                       "cannot load the " + what + " key: " + key.error().message);
    }
    ring.keys_.push_back(std::move(*key));
  }
  return ring;
}

std::vector<const verifier::PrivateKey*> KeyRing::pointers() const {
  std::vector<const verifier::PrivateKey*> out;
  for (const verifier::PrivateKey& k : keys_) out.push_back(&k);
  return out;
}

Result<ota::repo::ExpiryPolicy> ParseExpiresIn(const std::vector<std::string>& items) {
  ota::repo::ExpiryPolicy policy;
  for (const std::string& item : items) {
    auto bad = MakeError(ErrorCode::kInvalidArgument,
                         "--expires-in " + item +
                             ": expected ROLE=DAYS with ROLE root, targets, snapshot or "
                             "timestamp and DAYS from 1 to 3650");
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) return bad;
    const std::string role = item.substr(0, eq);
    const std::string days_text = item.substr(eq + 1);
    if (days_text.empty() || days_text.size() > 4 ||
        days_text.find_first_not_of("0123456789") != std::string::npos) {
      return bad;
    }
    const int days = std::stoi(days_text);
    if (days < 1 || days > 3650) return bad;
    const std::chrono::seconds ttl = std::chrono::days(days);
    if (role == "root") {
      policy.root = ttl;
    } else if (role == "targets") {
      policy.targets = ttl;
    } else if (role == "snapshot") {
      policy.snapshot = ttl;
    } else if (role == "timestamp") {
      policy.timestamp = ttl;
    } else {
      return bad;
    }
  }
  return policy;
}

void AddExpiresInOption(CLI::App& cmd, std::vector<std::string>& items) {
  cmd.add_option("--expires-in", items,
                 "ROLE=DAYS: validity of newly signed metadata (defaults root=365, targets=90, "
                 "snapshot=7, timestamp=1); repeatable");
}

const std::vector<std::string>& TopLevelRoles() {
  static const std::vector<std::string> roles = {"root", "targets", "snapshot", "timestamp"};
  return roles;
}

}  // namespace ota::tools
