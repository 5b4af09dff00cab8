#include "operator_roles.h"

#include <array>

namespace ota::server {
namespace {

struct RoleRow {
  OperatorRole role;
  std::string_view name;
  bool read, change_rollouts, read_audit, manage_tokens;
};

// The grant table: one row per role.
constexpr std::array<RoleRow, 4> kRoles{{
    {OperatorRole::kViewer, "viewer", true, false, false, false},
    {OperatorRole::kReleaseManager, "release-manager", true, true, false, false},
    {OperatorRole::kAuditor, "auditor", true, false, true, false},
    {OperatorRole::kAdministrator, "administrator", true, true, true, true},
}};

bool Granted(const RoleRow& row, Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return row.read;
    case Permission::kChangeRollouts:
      return row.change_rollouts;
    case Permission::kReadAudit:
      return row.read_audit;
    case Permission::kManageTokens:
      return row.manage_tokens;
  }
  return false;
}

}  // namespace

std::string_view RoleName(OperatorRole role) {
  for (const RoleRow& row : kRoles) {
    if (row.role == role) return row.name;
  }
  return "unknown";
}

std::optional<OperatorRole> ParseRole(std::string_view name) {
  for (const RoleRow& row : kRoles) {
    if (row.name == name) return row.role;
  }
  return std::nullopt;
}

std::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return "read fleet state";
    case Permission::kChangeRollouts:
      return "change rollouts";
    case Permission::kReadAudit:
      return "export the audit log";
    case Permission::kManageTokens:
      return "manage operator tokens";
  }
  return "unknown";
}

bool Allows(OperatorRole role, Permission permission) {
  for (const RoleRow& row : kRoles) {
    if (row.role == role) return Granted(row, permission);
  }
  return false;
}

std::string RolesAllowed(Permission permission) {
  std::string out;
  for (const RoleRow& row : kRoles) {
    if (!Granted(row, permission)) continue;
    if (!out.empty()) out += " or ";
    out += row.name;
  }
  return out;
}

}  // namespace ota::server
