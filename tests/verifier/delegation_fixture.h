// A repository with delegated targets roles, built on RepoFixture: the test
// describes the roles, Publish() signs targets, every delegated role,
// snapshot and timestamp (versioned names too with consistent snapshots).
#ifndef OTA_TESTS_VERIFIER_DELEGATION_FIXTURE_H_
#define OTA_TESTS_VERIFIER_DELEGATION_FIXTURE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "repo_fixture.h"

namespace ota::testing {

struct DelegatedRoleSpec {
  nlohmann::json targets = nlohmann::json::object();  // path -> target description.
  nlohmann::json delegations = nullptr;               // As written into the role.
  std::uint64_t version = 1;
  std::chrono::hours lifetime{24 * 30};
  // Signs with this key instead of the role's own one (when set).
  const verifier::PrivateKey* signer = nullptr;
  // Version snapshot lists (defaults to `version`).
  std::uint64_t listed_version = 0;
  // Adds the sha256 of the file to snapshot's entry; `wrong_hash` lists a
  // different one.
  bool list_hash = false;
  bool wrong_hash = false;
};

class DelegationRepo {
 public:
  explicit DelegationRepo(bool consistent_snapshot);

  // The key of a delegated role (created on first use).
  const verifier::PrivateKey& KeyOf(const std::string& role);
  // A "roles" entry delegating to `role` with its key, threshold 1.
  nlohmann::json Role(const std::string& role, const std::vector<std::string>& paths,
                      bool terminating = false);
  nlohmann::json HashRole(const std::string& role, const std::vector<std::string>& prefixes,
                          bool terminating = false);
  // A "delegations" object with `roles` and the keys of those roles.
  nlohmann::json Delegations(const std::vector<nlohmann::json>& roles);
  // A target description of `content` (length and sha256).
  static nlohmann::json Target(const std::string& content);

  // Signs and writes everything with new versions of targets, snapshot and
  // timestamp; top-level targets gets `top_delegations`.
  void Publish();

  // Name of a role's file in the repository as requested (decoded).
  std::string RemotePath(const std::string& role, std::uint64_t version) const;

  RepoFixture f;
  bool consistent;
  nlohmann::json top_targets = nlohmann::json::object();
  nlohmann::json top_delegations = nullptr;
  std::map<std::string, DelegatedRoleSpec> roles;

 private:
  std::string Expires(std::chrono::hours lifetime);
  void Write(const std::string& role, std::uint64_t version, const std::string& bytes);

  std::map<std::string, verifier::PrivateKey> keys_;
  std::uint64_t targets_version_ = 1;
  std::uint64_t snapshot_version_ = 1;
  std::uint64_t timestamp_version_ = 1;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_VERIFIER_DELEGATION_FIXTURE_H_
