// Operator and enrollment tokens in the fleet database: only the SHA-256 of
// a token is stored; creating and revoking one is a server audit record.
#include <sodium.h>

#include <utility>

#include "fleet_store.h"
#include "ota/common/hash.h"

namespace ota::server {
namespace {

using nlohmann::json;

Error TokenInvalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

bool IsValidTokenName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && IsValidDeviceId(name);
}

// A bearer secret: `prefix` then 32 random bytes in hex.
std::string NewSecretToken(std::string_view prefix, Random& random) {
  std::uint8_t secret[32];
  random.Fill(secret);
  std::string token = std::string(prefix) + HexEncode(std::span<const std::uint8_t>(secret));
  sodium_memzero(secret, sizeof(secret));
  return token;
}

// Runs `sql` (its first column token_sha256; the digest bound at 1 and `now`
// at 2 when given) and returns the statement on the row of a token that is
// stored and not revoked. Lookup is by the SHA-256 of the token, so the
// index compares digests, never the secret; the final comparison is
// constant-time as well.
std::optional<Statement> MatchToken(Database& db, const std::string& token, const std::string& sql,
                                    std::optional<std::int64_t> now) {
  if (token.size() < 8 || token.size() > 256) return std::nullopt;
  const std::string digest = Sha256Hex(token);
  auto q = db.Prepare(sql);
  if (!q.ok()) return std::nullopt;
  q->Bind(1, digest);
  if (now) q->Bind(2, *now);
  auto row = q->Step();
  if (!row.ok() || !*row) return std::nullopt;
  const std::string stored = q->ColumnText(0);
  if (stored.size() != digest.size() ||
      sodium_memcmp(stored.data(), digest.data(), digest.size()) != 0) {
    return std::nullopt;
  }
  return std::move(*q);
}

std::optional<std::string> MatchedTokenName(Database& db, const std::string& token,
                                            const char* table, const std::string& extra,
                                            std::int64_t now) {
  auto q = MatchToken(db, token,
                      std::string("SELECT token_sha256, name FROM ") + table +
                          " WHERE token_sha256 = ? AND revoked = 0" + extra,
                      extra.empty() ? std::nullopt : std::optional<std::int64_t>(now));
  if (!q) return std::nullopt;
  return q->ColumnText(1);
}

ServerAuditRecord TokenRecord(std::string type, const std::string& actor, json fields) {
  return ServerAuditRecord{std::move(type), actor, "", "", "", std::move(fields)};
}

// A record of an `ota-server` command run on the database.
ServerAuditRecord AdminRecord(std::string type, json fields) {
  return TokenRecord(std::move(type), "server-admin", std::move(fields));
}

}  // namespace

// ---- Operator tokens ----

Result<std::string> FleetStore::CreateToken(const OperatorTokenSpec& spec, Random& random) {
  if (!IsValidTokenName(spec.name)) {
    return TokenInvalid("token name must be 1 to 64 characters from [A-Za-z0-9._-]");
  }
  const std::int64_t now = Now();
  if (spec.expires_at <= now || spec.expires_at > now + kMaxTokenLifetimeDays * 86400) {
    return TokenInvalid("a token must expire after now and within " +
                        std::to_string(kMaxTokenLifetimeDays) + " days");
  }
  const std::string token = NewSecretToken("ota_", random);
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement ins,
      db_->Prepare("INSERT INTO operator_tokens (token_sha256, name, created_at, role, "
                   "expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO "
                   "NOTHING RETURNING 1"));
  ins.Bind(1, Sha256Hex(token)).Bind(2, spec.name).Bind(3, now);
  ins.Bind(4, std::string(RoleName(spec.role))).Bind(5, spec.expires_at).Bind(6, spec.created_by);
  bool inserted = false;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(inserted, ins.Step());
    ins.Reset();
    if (!inserted) return Ok();
    const json fields = {
        {"token_name", spec.name}, {"role", RoleName(spec.role)}, {"expires_at", spec.expires_at}};
    return AppendServerAuditStatus(
        *db_, TokenRecord("operator-token-created", spec.created_by, fields), now);
  }));
  if (!inserted) {
    return TokenInvalid("a token named " + spec.name +
                        " exists (revoked tokens keep their name, so records stay unambiguous)");
  }
  return token;
}

