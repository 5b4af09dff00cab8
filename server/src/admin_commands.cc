// The `ota-server` commands that work on the database without serving: audit
// log verification and pruning, operator and enrollment tokens.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "audit_log.h"
#include "events.h"
#include "fleet_store.h"
#include "operator_roles.h"
#include "ota/common/env.h"
#include "ota/common/postgres.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/server/server.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

std::string UnixTimeText(std::int64_t t) {
  return manifest::FormatExpires(std::chrono::system_clock::time_point(std::chrono::seconds(t)));
}

}  // namespace

namespace {

// The audit key and the existing database of the `ota-server audit` commands.
struct AuditAdmin {
  verifier::PrivateKey key;
  std::unique_ptr<Database> db;
};

Result<AuditAdmin> OpenAuditAdmin(const std::string& db_path, const std::string& key_path) {
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey key, verifier::LoadPrivateKey(*fs, key_path));
  if (!IsPostgresUri(db_path)) {
    OTA_ASSIGN_OR_RETURN(bool exists, fs->Exists(db_path));
    if (!exists) return MakeError(ErrorCode::kNotFound, "no database at " + db_path);
  }
  OTA_ASSIGN_OR_RETURN(auto db, OpenFleetDatabase(db_path));
  return AuditAdmin{std::move(key), std::move(db)};
}

}  // namespace

Result<std::string> VerifyServerAuditLog(const std::string& db_path, const std::string& key_path) {
  OTA_ASSIGN_OR_RETURN(AuditAdmin a, OpenAuditAdmin(db_path, key_path));
  OTA_ASSIGN_OR_RETURN(ServerLogCheck check, VerifyServerLog(*a.db, {a.key.public_key}));
  if (!check.intact) return MakeError(ErrorCode::kSecurity, check.message);
  return check.message;
}

Result<std::string> PruneServerAuditLog(const std::string& db_path, const std::string& key_path,
                                        std::int64_t before_seq,
                                        std::optional<std::int64_t> before_time) {
  OTA_ASSIGN_OR_RETURN(AuditAdmin a, OpenAuditAdmin(db_path, key_path));
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  OTA_ASSIGN_OR_RETURN(ServerAuditPruneResult r,
                       PruneServerAudit(*a.db, a.key, before_seq, before_time, now));
  return "pruned records #" + std::to_string(r.from) + " to #" + std::to_string(r.to) + " (" +
         std::to_string(r.records) + " records); " + std::to_string(r.carried_devices) +
         " device enrollment(s) carried forward; the log now ends at #" + std::to_string(r.head) +
         ", signed";
}

Result<std::string> CreateOperatorToken(const std::string& db_path,
                                        const OperatorTokenOptions& options) {
  auto role = ParseRole(options.role);
  if (!role) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "role must be one of viewer, release-manager, auditor, administrator");
  }
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock->Now().time_since_epoch()).count();
  OperatorTokenSpec spec{options.name, *role, options.expires_at, "server-admin"};
  if (spec.expires_at == 0) spec.expires_at = now + kDefaultTokenLifetimeDays * 86400;
  auto env = MakePosixEnv();
  return store->CreateToken(spec, *env->env().random);
}

Result<std::string> CreateOperatorToken(const std::string& db_path, const std::string& name) {
  return CreateOperatorToken(db_path, OperatorTokenOptions{name, "administrator", 0});
}

Status RevokeOperatorToken(const std::string& db_path, const std::string& name) {
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  return store->RevokeToken(name, "server-admin");
}

Result<std::vector<std::string>> DescribeOperatorTokens(const std::string& db_path) {
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  OTA_ASSIGN_OR_RETURN(auto tokens, store->ListTokens());
  std::vector<std::string> lines;
  for (const OperatorTokenInfo& t : tokens) {
    std::string line = t.name + " role " + t.role + " created-by " + t.created_by;
    line += t.expires_at == 0 ? " expires never" : " expires " + UnixTimeText(t.expires_at);
    if (t.revoked) line += " revoked";
    lines.push_back(std::move(line));
  }
  return lines;
}

Result<std::string> CreateEnrollmentToken(const std::string& db_path,
                                          const EnrollmentTokenOptions& options) {
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  auto env = MakePosixEnv();
  return store->CreateEnrollmentToken({options.name, options.max_devices, options.expires_at},
                                      *env->env().random);
}

Status RevokeEnrollmentToken(const std::string& db_path, const std::string& name) {
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  return store->RevokeEnrollmentToken(name);
}

Result<std::vector<std::string>> DescribeEnrollmentTokens(const std::string& db_path) {
  auto clock = MakeSystemClock();
  OTA_ASSIGN_OR_RETURN(auto store, FleetStore::Open(db_path, *clock));
  OTA_ASSIGN_OR_RETURN(auto tokens, store->ListEnrollmentTokens());
  std::vector<std::string> lines;
  for (const EnrollmentTokenInfo& t : tokens) {
    std::string line =
        t.name + " devices " + std::to_string(t.devices) + "/" +
        (t.max_devices == 0 ? std::string("unlimited") : std::to_string(t.max_devices));
    line += t.expires_at == 0 ? " expires never" : " expires " + UnixTimeText(t.expires_at);
    if (t.revoked) line += " revoked";
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace ota::server
