// otactl rollout / fleet against a live in-process ota-server whose rollout
// changes are signed in process by the repository library (what `otactl
// publish --role rollouts` runs), then read back through the TUF client.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "ota/common/hash.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/repo/repo.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"
#include "ota/verifier/updater.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {
namespace {

using nlohmann::json;
using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::RunCommand;
using ota::testing::WriteTestFile;

class RolloutCliTest : public ::testing::Test {
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

    server::RepoPublisherOptions p;
    p.repo_dir = f_.repo_dir;
    p.rollouts_key = Path("rollouts.key");
    p.snapshot_key = Path("snapshot.key");
    p.timestamp_key = Path("timestamp.key");
    p.work_dir = Path("work");
    auto made = server::MakeRepoPublisher(p);
    ASSERT_OK(made);
    publisher_ = std::move(made).value();

    auto token = server::CreateOperatorToken(Path("server.db"), "ops");
    ASSERT_OK(token);
    WriteTestFile(Path("token"), *token + "\n");
    WriteTestFile(Path("bad-token"), "ota_" + std::string(64, 'f'));

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
    WriteTestFile(Path("rollout.json"), manifest::SerializeRolloutManifest(m));
  }

  std::string Path(const std::string& rel) const { return f_.tmp.Sub("ops/" + rel); }

  CommandResult Otactl(std::vector<std::string> args, int expected_exit = 0,
                       const std::string& token = "token") {
    args.insert(args.begin(), BinaryPath("otactl"));
    if (args.size() > 2 && args[1] != "--help") {
      args.push_back("--server");
      args.push_back(url_);
      if (!token.empty()) {
        args.push_back("--token-file");
        args.push_back(Path(token));
      }
    }
    CommandResult r = RunCommand(args);
    EXPECT_EQ(r.exit_code, expected_exit) << args[1] << " " << args[2] << ": " << r.err;
    return r;
  }

  // The published rollout manifest as a device sees it (TUF-verified).
  manifest::RolloutManifest DeviceView() {
    // otactl signs with the real clock.
    f_.clock.Set(std::chrono::system_clock::now());
    verifier::Updater updater(f_.env, f_.Options());
    EXPECT_OK(updater.Refresh());
    auto info = updater.GetTargetInfo("rollouts/chat.json");
    EXPECT_OK(info);
    auto text = f_.fs->ReadFile(f_.repo_dir + "/targets/rollouts/chat.json", 1 << 20);
    EXPECT_OK(text);
    EXPECT_EQ(info->hashes.at("sha256"), Sha256Hex(*text));
    auto m = manifest::ParseRolloutManifest(*text);
    EXPECT_OK(m);
    return *m;
  }

  ota::testing::RepoFixture f_;
  verifier::PrivateKey rollouts_key_;
  std::unique_ptr<server::RolloutPublisher> publisher_;
  std::unique_ptr<server::Server> server_;
  std::string url_;
};

TEST_F(RolloutCliTest, CreateSteerAndReadBackSignedManifests) {
  CommandResult created =
      Otactl({"rollout", "create", "--manifest", Path("rollout.json"), "--min-reporting", "5",
              "--approval", "manual", "--reason", "ship 2.0"});
  EXPECT_NE(created.out.find("created rollout chat-2 (manifest v1)"), std::string::npos)
      << created.out;
  manifest::RolloutManifest seen = DeviceView();
  EXPECT_EQ(seen.version, 1u);
  EXPECT_EQ(seen.state, manifest::RolloutState::kActive);

  CommandResult status = Otactl({"rollout", "status", "chat-2", "--json"});
  json s = json::parse(status.out);
  EXPECT_EQ(s["approval"], "manual");
  EXPECT_EQ(s["stages"][0]["policy"]["min_reporting"], 5);
  EXPECT_EQ(s["next_action"]["action"], "none");

  CommandResult table = Otactl({"rollout", "status", "chat-2"});
  EXPECT_NE(table.out.find("next action: none"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("operator:ops"), std::string::npos) << table.out;

  Otactl({"rollout", "pause", "chat-2", "--reason", "bad crash rate"});
  EXPECT_EQ(DeviceView().state, manifest::RolloutState::kPaused);
  CommandResult refused = Otactl({"rollout", "advance", "chat-2"}, 1);
  EXPECT_NE(refused.err.find("HTTP 409"), std::string::npos) << refused.err;
  Otactl({"rollout", "resume", "chat-2"});
  Otactl({"rollout", "advance", "chat-2", "--force"});
  Otactl({"rollout", "pin", "chat-2", "--app-versions", "<1.0.0", "--bundle-version", "1.0.0"});
  seen = DeviceView();
  EXPECT_EQ(seen.current_stage, 1u);
  EXPECT_EQ(seen.pins.size(), 1u);
  EXPECT_EQ(seen.version, 5u);
  Otactl({"rollout", "unpin", "chat-2", "--app-versions", "<1.0.0"});
  Otactl({"rollout", "rollback", "chat-2", "--to", "1.0.0"});
  Otactl({"rollout", "halt", "chat-2"});
  seen = DeviceView();
  EXPECT_EQ(seen.state, manifest::RolloutState::kHalted);
  ASSERT_TRUE(seen.rollback.has_value());

  CommandResult list = Otactl({"rollout", "status"});
  EXPECT_NE(list.out.find("chat-2"), std::string::npos);
  CommandResult fleet = Otactl({"fleet", "status", "--json"});
  EXPECT_EQ(json::parse(fleet.out)["devices"], 0);
}

TEST_F(RolloutCliTest, RefusesWithoutAValidToken) {
  CommandResult none = Otactl({"rollout", "status"}, 2, "");
  EXPECT_NE(none.err.find("operator token is required"), std::string::npos) << none.err;
  CommandResult bad = Otactl({"rollout", "status"}, 1, "bad-token");
  EXPECT_NE(bad.err.find("HTTP 403"), std::string::npos) << bad.err;
  CommandResult missing = Otactl({"rollout", "status", "nope"}, 1);
  EXPECT_NE(missing.err.find("HTTP 404"), std::string::npos) << missing.err;
  Otactl({"rollout", "create", "--manifest", Path("token")}, 2);
}

}  // namespace
}  // namespace ota::tools
