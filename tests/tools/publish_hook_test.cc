// The server's rollout publisher runs its publish hook for each file it put
// in the repository, in write order: the target, then the delegated role's
// metadata, the snapshot, and the timestamp last.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "operator_server_fixture.h"

namespace ota::tools {
namespace {

class PublishHookTest : public OperatorServerFixture {
 protected:
  // A publisher with `hook`, otherwise the fixture's.
  std::unique_ptr<server::RolloutPublisher> WithHook(const std::string& hook) {
    server::RepoPublisherOptions p = PublisherOptions();
    p.publish_hook = hook;
    auto made = server::MakeRepoPublisher(p);
    EXPECT_OK(made);
    return made.ok() ? std::move(made).value() : nullptr;
  }

  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = Path(name);
    ota::testing::WriteTestFile(path, "#!/bin/sh\n" + body);
    EXPECT_EQ(chmod(path.c_str(), 0755), 0);
    return path;
  }

  manifest::RolloutManifest Rollout() {
    auto m = manifest::ParseRolloutManifest(ota::testing::ReadTestFile(Path("rollout.json")));
    EXPECT_OK(m);
    return *m;
  }
};

TEST_F(PublishHookTest, RunsForEachFileInWriteOrderWithTheTimestampLast) {
  const std::string log = Path("hook.log");
  auto publisher = WithHook(Script("hook.sh", "echo \"$1 $2\" >> " + log + "\n"));
  ASSERT_NE(publisher, nullptr);
  ASSERT_OK(publisher->Publish(Rollout()));
  std::istringstream in(ota::testing::ReadTestFile(log));
  std::vector<std::string> files;
  for (std::string line; std::getline(in, line);) {
    ASSERT_EQ(line.rfind(f_.repo_dir + " ", 0), 0u) << line;
    files.push_back(line.substr(f_.repo_dir.size() + 1));
  }
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(files.front().rfind("targets/rollouts/", 0), 0u) << files.front();
  EXPECT_EQ(files.back(), "metadata/timestamp.json");
  auto at = [&](const std::string& name) {
    return std::find(files.begin(), files.end(), name) - files.begin();
  };
  EXPECT_LT(at("metadata/rollouts.json"), at("metadata/snapshot.json"));
  EXPECT_LT(at("metadata/snapshot.json"), at("metadata/timestamp.json"));
  for (const std::string& f : files) {
    EXPECT_TRUE(std::filesystem::exists(f_.repo_dir + "/" + f)) << f;
  }
}

TEST_F(PublishHookTest, AFailingHookFailsThePublishAndNamesTheFile) {
  auto publisher = WithHook(Script("fail.sh", "exit 3\n"));
  ASSERT_NE(publisher, nullptr);
  Status s = publisher->Publish(Rollout());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("exited with 3 for targets/rollouts/"), std::string::npos)
      << s.error().message;
  auto missing = WithHook(Path("no-such-hook"));
  ASSERT_NE(missing, nullptr);
  manifest::RolloutManifest next = Rollout();
  next.version = 2;  // Something new to write.
  Status m = missing->Publish(next);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("cannot run the publish hook"), std::string::npos)
      << m.error().message;
}

// otactl publish --hook: the same order for an operator's publish of a file.
TEST_F(PublishHookTest, OtactlPublishRunsTheHookInWriteOrder) {
  const std::string log = Path("otactl-hook.log");
  const std::string hook = Script("otactl-hook.sh", "echo \"$2\" >> " + log + "\n");
  ASSERT_OK(verifier::SavePrivateKey(*f_.fs, Path("targets.key"), f_.targets_key));
  ota::testing::WriteTestFile(Path("notes.txt"), "release notes");
  ota::testing::CommandResult r = ota::testing::RunCommand(
      {ota::testing::BinaryPath("otactl"), "publish", "--repo", f_.repo_dir, "--file",
       Path("notes.txt"), "--target", "notes/2.0.txt", "--targets-key", Path("targets.key"),
       "--snapshot-key", Path("snapshot.key"), "--timestamp-key", Path("timestamp.key"), "--hook",
       hook});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(ota::testing::ReadTestFile(log));
  std::vector<std::string> files;
  for (std::string line; std::getline(in, line);) files.push_back(line);
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(files.front(), "targets/notes/2.0.txt");
  EXPECT_EQ(files.back(), "metadata/timestamp.json");
  EXPECT_NE(std::find(files.begin(), files.end(), "metadata/targets.json"), files.end());
}

}  // namespace
}  // namespace ota::tools
