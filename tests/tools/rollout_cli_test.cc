// otactl rollout / fleet against a live in-process ota-server whose rollout
// changes are signed in process by the repository library (what `otactl
// publish --role rollouts` runs), then read back through the TUF client.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include <chrono>
#include <nlohmann/json.hpp>

#include "operator_server_fixture.h"
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

class RolloutCliTest : public OperatorServerFixture {
 protected:
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

TEST_F(RolloutCliTest, TokenCommandsGiveRolesThroughTheApi) {
  Otactl({"token", "create", "--name", "vera", "--role", "viewer", "--expires-in-days", "7",
          "--out", Path("vera")});
  struct stat st {};
  ASSERT_EQ(::stat(Path("vera").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Otactl({"rollout", "status"}, 0, "vera");
  CommandResult refused = Otactl({"token", "list"}, 1, "vera");
  EXPECT_NE(refused.err.find("HTTP 403: role viewer may not manage operator tokens"),
            std::string::npos)
      << refused.err;
  CommandResult list = Otactl({"token", "list"});
  EXPECT_NE(list.out.find("vera"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("viewer"), std::string::npos) << list.out;
  // A taken name, an existing file and an unknown role: nothing is created.
  CommandResult taken =
      Otactl({"token", "create", "--name", "vera", "--role", "viewer", "--out", Path("vera-2")}, 1);
  EXPECT_NE(taken.err.find("HTTP 409"), std::string::npos) << taken.err;
  EXPECT_FALSE(std::filesystem::exists(Path("vera-2")));
  Otactl({"token", "create", "--name", "walt", "--role", "viewer", "--out", Path("vera")}, 1);
  Otactl({"token", "create", "--name", "walt", "--role", "root"}, 2);
  EXPECT_EQ(Otactl({"token", "list", "--json"}).out.find("walt"), std::string::npos);
  Otactl({"token", "revoke", "vera"});
  CommandResult gone = Otactl({"rollout", "status"}, 1, "vera");
  EXPECT_NE(gone.err.find("HTTP 403"), std::string::npos) << gone.err;
  Otactl({"token", "revoke", "vera"}, 1);
}

}  // namespace
}  // namespace ota::tools
