// test-postgres-cluster start|stop DIR: the throwaway PostgreSQL cluster that
// ctest starts before the fleet tests on PostgreSQL and stops after them.
#include <filesystem>
#include <iostream>
#include <string>

#include "test_postgres.h"

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "start" && std::string(argv[1]) != "stop")) {
    std::cerr << "usage: test-postgres-cluster start|stop DIR\n";
    return 2;
  }
  const std::string dir = argv[2];
  // A cluster left by an interrupted run goes first.
  ota::testing::StopPostgresCluster(dir);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (std::string(argv[1]) == "stop") return 0;
  auto uri = ota::testing::StartPostgresCluster(dir);
  if (!uri.ok()) {
    std::cerr << uri.error().message << "\n";
    return 1;
  }
  std::cout << *uri << "\n";
  return 0;
}
