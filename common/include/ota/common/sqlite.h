// The SQLite implementation of the SQL seam (ota/common/sql.h), library
// ota_common_sqlite: Database::Open. Nothing else includes sqlite3.h.
#ifndef OTA_COMMON_SQLITE_H_
#define OTA_COMMON_SQLITE_H_

#include "ota/common/sql.h"

#endif  // OTA_COMMON_SQLITE_H_