std::optional<OperatorIdentity> FleetStore::AuthenticateToken(const std::string& token) {
  std::lock_guard lock(mu_);
  auto q = MatchToken(*db_, token,
                      "SELECT token_sha256, name, role, expires_at FROM operator_tokens WHERE "
                      "token_sha256 = ? AND revoked = 0",
                      std::nullopt);
  if (!q) return std::nullopt;
  auto role = ParseRole(q->ColumnText(2));
  // A role this build does not know grants nothing.
  if (!role) return std::nullopt;
  return OperatorIdentity{q->ColumnText(1), *role, q->ColumnInt(3)};
}

Result<std::vector<OperatorTokenInfo>> FleetStore::ListTokens() {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT name, role, created_at, expires_at, created_by, "
                                    "revoked FROM operator_tokens ORDER BY name"));
  std::vector<OperatorTokenInfo> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({q.ColumnText(0), q.ColumnText(1), q.ColumnInt(2), q.ColumnInt(3),
                   q.ColumnText(4), q.ColumnInt(5) != 0});
  }
  return out;
}

Status FleetStore::RevokeToken(const std::string& name, const std::string& actor) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement u,
      db_->Prepare("UPDATE operator_tokens SET revoked = 1 WHERE name = ? AND revoked = 0 "
                   "RETURNING 1"));
  u.Bind(1, name);
  return InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(bool found, u.Step());
    u.Reset();
    if (!found) return MakeError(ErrorCode::kNotFound, "no unrevoked token named " + name);
    return AppendServerAuditStatus(
        *db_, TokenRecord("operator-token-revoked", actor, {{"token_name", name}}), Now());
  });
}

// ---- Enrollment tokens ----

Result<std::string> FleetStore::CreateEnrollmentToken(const EnrollmentTokenSpec& spec,
                                                      Random& random) {
  if (!IsValidTokenName(spec.name)) {
    return TokenInvalid("token name must be 1 to 64 characters from [A-Za-z0-9._-]");
  }
  if (spec.max_devices > static_cast<std::uint64_t>(INT64_MAX) || spec.expires_at < 0) {
    return TokenInvalid("max_devices and expires_at must be non-negative 63-bit integers");
  }
  const std::string token = NewSecretToken("otae_", random);
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement ins,
      db_->Prepare("INSERT INTO enrollment_tokens (token_sha256, name, created_at, expires_at, "
                   "max_devices) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING "
                   "RETURNING 1"));
  ins.Bind(1, Sha256Hex(token)).Bind(2, spec.name).Bind(3, Now()).Bind(4, spec.expires_at);
  ins.Bind(5, static_cast<std::int64_t>(spec.max_devices));
  bool inserted = false;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(inserted, ins.Step());
    ins.Reset();
    if (!inserted) return Ok();
    const json fields = {{"token_name", spec.name},
                         {"max_devices", static_cast<std::int64_t>(spec.max_devices)},
                         {"expires_at", spec.expires_at}};
    return AppendServerAuditStatus(*db_, AdminRecord("enrollment-token-created", fields), Now());
  }));
  if (!inserted) {
    return TokenInvalid("an enrollment token named " + spec.name +
                        " exists (revoked tokens keep their name)");
  }
  return token;
}

std::optional<std::string> FleetStore::AuthenticateEnrollmentToken(const std::string& token) {
  std::lock_guard lock(mu_);
  return MatchedTokenName(*db_, token, "enrollment_tokens",
                          " AND (expires_at = 0 OR expires_at > ?)", Now());
}

Status FleetStore::RevokeEnrollmentToken(const std::string& name) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement u,
      db_->Prepare("UPDATE enrollment_tokens SET revoked = 1 WHERE name = ? RETURNING 1"));
  u.Bind(1, name);
  return InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(bool found, u.Step());
    u.Reset();
    if (!found) return MakeError(ErrorCode::kNotFound, "no enrollment token named " + name);
    return AppendServerAuditStatus(
        *db_, AdminRecord("enrollment-token-revoked", {{"token_name", name}}), Now());
  });
}

Result<std::vector<EnrollmentTokenInfo>> FleetStore::ListEnrollmentTokens() {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT name, created_at, expires_at, max_devices, devices, "
                                    "revoked FROM enrollment_tokens ORDER BY name"));
  std::vector<EnrollmentTokenInfo> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({q.ColumnText(0), q.ColumnInt(1), q.ColumnInt(2),
                   static_cast<std::uint64_t>(q.ColumnInt(3)),
                   static_cast<std::uint64_t>(q.ColumnInt(4)), q.ColumnInt(5) != 0});
  }
  return out;
}

}  // namespace ota::server
