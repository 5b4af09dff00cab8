// Records changes of the served repository's top-level metadata in the
// server audit log ("repository-changed": role versions, signing key ids,
// changed targets), so that publishing, signing and key rotation done with
// otactl appear there with their signers.
#ifndef OTA_SERVER_REPO_AUDIT_H_
#define OTA_SERVER_REPO_AUDIT_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "fleet_store.h"

namespace ota::server {

// Thread-safe.
class RepoAuditWatcher {
 public:
  explicit RepoAuditWatcher(std::string repo_dir) : repo_dir_(std::move(repo_dir)) {}

  // Cheap when nothing changed: stats metadata/{root,targets,snapshot,
  // timestamp}.json. When one of them changed since the last call, reads
  // them and, if a role's version differs from what the log last recorded
  // (server_settings "repository_state"), appends a "repository-changed"
  // record. Unreadable or malformed metadata is recorded as version 0.
  Status Check(FleetStore& store);

 private:
  std::mutex mu_;
  std::string repo_dir_;
  // File -> (modification time in ns, size) at the last check.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> seen_;
  std::string timestamp_digest_;  // SHA-256 of timestamp.json's bytes.
  bool checked_ = false;
};

}  // namespace ota::server

#endif  // OTA_SERVER_REPO_AUDIT_H_
