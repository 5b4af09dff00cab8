#include "delegation_fixture.h"

#include "ota/common/hash.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::testing {

DelegationRepo::DelegationRepo(bool consistent_snapshot) : consistent(consistent_snapshot) {
  f.InitRepo(consistent_snapshot);
  targets_version_ = f.SignedOf("targets.json")["version"].get<std::uint64_t>();
  snapshot_version_ = f.SignedOf("snapshot.json")["version"].get<std::uint64_t>();
  timestamp_version_ = f.SignedOf("timestamp.json")["version"].get<std::uint64_t>();
}

const verifier::PrivateKey& DelegationRepo::KeyOf(const std::string& role) {
  auto it = keys_.find(role);
  if (it == keys_.end()) it = keys_.emplace(role, f.NewKey()).first;
  return it->second;
}

nlohmann::json DelegationRepo::Role(const std::string& role, const std::vector<std::string>& paths,
                                    bool terminating) {
  return {{"name", role},
          {"keyids", {KeyOf(role).keyid}},
          {"threshold", 1},
          {"terminating", terminating},
          {"paths", paths}};
}

nlohmann::json DelegationRepo::HashRole(const std::string& role,
                                        const std::vector<std::string>& prefixes,
                                        bool terminating) {
  return {{"name", role},
          {"keyids", {KeyOf(role).keyid}},
          {"threshold", 1},
          {"terminating", terminating},
          {"path_hash_prefixes", prefixes}};
}

nlohmann::json DelegationRepo::Delegations(const std::vector<nlohmann::json>& role_list) {
  nlohmann::json keys = nlohmann::json::object();
  for (const nlohmann::json& r : role_list) {
    const verifier::PrivateKey& key = KeyOf(r["name"].get<std::string>());
    keys[key.keyid] = manifest::ToJson(key.public_key);
  }
  return {{"keys", keys}, {"roles", role_list}};
}

nlohmann::json DelegationRepo::Target(const std::string& content) {
  return {{"length", content.size()}, {"hashes", {{"sha256", Sha256Hex(content)}}}};
}

std::string DelegationRepo::Expires(std::chrono::hours lifetime) {
  return manifest::FormatExpires(f.clock.Now() + lifetime);
}

std::string DelegationRepo::RemotePath(const std::string& role, std::uint64_t version) const {
  return "metadata/" + (consistent ? std::to_string(version) + "." : std::string()) + role +
         ".json";
}

void DelegationRepo::Write(const std::string& role, std::uint64_t version,
                           const std::string& bytes) {
  // Role names may hold '/' or "..": serve them through the fake HTTP
  // client rather than as files.
  f.http.Override(RemotePath(role, version), 200, bytes);
}

void DelegationRepo::Publish() {
  const std::chrono::hours month(24 * 30);
  nlohmann::json snapshot_meta = nlohmann::json::object();
  for (const auto& [name, spec] : roles) {
    nlohmann::json signed_obj = {{"_type", "targets"},
                                 {"spec_version", "1.0.31"},
                                 {"version", spec.version},
                                 {"expires", Expires(spec.lifetime)},
                                 {"targets", spec.targets}};
    if (!spec.delegations.is_null()) signed_obj["delegations"] = spec.delegations;
    const verifier::PrivateKey* signer = spec.signer ? spec.signer : &KeyOf(name);
    const std::string bytes = RepoFixture::Sign(signed_obj, {signer});
    const std::uint64_t listed = spec.listed_version ? spec.listed_version : spec.version;
    Write(name, listed, bytes);
    nlohmann::json entry = {{"version", listed}};
    if (spec.list_hash) {
      entry["hashes"] = {{"sha256", Sha256Hex(spec.wrong_hash ? bytes + " " : bytes)}};
    }
    snapshot_meta[name + ".json"] = entry;
  }
  nlohmann::json targets = {{"_type", "targets"},
                            {"spec_version", "1.0.31"},
                            {"version", ++targets_version_},
                            {"expires", Expires(month)},
                            {"targets", top_targets}};
  if (!top_delegations.is_null()) targets["delegations"] = top_delegations;
  const std::string targets_bytes = RepoFixture::Sign(targets, {&f.targets_key});
  Write("targets", targets_version_, targets_bytes);
  snapshot_meta["targets.json"] = {{"version", targets_version_}};
  nlohmann::json snapshot = {{"_type", "snapshot"},
                             {"spec_version", "1.0.31"},
                             {"version", ++snapshot_version_},
                             {"expires", Expires(month)},
                             {"meta", snapshot_meta}};
  Write("snapshot", snapshot_version_, RepoFixture::Sign(snapshot, {&f.snapshot_key}));
  nlohmann::json timestamp = {{"_type", "timestamp"},
                              {"spec_version", "1.0.31"},
                              {"version", ++timestamp_version_},
                              {"expires", Expires(month)},
                              {"meta", {{"snapshot.json", {{"version", snapshot_version_}}}}}};
  f.http.Override("metadata/timestamp.json", 200, RepoFixture::Sign(timestamp, {&f.timestamp_key}));
}

}  // namespace ota::testing
