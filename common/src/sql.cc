#include "ota/common/sql.h"

#include <algorithm>

namespace ota {

Status Statement::Run() {
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

Status StatementImpl::Defer(int expect_rows) {
  int rows = 0;
  Status s = Ok();
  while (true) {
    Result<bool> row = Step();
    if (!row.ok()) {
      s = row.error();
      break;
    }
    if (!*row) break;
    ++rows;
  }
  Reset();
  if (s.ok() && expect_rows >= 0 && rows != expect_rows) {
    return MakeError(ErrorCode::kRetryLater, "statement returned " + std::to_string(rows) +
                                                 " rows, not the " + std::to_string(expect_rows) +
                                                 " expected");
  }
  return s;
}

Status ApplyMigrations(int current, const std::vector<Migration>& migrations,
                       const std::string& where,
                       const std::function<Status(const Migration&)>& apply) {
  std::vector<Migration> sorted = migrations;
  std::sort(sorted.begin(), sorted.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  const int newest = sorted.empty() ? 0 : sorted.back().version;
  if (current > newest) {
    return MakeError(ErrorCode::kRestartDeployment,
                     "database " + where + " has schema version " + std::to_string(current) +
                         ", newer than this build knows (" + std::to_string(newest) + ")");
  }
  for (const Migration& m : sorted) {
    if (m.version <= current) continue;
    Status s = apply(m);
    if (!s.ok()) {
      return MakeError(s.error().code, "migration " + std::to_string(m.version) + " of " + where +
                                           " failed: " + s.error().message);
    }
  }
  return Ok();
}

}  // namespace ota
