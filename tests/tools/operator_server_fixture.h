// A live in-process ota-server for otactl's operator commands: a repository
// with the delegated `rollouts` role, rollout changes signed in process by
// the repository library, an operator token (files `token` and a refused
// `bad-token`) and a two-stage rollout manifest for chat 2.0.0
// (`rollout.json`), all under Path().
#ifndef OTA_TESTS_TOOLS_OPERATOR_SERVER_FIXTURE_H_
#define OTA_TESTS_TOOLS_OPERATOR_SERVER_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ota/manifest/rollout_manifest.h"
#include "ota/repo/repo.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"
#include "ota/verifier/keys.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {

class OperatorServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.InitRepo(false);
    rollouts_key_ = f_.NewKey();
    ota::repo::DelegationSpec spec;
    spec.name = "rollouts";
    spec.keys = {rollouts_key_.public_key};
    spec.paths = {"rollouts/*"};
    ASSERT_OK(
        ota::repo::AddDelegation(f_.env, f_.repo_dir, spec, rollouts_key_, f_.Keys(), f_.policy));
    ota::testing::WriteTestFile(Path("work/.keep"), "");
    ASSERT_OK(verifier::SavePrivateKey(*f_.fs, Path("rollouts.key"), rollouts_key_));
    ASSERT_OK(verifier::SavePrivateKey(*f_.fs, Path("snapshot.key"), f_.snapshot_key));
    ASSERT_OK(verifier::SavePrivateKey(*f_.fs, Path("timestamp.key"), f_.timestamp_key));
    auto made = server::MakeRepoPublisher(PublisherOptions());
    ASSERT_OK(made);
    publisher_ = std::move(made).value();

    auto token = server::CreateOperatorToken(Path("server.db"), "ops");
    ASSERT_OK(token);
    ota::testing::WriteTestFile(Path("token"), *token + "\n");
    ota::testing::WriteTestFile(Path("bad-token"), "ota_" + std::string(64, 'f'));
    BeforeServerStarts();

    server::ServerOptions o;
    o.repo_dir = f_.repo_dir;
    o.db_path = Path("server.db");
    o.port = 0;
    o.quiet = true;
    o.publisher = publisher_.get();
    server_ = std::make_unique<server::Server>(o);
    ASSERT_OK(server_->Start());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());

    manifest::RolloutManifest m;
    m.rollout_id = "chat-2";
    m.model = "chat";
    m.version = 1;
    m.target.bundle_version = *manifest::ParseVersion("2.0.0");
    for (std::uint32_t pct : {100u, 10000u}) {
      manifest::RolloutStage s;
      s.percent_hundredths = pct;
      s.min_soak_seconds = 3600;
      m.stages.push_back(s);
    }
    ota::testing::WriteTestFile(Path("rollout.json"), manifest::SerializeRolloutManifest(m));
  }

  // The repository publisher's options: the keys SetUp saved.
  server::RepoPublisherOptions PublisherOptions() const {
    server::RepoPublisherOptions p;
    p.repo_dir = f_.repo_dir;
    p.rollouts_key = Path("rollouts.key");
    p.snapshot_key = Path("snapshot.key");
    p.timestamp_key = Path("timestamp.key");
    p.work_dir = Path("work");
    return p;
  }

  // More set-up in the server's database before it opens it.
  virtual void BeforeServerStarts() {}

  std::string Path(const std::string& rel) const { return f_.tmp.Sub("ops/" + rel); }

  // Runs the built otactl with `args`, the server's URL and the token file
  // `token` (none when empty); expects `expected_exit`.
  ota::testing::CommandResult Otactl(std::vector<std::string> args, int expected_exit = 0,
                                     const std::string& token = "token") {
    args.insert(args.begin(), ota::testing::BinaryPath("otactl"));
    if (args.size() > 2 && args[1] != "--help") {
      args.push_back("--server");
      args.push_back(url_);
      if (!token.empty()) {
        args.push_back("--token-file");
        args.push_back(Path(token));
      }
    }
    ota::testing::CommandResult r = ota::testing::RunCommand(args);
    EXPECT_EQ(r.exit_code, expected_exit) << args[1] << " " << args[2] << ": " << r.err;
    return r;
  }

  ota::testing::RepoFixture f_;
  verifier::PrivateKey rollouts_key_;
  std::unique_ptr<server::RolloutPublisher> publisher_;
  std::unique_ptr<server::Server> server_;
  std::string url_;
};

}  // namespace ota::tools

#endif  // OTA_TESTS_TOOLS_OPERATOR_SERVER_FIXTURE_H_
