// Shared fixture: an in-process ota-server on 127.0.0.1 with an ephemeral
// port, serving a small repository in a temp folder.
#ifndef OTA_TESTS_SERVER_SERVER_FIXTURE_H_
#define OTA_TESTS_SERVER_SERVER_FIXTURE_H_

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "ota/server/server.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {

// Deterministic, non-repeating-looking bytes so that offsets are checkable.
inline std::string TestBytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return s;
}

class ServerFixture : public ::testing::Test {
 protected:
  static constexpr std::size_t kModelSize = 10'000;

  void SetUp() override {
    model_ = TestBytes(kModelSize);
    ota::testing::WriteTestFile(Repo("targets/model.bin"), model_);
    ota::testing::WriteTestFile(Repo("targets/empty.bin"), "");
    ota::testing::WriteTestFile(Repo("timestamp.json"), "{\"signed\":{\"version\":3}}");
    ota::testing::WriteTestFile(tmp_.Sub("secret.txt"), "TOP-SECRET");
    db_ = ota::testing::FleetDbForTest(tmp_);
  }

  std::string Repo(const std::string& rel) const { return tmp_.Sub("repo/" + rel); }

  void StartServer(ServerOptions options = {}) {
    options.repo_dir = tmp_.Sub("repo");
    options.db_path = db_;
    if (options.audit_key_path.empty()) options.audit_key_path = tmp_.Sub("server.db.audit-key");
    options.port = 0;
    options.quiet = true;
    options.clock = &clock_;
    server_ = std::make_unique<Server>(options);
    ASSERT_OK(server_->Start());
    ASSERT_GT(server_->port(), 0);
  }

  // A client that sends paths exactly as written (no normalisation).
  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1",
                                               client_port_ != 0 ? client_port_ : server_->port());
    c->set_url_encode(false);
    c->set_read_timeout(10, 0);
    return c;
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  ota::testing::TempDir tmp_;
  // The fleet database: tmp_/server.db, or a PostgreSQL database
  // (test_postgres.h).
  std::string db_;
  ota::testing::ManualClock clock_;
  std::string model_;
  std::unique_ptr<Server> server_;
  // The port Client() talks to when not 0 (another server node).
  int client_port_ = 0;
};

}  // namespace ota::server

#endif  // OTA_TESTS_SERVER_SERVER_FIXTURE_H_
