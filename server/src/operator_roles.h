// Operator roles and what each may do (docs/security.md, "Operator roles").
// The one table that grants a permission to a role lives in
// operator_roles.cc; every operator endpoint names the permission it needs.
#ifndef OTA_SERVER_OPERATOR_ROLES_H_
#define OTA_SERVER_OPERATOR_ROLES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ota::server {

enum class OperatorRole { kViewer, kReleaseManager, kAuditor, kAdministrator };

enum class Permission {
  kRead,            // Fleet, devices, rollouts, events, shadow results, drills, metrics.
  kChangeRollouts,  // Create rollouts and every rollout action.
  kReadAudit,       // The signed audit export.
  kManageTokens,    // Create, list and revoke operator tokens.
};

// "viewer", "release-manager", "auditor", "administrator".
std::string_view RoleName(OperatorRole role);
std::optional<OperatorRole> ParseRole(std::string_view name);
std::string_view PermissionName(Permission permission);
bool Allows(OperatorRole role, Permission permission);
// The roles that hold `permission`, for refusals ("release-manager or
// administrator").
std::string RolesAllowed(Permission permission);

// Who called: an operator token that is valid now.
struct OperatorIdentity {
  std::string name;
  OperatorRole role = OperatorRole::kViewer;
  std::int64_t expires_at = 0;  // Unix seconds; 0: never (tokens made before roles).
};

// A token's lifetime when none is asked for, and the longest allowed.
inline constexpr std::int64_t kDefaultTokenLifetimeDays = 90;
inline constexpr std::int64_t kMaxTokenLifetimeDays = 3650;

}  // namespace ota::server

#endif  // OTA_SERVER_OPERATOR_ROLES_H_
