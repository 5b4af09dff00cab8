// Operator token endpoints: who am I, and an administrator's create, list and
// revoke (docs/server-api.md, "Operator tokens").
#include <cstdint>
#include <string>

#include "fleet_api.h"
#include "ota/manifest/canonical_json.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr std::int64_t kSecondsPerDay = 86400;

json ExpiryJson(std::int64_t expires_at) {
  return expires_at == 0 ? json(nullptr) : json(expires_at);
}

json PermissionsOf(OperatorRole role) {
  json out = json::array();
  for (Permission p : {Permission::kRead, Permission::kChangeRollouts, Permission::kReadAudit,
                       Permission::kManageTokens}) {
    if (Allows(role, p)) out.push_back(PermissionName(p));
  }
  return out;
}

// A whole number within [low, high], or nullopt.
std::optional<std::int64_t> IntegerIn(const json& v, std::int64_t low, std::int64_t high) {
  if (!v.is_number_integer()) return std::nullopt;
  const std::int64_t n = v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX
                             ? INT64_MAX
                             : v.get<std::int64_t>();
  if (n < low || n > high) return std::nullopt;
  return n;
}

// The token to create from a POST /v1/tokens body, or the 400 to send.
Result<OperatorTokenSpec> TokenRequest(std::string_view body, std::int64_t now) {
  manifest::JsonLimits limits;
  limits.max_bytes = 4096;
  limits.max_depth = 4;
  OTA_ASSIGN_OR_RETURN(json doc, manifest::ParseJsonStrict(body, limits));
  auto invalid = [](const std::string& m) { return MakeError(ErrorCode::kInvalidArgument, m); };
  if (!doc.is_object()) return invalid("body must be a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    if (k != "name" && k != "role" && k != "expires_in_days" && k != "expires_at") {
      return invalid("unknown field " + k);
    }
  }
  OperatorTokenSpec spec;
  if (!doc.contains("name") || !doc["name"].is_string()) return invalid("name must be a string");
  spec.name = doc["name"].get<std::string>();
  if (!doc.contains("role") || !doc["role"].is_string()) {
    return invalid("role must be one of viewer, release-manager, auditor, administrator");
  }
  auto role = ParseRole(doc["role"].get<std::string>());
  if (!role) return invalid("role must be one of viewer, release-manager, auditor, administrator");
  spec.role = *role;
  if (doc.contains("expires_in_days") && doc.contains("expires_at")) {
    return invalid("give expires_in_days or expires_at, not both");
  }
  spec.expires_at = now + kDefaultTokenLifetimeDays * kSecondsPerDay;
  if (doc.contains("expires_in_days")) {
    auto days = IntegerIn(doc["expires_in_days"], 1, kMaxTokenLifetimeDays);
    if (!days) {
      return invalid("expires_in_days must be a whole number from 1 to " +
                     std::to_string(kMaxTokenLifetimeDays));
    }
    spec.expires_at = now + *days * kSecondsPerDay;
  } else if (doc.contains("expires_at")) {
    auto at = IntegerIn(doc["expires_at"], now + 1, now + kMaxTokenLifetimeDays * kSecondsPerDay);
    if (!at) {
      return invalid("expires_at must be Unix seconds after now and within " +
                     std::to_string(kMaxTokenLifetimeDays) + " days");
    }
    spec.expires_at = *at;
  }
  return spec;
}

}  // namespace

ApiResponse FleetApi::WhoAmI(const OperatorIdentity& who) const {
  return {200, json{{"name", who.name},
                    {"role", RoleName(who.role)},
                    {"expires_at", ExpiryJson(who.expires_at)},
                    {"permissions", PermissionsOf(who.role)}}};
}

ApiResponse FleetApi::ListTokens() {
  auto all = store_.ListTokens();
  if (!all.ok()) return ApiError(500, "internal", all.error().message);
  const std::int64_t now = Now();
  json tokens = json::array();
  for (const OperatorTokenInfo& t : *all) {
    tokens.push_back({{"name", t.name},
                      {"role", t.role},
                      {"created_at", t.created_at},
                      {"created_by", t.created_by},
                      {"expires_at", ExpiryJson(t.expires_at)},
                      {"expired", t.expires_at != 0 && t.expires_at <= now},
                      {"revoked", t.revoked}});
  }
  return {200, json{{"tokens", std::move(tokens)}}};
}

ApiResponse FleetApi::CreateToken(const std::string& actor, std::string_view body, Random& random) {
  auto spec = TokenRequest(body, Now());
  if (!spec.ok()) return ApiError(400, "bad-request", spec.error().message);
  spec->created_by = "operator:" + actor;
  auto token = store_.CreateToken(*spec, random);
  if (!token.ok()) {
    if (token.error().code == ErrorCode::kInvalidArgument) {
      const bool taken = token.error().message.find(" exists") != std::string::npos;
      return ApiError(taken ? 409 : 400, taken ? "exists" : "bad-request", token.error().message);
    }
    return ApiError(500, "internal", "cannot store the token: " + token.error().message);
  }
  return {201, json{{"name", spec->name},
                    {"role", RoleName(spec->role)},
                    {"expires_at", spec->expires_at},
                    {"token", *token}}};
}

ApiResponse FleetApi::RevokeToken(const std::string& actor, const std::string& name) {
  Status s = store_.RevokeToken(name, "operator:" + actor);
  if (!s.ok()) {
    if (s.error().code == ErrorCode::kNotFound)
      return ApiError(404, "not-found", s.error().message);
    return ApiError(500, "internal", "cannot revoke the token: " + s.error().message);
  }
  return {200, json{{"revoked", name}}};
}

}  // namespace ota::server
