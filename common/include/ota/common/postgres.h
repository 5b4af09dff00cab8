// The PostgreSQL implementation of the SQL seam (ota/common/sql.h), library
// ota_common_postgres (libpq). Nothing else includes libpq-fe.h.
#ifndef OTA_COMMON_POSTGRES_H_
#define OTA_COMMON_POSTGRES_H_

#include <memory>
#include <string>
#include <vector>

#include "ota/common/result.h"
#include "ota/common/sql.h"

namespace ota {

// True for a PostgreSQL connection URI ("postgresql://..." or
// "postgres://...").
bool IsPostgresUri(std::string_view spec);

// Connects to the PostgreSQL database named by `uri` (libpq connection URI:
// postgresql://[user[:password]@][host][:port][/dbname][?param=value...]),
// then applies `migrations` above the version recorded in table
// ota_schema_version, each in its own transaction, while holding a session
// advisory lock so that nodes starting together migrate once. Statements
// are prepared once per connection and kept; `?` placeholders become $n.
// A lost connection is re-established at the next Begin/Prepare.
// Errors: kIo (cannot connect), kRestartDeployment (schema newer than this
// build). Messages never repeat the URI (it may hold a password).
Result<std::unique_ptr<Database>> OpenPostgres(const std::string& uri,
                                               const std::vector<Migration>& migrations);

}  // namespace ota

#endif  // OTA_COMMON_POSTGRES_H_
