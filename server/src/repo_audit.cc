#include "repo_audit.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "ota/common/hash.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr char kRepositoryStateSetting[] = "repository_state";
constexpr const char* kRepoRoles[] = {"root", "targets", "snapshot", "timestamp"};
constexpr std::streamsize kMaxRepoMetadataBytes = 32 << 20;

std::string RoleFile(const std::string& repo_dir, const std::string& role) {
  return repo_dir + "/metadata/" + role + ".json";
}

std::pair<std::int64_t, std::int64_t> FileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size)};
}

json ReadRoleFile(const std::string& path) {
  if (FileStamp(path).second > kMaxRepoMetadataBytes) return json();
  std::ifstream in(path, std::ios::binary);
  if (!in) return json();
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
}

// {"roles": {role: {"version", "keyids"}}, "targets": {path: sha256}} of
// the repository as its files say, read leniently.
json RepositoryState(const std::string& repo_dir) {
  json roles = json::object();
  json targets = json::object();
  for (const char* role : kRepoRoles) {
    const json doc = ReadRoleFile(RoleFile(repo_dir, role));
    std::uint64_t version = 0;
    json keyids = json::array();
    if (doc.is_object()) {
      const json& s = doc.contains("signed") ? doc["signed"] : json();
      if (s.is_object() && s.contains("version") && s["version"].is_number_unsigned()) {
        version = s["version"].get<std::uint64_t>();
      }
      if (doc.contains("signatures") && doc["signatures"].is_array()) {
        for (const json& sig : doc["signatures"]) {
          if (sig.is_object() && sig.contains("keyid") && sig["keyid"].is_string()) {
            keyids.push_back(sig["keyid"]);
          }
        }
      }
      if (std::string(role) == "targets" && s.is_object() && s.contains("targets") &&
          s["targets"].is_object()) {
        for (auto t = s["targets"].begin(); t != s["targets"].end(); ++t) {
          const json& v = t.value();
          const bool has = v.is_object() && v.contains("hashes") && v["hashes"].is_object() &&
                           v["hashes"].contains("sha256") && v["hashes"]["sha256"].is_string();
          targets[t.key()] = has ? v["hashes"]["sha256"] : json("");
        }
      }
    }
    roles[role] = {{"version", version}, {"keyids", keyids}};
  }
  return {{"roles", roles}, {"targets", targets}};
}

json ChangedTargets(const json& before, const json& after) {
  json out = json::array();
  for (auto t = after.begin(); t != after.end(); ++t) {
    if (!before.contains(t.key())) {
      out.push_back({{"path", t.key()}, {"change", "added"}, {"sha256", t.value()}});
    } else if (before[t.key()] != t.value()) {
      out.push_back({{"path", t.key()}, {"change", "changed"}, {"sha256", t.value()}});
    }
  }
  for (auto t = before.begin(); t != before.end(); ++t) {
    if (!after.contains(t.key())) out.push_back({{"path", t.key()}, {"change", "removed"}});
  }
  return out;
}

}  // namespace

Status RepoAuditWatcher::Check(FleetStore& store) {
  std::lock_guard lock(mu_);
  bool moved = !checked_;
  for (const char* role : kRepoRoles) {
    const std::string path = RoleFile(repo_dir_, role);
    auto stamp = FileStamp(path);
    if (seen_[path] != stamp) moved = true;
    seen_[path] = stamp;
  }
  // Every publish writes a new timestamp.json, possibly within the file
  // system's timestamp granularity and at the same size: its bytes decide.
  {
    const std::string path = RoleFile(repo_dir_, "timestamp");
    std::string digest;
    if (FileStamp(path).second <= kMaxRepoMetadataBytes) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream text;
      if (in) text << in.rdbuf();
      digest = Sha256Hex(text.str());
    }
    if (digest != timestamp_digest_) moved = true;
    timestamp_digest_ = digest;
  }
  checked_ = true;
  if (!moved) return Ok();
  const json now = RepositoryState(repo_dir_);
  OTA_ASSIGN_OR_RETURN(auto stored, store.Setting(kRepositoryStateSetting));
  json before = stored ? json::parse(*stored, nullptr, /*allow_exceptions=*/false) : json();
  if (!before.is_object() || !before.contains("roles") || !before["roles"].is_object() ||
      !before.contains("targets") || !before["targets"].is_object()) {
    before = {{"roles", json::object()}, {"targets", json::object()}};
  }
  json changed_roles = json::array();
  std::set<std::string> signers;
  for (const char* role : kRepoRoles) {
    const json& r = now["roles"][role];
    if (before["roles"].contains(role) && before["roles"][role] == r) continue;
    changed_roles.push_back(role);
    for (const json& k : r["keyids"]) signers.insert(k.get<std::string>());
  }
  if (changed_roles.empty()) return Ok();
  bool any_metadata = false;
  for (const char* role : kRepoRoles) {
    if (now["roles"][role]["version"] != 0) any_metadata = true;
  }
  if (!stored && !any_metadata) return Ok();  // No repository metadata yet.
  std::string actor = "repository:";
  json signer_keyids = json::array();
  for (const std::string& k : signers) {
    if (!signer_keyids.empty()) actor += ",";
    actor += k;
    signer_keyids.push_back(k);
  }
  if (signers.empty()) actor += "unsigned";
  ServerAuditRecord r;
  r.type = "repository-changed";
  r.actor = actor;
  r.fields = {{"roles", now["roles"]},
              {"changed_roles", changed_roles},
              {"signer_keyids", signer_keyids},
              {"changed_targets", ChangedTargets(before["targets"], now["targets"])}};
  auto seq = store.AppendServerRecord(r, {kRepositoryStateSetting, now.dump()});
  if (!seq.ok()) return std::move(seq).error();
  return Ok();
}

}  // namespace ota::server
