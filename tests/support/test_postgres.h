// A throwaway PostgreSQL cluster for tests (Debian's server binaries): initdb
// into a temporary folder as an unprivileged user (`postgres` when running as
// root), listening on a Unix socket in that folder only, never on a network
// port. Tests get a fresh database each.
//
// OTA_TEST_FLEET_DB selects the fleet tests' store: unset, SQLite files;
// "postgres", a cluster this process starts; a postgresql:// URI, the
// maintenance database of a running cluster (ctest starts one for all test
// processes: fixture "postgres" in tests/CMakeLists.txt).
#ifndef OTA_TESTS_SUPPORT_TEST_POSTGRES_H_
#define OTA_TESTS_SUPPORT_TEST_POSTGRES_H_

#include <string>

#include "ota/common/result.h"

namespace ota::testing {

class TempDir;

// Starts a cluster in `dir` (created; must not hold one already) and returns
// the URI of its maintenance database. `durable`: fsync on (benchmarks);
// tests run without it.
Result<std::string> StartPostgresCluster(const std::string& dir, bool durable = false);
// Stops the cluster in `dir` (immediately) if one runs there.
void StopPostgresCluster(const std::string& dir);

// The URI of a new, empty database: in the cluster OTA_TEST_FLEET_DB names,
// else in one this process starts at first use and stops when it exits.
Result<std::string> NewPostgresDatabase();

// True when the fleet tests run against PostgreSQL.
bool FleetTestsOnPostgres();
// The fleet database of a test: a new PostgreSQL database when
// FleetTestsOnPostgres(), else `dir`/server.db. Fails the test if PostgreSQL
// cannot be started.
std::string FleetDbForTest(const TempDir& dir);

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_TEST_POSTGRES_H_
