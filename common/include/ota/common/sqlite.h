// The SQLite implementation of the SQL seam (ota/common/sql.h), library
// ota_common_sqlite: Database::Open. Nothing else includes sqlite3.h.
#ifndef OTA_COMMON_SQLITE_H_
#define OTA_COMMON_SQLITE_H_

#include <cstdint>

#include "ota/common/sql.h"

namespace ota {

// How many statements this SQLite connection compiled (parsed and
// planned). A statement prepared again comes from the connection's cache of
// statements not in use, and does not count. For diagnostics and tests; 0
// for a database of another engine.
std::uint64_t StatementsCompiled(const Database& db);

}  // namespace ota

#endif  // OTA_COMMON_SQLITE_H_
