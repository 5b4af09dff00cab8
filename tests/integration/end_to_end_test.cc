// End to end on loopback: otactl builds and publishes, ota-server serves,
// the agent (in process, real libcurl, injected clock) installs.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/agent/leases.h"
#include "ota/agent/mirror.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::Agent;
using agent::UpdateOutcome;
using ota::testing::BinaryPath;
using ota::testing::ChildProcess;
using ota::testing::CommandResult;
using ota::testing::ReadTestFile;
using ota::testing::RunCommand;
using ota::testing::TempDir;

class EndToEndTest : public ota::testing::RepoFixture {
 protected:
  // A cycle that resumes a paused deployment: its outcome comes first.
  UpdateOutcome ResumeOnce(Agent& a) {
    auto outcomes = a.Update(nullptr);
    EXPECT_TRUE(outcomes.ok()) << outcomes.error().ToString();
    if (!outcomes.ok() || outcomes->empty()) return UpdateOutcome{};
    return outcomes->front();
  }

  // Builds and publishes `version` of "chat" from seed 1 (the weights
  // Publish("1.0.0", 1) uses) asking devices for a shadow test with
  // `policy` (JSON) as bundle.json's shadow.policy.
  // Returns the bundle's path.
  std::string PublishShadowed(const std::string& version, const std::string& policy,
                              const std::string& type = "f16") {
    const std::string model = dir_.Sub("mirrored-" + version + ".gguf");
    const std::string bundle = dir_.Sub("mirrored-" + version + ".otab");
    Otactl({"model", "synth", "--seed", "1", "--layers", "2", "--width", "64", "--type", type,
            "--out", model});
    Otactl({"bundle", "build", "--name", "chat", "--version", version, "--model", model,
            "--prompts", dir_.Sub("prompts"), "--shadow-policy", policy, "--out", bundle});
    Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--targets-key",
            Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
            Key("timestamp")});
    return bundle;
  }

  // Publishes 1.0.0, starts the server and enrolls a device with
  // `ota-agent init` in the folder `name`; returns its state folder.
  std::string StartWithCliDevice(const std::string& name) {
    Publish("1.0.0", 1);
    StartServer();
    const std::string state = dir_.Sub(name);
    CommandResult init =
        RunCommand({BinaryPath("ota-agent"), "--state-dir", state, "--server", url_, "init",
                    "--root", dir_.Sub("repo/metadata/root.json"), "--model", "chat",
                    "--enrollment-token-file", EnrollmentTokenFile()});
    EXPECT_EQ(init.exit_code, 0) << init.err;
    return state;
  }

  // Publishes 1.0.0 (seed 1), starts the server, enrolls the device and
  // installs it; null (and a test failure) if any step fails.
  std::unique_ptr<Agent> InstallFirstVersion() {
    Publish("1.0.0", 1);
    StartServer();
    Enroll();
    auto a = OpenAgent();
    if (a == nullptr) return nullptr;
    const UpdateOutcome first = UpdateOnce(*a);
    EXPECT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
        << (first.error ? first.error->ToString() : "");
    return first.kind == UpdateOutcome::Kind::kUpdated ? std::move(a) : nullptr;
  }

  // Publishes chat 1.1.0 whose model file is signed and intact but not a
  // model the runtime can load; `build_extra` goes to `otactl bundle build`.
  void PublishUnloadable(const std::vector<std::string>& build_extra) {
    ota::testing::WriteTestFile(dir_.Sub("broken.gguf"), std::string(4096, 'x'));
    std::vector<std::string> build = {"bundle",    "build",
                                      "--name",    "chat",
                                      "--version", "1.1.0",
                                      "--model",   dir_.Sub("broken.gguf"),
                                      "--prompts", dir_.Sub("prompts")};
    build.insert(build.end(), build_extra.begin(), build_extra.end());
    build.insert(build.end(), {"--out", dir_.Sub("broken.otab")});
    Otactl(build);
    Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", dir_.Sub("broken.otab"),
            "--targets-key", Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
            Key("timestamp")});
  }

  // `ota-agent status --json` of a state folder (null if it failed).
  nlohmann::json CliStatus(const std::string& state) {
    CommandResult status =
        RunCommand({BinaryPath("ota-agent"), "--state-dir", state, "status", "--json"});
    EXPECT_EQ(status.exit_code, 0) << status.err;
    auto j = nlohmann::json::parse(status.out, nullptr, false);
    return j.is_object() ? j : nlohmann::json();
  }
};

TEST_F(EndToEndTest, FirstInstallThenUpgradeKeepsPreviousVersion) {
  const std::string v1 = Publish("1.0.0", 1);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);

  UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
      << (first.error ? first.error->ToString() : "");
  EXPECT_EQ(first.to_version, "1.0.0");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v1));
  EXPECT_EQ(ReadTestFile(dir_.Sub("device/active/chat/prompts/chat.txt")),
            "Answer briefly: {{q}}\n");
  EXPECT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpToDate);

  const std::string v2 = Publish("1.1.0", 2);
  UpdateOutcome second = UpdateOnce(*a);
  ASSERT_EQ(second.kind, UpdateOutcome::Kind::kUpdated);
  EXPECT_EQ(second.from_version, "1.0.0");
  EXPECT_EQ(second.to_version, "1.1.0");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
  EXPECT_EQ(ActiveVersion(*a), "1.1.0");

  // Both versions stay on disk (instant rollback); no download leftovers.
  auto versions = fs_->ListDir(dir_.Sub("device/versions"));
  ASSERT_OK(versions);
  EXPECT_EQ(versions->size(), 2u);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());

  // Every transition reached the server, in order, ending in committed.
  auto events = ServerEvents(*a);
  std::vector<std::string> states;
  for (auto& e : events) {
    if (e.value("type", "") == "state" && e.value("version", "") == "1.1.0") {
      states.push_back(e.value("state", ""));
    }
  }
  const std::vector<std::string> expected = {"downloading", "verifying", "capability-check",
                                             "shadowing",   "switching", "confirming",
                                             "committed"};
  EXPECT_EQ(states, expected);
}

TEST_F(EndToEndTest, InterruptedDownloadResumesWithoutRefetching) {
  Publish("1.0.0", 1);
  auto size = fs_->FileSize(TargetFile("1.0.0"));
  ASSERT_OK(size);
  const std::uint64_t cut = *size / 3;
  StartServer({"--fault-drop-after", std::to_string(cut), "--fault-drop-count", "1"});
  Enroll();
  {
    // One attempt per run: the dropped connection ends this run.
    auto a = OpenAgent(/*attempts=*/1);
    ASSERT_NE(a, nullptr);
    UpdateOutcome o = UpdateOnce(*a);
    EXPECT_EQ(o.kind, UpdateOutcome::Kind::kDeferred);
    ASSERT_TRUE(o.error.has_value());
    EXPECT_EQ(o.error->code, ErrorCode::kRetryLater);
  }
  auto a = OpenAgent(/*attempts=*/1);
  ASSERT_NE(a, nullptr);
  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(o.bytes_resumed, cut);
  EXPECT_EQ(o.bytes_fetched, *size - cut);
}

TEST_F(EndToEndTest, TamperedBundleIsRejectedAndActiveVersionUntouched) {
  const std::string v1 = Publish("1.0.0", 1);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);

  Publish("1.1.0", 2);
  std::string bytes = ReadTestFile(TargetFile("1.1.0"));
  bytes[bytes.size() / 2] ^= 0x01;
  ota::testing::WriteTestFile(TargetFile("1.1.0"), bytes);

  // Clean, complete downloads that fail their hash are retried on later
  // cycles (a mirror may have been wrong); the third refuses the artifact
  // (docs/architecture.md "Downloads").
  for (int cycle = 1; cycle <= 3; ++cycle) {
    UpdateOutcome o = UpdateOnce(*a);
    ASSERT_TRUE(o.error.has_value()) << cycle;
    if (cycle < 3) {
      EXPECT_EQ(o.kind, UpdateOutcome::Kind::kDeferred) << cycle;
      EXPECT_EQ(o.error->code, ErrorCode::kRetryLater) << cycle;
    } else {
      EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
      EXPECT_EQ(o.error->code, ErrorCode::kIntegrity);
    }
    EXPECT_EQ(ActiveVersion(*a), "1.0.0");
    EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v1));
    EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 1u);
    EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty()) << cycle;
  }
  // The refused artifact is not fetched again on the next cycle.
  UpdateOutcome again = UpdateOnce(*a);
  EXPECT_EQ(again.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(again.bytes_fetched, 0u);
}

TEST_F(EndToEndTest, EncryptedBundleInstallsOnlyForItsRecipient) {
  StartServer();
  Enroll();
  const std::string device_pub = dir_.Sub("device/" + std::string(agent::kDevicePublicKeyFile));
  struct stat st;
  ASSERT_EQ(::stat(dir_.Sub("device/" + std::string(agent::kDeviceKeyFile)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string device_key_id =
      nlohmann::json::parse(ReadTestFile(device_pub))["keyid"].get<std::string>();
  const std::string v1 = Publish("1.0.0", 1, {device_pub});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
      << (first.error ? first.error->ToString() : "");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v1));

  // A bundle sealed only to another key is refused, precisely.
  Otactl({"keygen", "--recipient", "--out", dir_.Sub("keys/other.key")});
  Publish("1.1.0", 2, {dir_.Sub("keys/other.key.pub")});
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kSecurity) << o.error->ToString();
  EXPECT_NE(
      o.error->message.find("not a recipient of this bundle (recipient key id " + device_key_id),
      std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v1));
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 1u);
  // The unusable download is not kept.
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
}

TEST_F(EndToEndTest, AgentInitInstallsAFleetRecipientKey) {
  StartServer();
  Otactl({"keygen", "--recipient", "--out", dir_.Sub("keys/fleet.key")});
  const std::string state = dir_.Sub("fleet-device");
  CommandResult init = RunCommand({BinaryPath("ota-agent"), "--state-dir", state, "--server", url_,
                                   "init", "--root", dir_.Sub("repo/metadata/root.json"), "--model",
                                   "chat", "--recipient-key", dir_.Sub("keys/fleet.key")});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find(state + "/device.pub"), std::string::npos) << init.out;
  auto installed = nlohmann::json::parse(ReadTestFile(state + "/device.key"));
  auto fleet = nlohmann::json::parse(ReadTestFile(dir_.Sub("keys/fleet.key")));
  EXPECT_EQ(installed["keyval"], fleet["keyval"]);
  struct stat st;
  ASSERT_EQ(::stat((state + "/device.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(EndToEndTest, ExpiredMetadataIsRejected) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  Publish("1.1.0", 2);
  // The timestamp role expires after one day by default.
  clock_.Advance(std::chrono::hours(25));
  auto outcomes = a->Update(nullptr);
  ASSERT_FALSE(outcomes.ok());
  EXPECT_EQ(outcomes.error().code, ErrorCode::kSecurity);
  EXPECT_NE(outcomes.error().message.find("expired"), std::string::npos)
      << outcomes.error().message;
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
}

TEST_F(EndToEndTest, MetadataWithLowerVersionIsRejected) {
  Publish("1.0.0", 1);
  const std::string old_timestamp = ReadTestFile(dir_.Sub("repo/metadata/timestamp.json"));
  StartServer();
  Enroll();
  Publish("1.1.0", 2);
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).to_version, "1.1.0");
  // A mirror (or attacker) serves the older, validly signed timestamp.
  ota::testing::WriteTestFile(dir_.Sub("repo/metadata/timestamp.json"), old_timestamp);
  auto outcomes = a->Update(nullptr);
  ASSERT_FALSE(outcomes.ok());
  EXPECT_EQ(outcomes.error().code, ErrorCode::kSecurity);
  // Refused as a rollback of the timestamp itself, not for any other reason.
  EXPECT_NE(outcomes.error().message.find("timestamp version 2 is lower than trusted version 3"),
            std::string::npos)
      << outcomes.error().message;
  EXPECT_EQ(ActiveVersion(*a), "1.1.0");
}

// Root moves to 3-of-5 keys and then drops its first key, each version
// staged with otactl and signed one key at a time (`otactl sign`, as on
// separate offline machines), committed with `otactl repo commit`; the agent
// follows the chain and keeps installing. A root version that skips the
// commit check is refused by the agent.
TEST_F(EndToEndTest, RootRotationToThreeOfFiveSignedOfflineReachesTheAgent) {
  const std::string repo = dir_.Sub("repo");
  auto keyid_of = [&](const std::string& key_file) {
    const std::string out = Otactl({"keygen", "--out", key_file}).out;
    const std::size_t at = out.find("keyid ");
    EXPECT_NE(at, std::string::npos) << out;
    return at == std::string::npos ? std::string() : out.substr(at + 6, 64);
  };
  auto sign = [&](const std::string& key_file, int expected_exit = 0) {
    return Otactl({"sign", "--repo", repo, "--role", "root", "--key", key_file}, expected_exit);
  };
  auto commit = [&](int expected_exit = 0) {
    return Otactl({"repo", "commit", "--repo", repo, "--role", "root"}, expected_exit);
  };
  auto device_root = [&] { return ReadTestFile(dir_.Sub("device/metadata/root.json")); };

  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);

  // Version 2: root keys r0 (the original) and r1..r4, threshold 3.
  std::vector<std::string> r = {Key("root")};
  for (int i = 1; i <= 4; ++i) {
    r.push_back(Key("root" + std::to_string(i)));
    keyid_of(r.back());
    Otactl({"repo", "add-key", "--repo", repo, "--role", "root", "--pubkey", r.back() + ".pub"});
  }
  Otactl({"repo", "set-threshold", "--repo", repo, "--role", "root", "3"});
  sign(r[0]);
  CommandResult again = sign(r[0], 1);
  EXPECT_NE(again.err.find("already signed the staged root.json"), std::string::npos) << again.err;
  CommandResult outsider = sign(Key("targets"), 1);
  EXPECT_NE(outsider.err.find("is a root key of neither the current nor the staged root"),
            std::string::npos)
      << outsider.err;
  CommandResult early = commit(1);
  EXPECT_NE(early.err.find("staged root has 1 of 3 required signatures by the new root keys"),
            std::string::npos)
      << early.err;
  sign(r[3]);
  sign(r[1]);
  commit();
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("repo/metadata/staged/root.json")));

  Publish("1.1.0", 2);
  UpdateOutcome second = UpdateOnce(*a);
  ASSERT_EQ(second.kind, UpdateOutcome::Kind::kUpdated)
      << (second.error ? second.error->ToString() : "");
  EXPECT_EQ(second.to_version, "1.1.0");
  EXPECT_EQ(device_root(), ReadTestFile(dir_.Sub("repo/metadata/2.root.json")));

  // Version 3 drops r0: three of the five trusted keys and three of the four
  // new ones sign it; r0 alone no longer could.
  const std::string r0_id =
      nlohmann::json::parse(ReadTestFile(Key("root")))["keyid"].get<std::string>();
  Otactl({"repo", "revoke-key", "--repo", repo, "--role", "root", "--keyid", r0_id});
  sign(r[2]);
  sign(r[4]);
  sign(r[1]);
  commit();
  Publish("1.2.0", 3);
  UpdateOutcome third = UpdateOnce(*a);
  ASSERT_EQ(third.kind, UpdateOutcome::Kind::kUpdated)
      << (third.error ? third.error->ToString() : "");
  EXPECT_EQ(third.to_version, "1.2.0");
  EXPECT_EQ(device_root(), ReadTestFile(dir_.Sub("repo/metadata/3.root.json")));

  // Version 4 with two signatures: commit refuses it, and a copy placed
  // straight into the served folder is refused by the agent.
  Otactl({"repo", "set-threshold", "--repo", repo, "--role", "root", "2"});
  sign(r[1]);
  sign(r[2]);
  CommandResult short_of_keys = commit(1);
  EXPECT_NE(short_of_keys.err.find("staged root has 2 of 3 required signatures by the current "
                                   "root keys"),
            std::string::npos)
      << short_of_keys.err;
  ota::testing::WriteTestFile(dir_.Sub("repo/metadata/4.root.json"),
                              ReadTestFile(dir_.Sub("repo/metadata/staged/root.json")));
  auto refused = a->Update(nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kSecurity);
  EXPECT_NE(refused.error().message.find("4.root.json is not signed by trusted root version 3"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(ActiveVersion(*a), "1.2.0");
  EXPECT_EQ(device_root(), ReadTestFile(dir_.Sub("repo/metadata/3.root.json")));
}

TEST_F(EndToEndTest, AgentCommandLine) {
  const std::string state = StartWithCliDevice("cli-device");
  const std::string agent_bin = BinaryPath("ota-agent");
  CommandResult update = RunCommand({agent_bin, "--state-dir", state, "update"});
  ASSERT_EQ(update.exit_code, 0) << update.err;
  EXPECT_NE(update.out.find("chat: updated (none) -> 1.0.0"), std::string::npos) << update.out;
  // Not a terminal: progress comes as plain lines.
  EXPECT_NE(update.err.find("download chat: 100%"), std::string::npos) << update.err;

  const nlohmann::json j = CliStatus(state);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["models"][0]["active"]["version"], "1.0.0");
  EXPECT_EQ(j["pending_reports"], 0);

  CommandResult bad = RunCommand({agent_bin, "--state-dir", dir_.Sub("nowhere"), "status"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not an enrolled state folder"), std::string::npos) << bad.err;
  CommandResult usage = RunCommand({agent_bin, "--state-dir", state, "frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(EndToEndTest, EnrollmentCutShortStartsOver) {
  // A crash after the trusted root was written but before agent.db existed.
  ota::testing::WriteTestFile(dir_.Sub("device/metadata/root.json"), "{\"half\": ");
  auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
  ASSERT_OK(root);
  agent::EnrollOptions o;
  o.state_dir = dir_.Sub("device");
  o.server_url = "http://127.0.0.1:9";
  o.trusted_root_json = *root;
  o.models = {"chat"};
  ASSERT_OK(Agent::Enroll(env_, o));
  EXPECT_EQ(ReadTestFile(dir_.Sub("device/metadata/root.json")), *root);
  // Once enrolled, a second enrolment is refused.
  EXPECT_FALSE(Agent::Enroll(env_, o).ok());
}

TEST_F(EndToEndTest, DaemonRunsACycleAndStopsCleanlyOnSigterm) {
  const std::string state = StartWithCliDevice("daemon-device");
  const std::string agent_bin = BinaryPath("ota-agent");
  ChildProcess daemon;
  // The first cycle runs at once; its outcome is the first stdout line. The
  // next one is an hour away, so the daemon is waiting when SIGTERM arrives.
  const std::string first =
      daemon.Start({agent_bin, "--state-dir", state, "daemon", "--interval", "3600"});
  EXPECT_TRUE(first.starts_with("chat: updated (none) -> 1.0.0, fetched ")) << first;
  EXPECT_EQ(daemon.Stop(), 0);
  const nlohmann::json j = CliStatus(state);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["models"][0]["active"]["version"], "1.0.0");
}

// The agent processes ota-agentd is running right now (its children).
std::string ChildrenOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::string pids;
  std::getline(in, pids);
  return pids;
}

// ota-agentd runs a check (a real ota-agent process) at start and on
// SIGUSR1; between checks no agent process is left, only the supervisor.
TEST_F(EndToEndTest, ResidentSupervisorRunsAgentChecksOnlyWhileThereIsWork) {
  const std::string state = StartWithCliDevice("supervised-device");
  const std::string agent_bin = BinaryPath("ota-agent");
  ChildProcess supervisor;
  const std::string ready = supervisor.Start({BinaryPath("ota-agentd"), "--interval", "3600", "--",
                                              "--state-dir", state, "--confirm-window", "0"});
  // The ota-agent next to ota-agentd is the default.
  EXPECT_TRUE(ready.starts_with("ota-agentd: checking every 3600 s with /")) << ready;
  EXPECT_TRUE(ready.ends_with("/ota-agent")) << ready;
  std::string line = supervisor.ReadLine();
  EXPECT_TRUE(line.starts_with("chat: updated (none) -> 1.0.0, fetched ")) << line;
  line = supervisor.ReadLine();
  EXPECT_TRUE(line.starts_with("ota-agentd: check 1 done; next in ")) << line;
  EXPECT_EQ(ChildrenOf(supervisor.pid()), "");

  Publish("1.1.0", 2);
  ASSERT_EQ(::kill(supervisor.pid(), SIGUSR1), 0);
  line = supervisor.ReadLine();
  EXPECT_TRUE(line.starts_with("chat: updated 1.0.0 -> 1.1.0, fetched ")) << line;
  line = supervisor.ReadLine();
  EXPECT_TRUE(line.starts_with("ota-agentd: check 2 done; next in ")) << line;
  EXPECT_EQ(supervisor.Stop(), 0);

  const nlohmann::json j = CliStatus(state);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["models"][0]["active"]["version"], "1.1.0");
}

// A check stays while a confirmation window is open (one agent start per
// window, so the restart counter only sees real crashes); SIGTERM to the
// supervisor reaches the check, and both end.
TEST_F(EndToEndTest, ResidentSupervisorKeepsAConfirmingCheckAndStopsItOnSigterm) {
  const std::string state = StartWithCliDevice("supervised-device");
  const std::string agent_bin = BinaryPath("ota-agent");
  CommandResult first = RunCommand({agent_bin, "--state-dir", state, "update"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  Publish("1.1.0", 2);
  ChildProcess supervisor;
  supervisor.Start({BinaryPath("ota-agentd"), "--agent", agent_bin, "--", "--state-dir", state,
                    "--confirm-window", "3600"});
  const std::string line = supervisor.ReadLine();
  EXPECT_TRUE(line.starts_with("chat: confirming 1.1.0")) << line;
  const std::string check = ChildrenOf(supervisor.pid());
  ASSERT_FALSE(check.empty());
  const int check_pid = std::atoi(check.c_str());
  EXPECT_EQ(supervisor.Stop(), 0);
  // The supervisor waited for its check: the process is gone and reaped.
  EXPECT_EQ(::kill(check_pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// Arguments ota-agent refuses end the supervisor with its usage exit code
// instead of a retry loop; its own bad arguments too.
TEST_F(EndToEndTest, ResidentSupervisorRejectsBadArguments) {
  CommandResult refused = RunCommand(
      {BinaryPath("ota-agentd"), "--", "--state-dir", dir_.Sub("x"), "--no-such-option"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.out.find("ota-agent refused its arguments (exit 2); not retrying"),
            std::string::npos)
      << refused.out;
  EXPECT_EQ(RunCommand({BinaryPath("ota-agentd"), "--interval", "0"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BinaryPath("ota-agentd"), "--state-dir", "x"}).exit_code, 2);
  CommandResult missing = RunCommand({BinaryPath("ota-agentd"), "--agent", dir_.Sub("nothing")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot run "), std::string::npos) << missing.err;
}

// Session leases through real updates: `defer` keeps the old version while a
// session holds it; `switch-new-first` switches and keeps the leased folder;
// garbage collection skips leased versions.
TEST_F(EndToEndTest, ActivationDrainsSessionLeases) {
  const std::string v1 = Publish("1.0.0", 1);
  StartServer();
  Enroll();
  auto open_agent = [&](agent::DrainPolicy policy) {
    agent::AgentOptions options;
    options.state_dir = dir_.Sub("device");
    options.space_margin_bytes = 0;
    options.drain.policy = policy;
    options.drain.deadline = std::chrono::milliseconds(100);
    options.confirm_window = confirm_window_;
    auto a = Agent::Open(env_, options);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? std::move(*a) : nullptr;
  };
  auto a = open_agent(agent::DrainPolicy::kDefer);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);

  agent::LeaseOptions lease_options;
  lease_options.state_dir = dir_.Sub("device");
  auto leases = agent::LeaseManager::Open(lease_options);
  ASSERT_OK(leases);
  auto session = (*leases)->Acquire("chat");
  ASSERT_OK(session);
  EXPECT_EQ(session->version(), "1.0.0");

  // The shadow test would yield to the app's session (it pauses while the
  // model is leased); this test is about the switch's drain, so the bundle
  // skips it, which the device records.
  build_extra_ = {"--shadow-skip", "drain test: the switch is measured, not the candidate"};
  Publish("1.1.0", 2);
  clock_.Advance(std::chrono::seconds(5));  // Installed later than 1.0.0.
  UpdateOutcome deferred = UpdateOnce(*a);
  ASSERT_EQ(deferred.kind, UpdateOutcome::Kind::kDeferred);
  ASSERT_TRUE(deferred.error.has_value());
  EXPECT_NE(deferred.error->message.find("activation deferred"), std::string::npos)
      << deferred.error->message;
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 2u);  // 1.1.0 stays staged.

  a.reset();
  a = open_agent(agent::DrainPolicy::kSwitchNewFirst);
  ASSERT_NE(a, nullptr);
  UpdateOutcome switched = UpdateOnce(*a);
  ASSERT_EQ(switched.kind, UpdateOutcome::Kind::kUpdated)
      << (switched.error ? switched.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.1.0");
  EXPECT_EQ(ReadTestFile(session->model_path()), ReadTestFile(v1));

  // 1.0.0 is now beyond the retention count, but leased: it stays.
  Publish("1.2.0", 3);
  clock_.Advance(std::chrono::seconds(5));  // Installed later than 1.1.0.
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  EXPECT_EQ(ActiveVersion(*a), "1.2.0");
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 3u);
  EXPECT_EQ(ReadTestFile(session->model_path()), ReadTestFile(v1));
  EXPECT_TRUE(*agent::IsHeld(DefaultPlatform(), dir_.Sub("device"), session->version_id()));
  session->Release();
  EXPECT_FALSE(*agent::IsHeld(DefaultPlatform(), dir_.Sub("device"), session->version_id()));
}

TEST_F(EndToEndTest, DrainFlagsAreValidated) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--drain-model", "chat=later"},
                                             {"--drain-model", "chat=defer:-1"},
                                             {"--drain-model", "../x=defer"},
                                             {"--drain-policy", "never"},
                                             {"--lease-acquire-bound-ms", "99999"},
                                             {"--confirm-window", "-1"},
                                             {"--confirm-max-failures", "0"},
                                             {"--confirm-sessions", "many"}}) {
    std::vector<std::string> argv = {BinaryPath("ota-agent"), "--state-dir", dir_.Sub("device")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("status");
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 2) << flags[0] << " " << flags[1] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

TEST_F(EndToEndTest, PicksTheBestVariantTheDeviceCanRun) {
  // Q4 fits anywhere; Q8 needs 6 GiB of RAM and is preferred where it fits.
  Publish("1.0.0", 1, {}, {"--variant", "q4"});
  Publish("1.0.0", 2, {},
          {"--variant", "q8", "--rank", "10", "--requires", R"({"min_ram": 6442450944})"});
  StartServer();
  Enroll();
  ota::testing::WriteTestFile(dir_.Sub("device/device-facts.json"), R"({"total_ram": 4294967296})");
  {
    auto a = OpenAgent();
    ASSERT_NE(a, nullptr);
    auto checked = a->Check();
    ASSERT_OK(checked);
    ASSERT_EQ(checked->size(), 1u);
    EXPECT_EQ((*checked)[0].available_variant, "q4");
    UpdateOutcome o = UpdateOnce(*a);
    ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
    auto sha = ota::HashFileHex(dir_.Sub("repo/targets/bundles/chat/1.0.0-q4.otab"),
                                ota::HashAlgorithm::kSha256);
    ASSERT_OK(sha);
    auto status = a->GetStatus();
    ASSERT_OK(status);
    EXPECT_EQ(status->active[0].active->id, *sha);
  }
  // The same device with more RAM moves to the preferred variant.
  ota::testing::WriteTestFile(dir_.Sub("device/device-facts.json"), R"({"total_ram": 8589934592})");
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  auto sha = ota::HashFileHex(dir_.Sub("repo/targets/bundles/chat/1.0.0-q8.otab"),
                              ota::HashAlgorithm::kSha256);
  ASSERT_OK(sha);
  auto status = a->GetStatus();
  ASSERT_OK(status);
  EXPECT_EQ(status->active[0].active->id, *sha);
}

TEST_F(EndToEndTest, NoFittingVariantIsReportedAndNothingIsDownloaded) {
  Publish(
      "1.0.0", 1, {},
      {"--variant", "q8", "--requires", R"({"min_ram": 68719476736, "cpu_features": ["avx2"]})"});
  StartServer();
  Enroll();
  ota::testing::WriteTestFile(dir_.Sub("device/device-facts.json"),
                              R"({"total_ram": 4294967296, "cpu_features": ["avx2"]})");
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  auto checked = a->Check();
  ASSERT_OK(checked);
  EXPECT_EQ((*checked)[0].incompatible_reason,
            "no variant fits: variant \"q8\": needs 64.0 GiB of RAM, the device has 4.0 GiB");
  EXPECT_FALSE((*checked)[0].update_available);
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kIncompatible);
  EXPECT_EQ(o.bytes_fetched, 0u);
  auto parts = fs_->ListDir(dir_.Sub("device/downloads"));
  ASSERT_OK(parts);
  EXPECT_TRUE(parts->empty());
  auto status = a->GetStatus();
  ASSERT_OK(status);
  EXPECT_FALSE(status->active[0].active.has_value());
  EXPECT_TRUE(status->recent_deployments.empty());
}

TEST_F(EndToEndTest, MalformedDeviceFactsStopTheCycleWithAClearError) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  ota::testing::WriteTestFile(dir_.Sub("device/device-facts.json"), R"({"total_ram": "lots"})");
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  auto checked = a->Check();
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().message,
            "device-facts.json: total_ram must be a non-negative integer (bytes)");
}

TEST_F(EndToEndTest, RollbackByHandUsesTheKeptVersionAndSticks) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  const std::string v1_bytes = ActiveModelBytes();
  Publish("1.1.0", 2);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  ASSERT_NE(ActiveModelBytes(), v1_bytes);

  auto r = a->RollBack("chat");
  ASSERT_OK(r);
  EXPECT_EQ(r->from.version, "1.1.0");
  EXPECT_EQ(r->to.version, "1.0.0");
  EXPECT_EQ(ActiveModelBytes(), v1_bytes);
  auto audit = a->Audit();
  ASSERT_OK(audit);
  EXPECT_TRUE(audit->intact) << audit->problem;
  ASSERT_FALSE(audit->entries.empty());
  EXPECT_NE(audit->entries.back().body.find("\"rolled-back\""), std::string::npos);
  // The version left behind is not reinstalled, and is no rollback target.
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(o.to_version, "1.0.0");
  EXPECT_EQ(o.bytes_fetched, 0u);
  auto again = a->RollBack("chat");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound) << again.error().ToString();
  EXPECT_FALSE(a->RollBack("other").ok());
  // A newer signed version is installed as usual.
  Publish("1.2.0", 3);
  o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(o.to_version, "1.2.0");
}

TEST_F(EndToEndTest, RetentionKeepsTheConfiguredNumberOfVersions) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  agent::AgentOptions options;
  options.state_dir = dir_.Sub("device");
  options.space_margin_bytes = 0;
  options.keep_versions = 3;
  options.confirm_window = confirm_window_;
  auto a = Agent::Open(env_, options);
  ASSERT_OK(a);
  for (int i = 1; i <= 4; ++i) {
    if (i > 1) Publish("1." + std::to_string(i - 1) + ".0", i);
    ASSERT_EQ(UpdateOnce(**a).kind, UpdateOutcome::Kind::kUpdated);
  }
  auto kept = fs_->ListDir(dir_.Sub("device/versions"));
  ASSERT_OK(kept);
  EXPECT_EQ(kept->size(), 3u);
  // The removal is in the audit log, with what went and why.
  auto audit = (*a)->Audit();
  ASSERT_OK(audit);
  std::vector<nlohmann::json> removed;
  for (const auto& e : audit->entries) {
    auto j = nlohmann::json::parse(e.body, nullptr, false);
    if (j.is_object() && j.value("type", "") == "version-removed") removed.push_back(j);
  }
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0]["version"], "1.0.0");
  EXPECT_EQ(removed[0]["model"], "chat");
  EXPECT_EQ(removed[0]["reason"], "retention: keep_versions 3");
  options.keep_versions = 0;
  a->reset();
  auto refused = Agent::Open(env_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "keep_versions must be from 1 to 100 (got 0)");
}

// The audited events of an agent, as their "type" fields in order.
std::vector<std::string> EventTypes(Agent& a) {
  std::vector<std::string> types;
  auto audit = a.Audit();
  EXPECT_TRUE(audit.ok());
  if (!audit.ok()) return types;
  for (const auto& e : audit->entries) {
    auto j = nlohmann::json::parse(e.body, nullptr, false);
    if (j.is_object() && j.contains("type") && j["type"].is_string()) types.push_back(j["type"]);
  }
  return types;
}

nlohmann::json LastEventOf(Agent& a, const std::string& type) {
  auto audit = a.Audit();
  EXPECT_TRUE(audit.ok());
  if (!audit.ok()) return nullptr;
  for (auto it = audit->entries.rbegin(); it != audit->entries.rend(); ++it) {
    auto j = nlohmann::json::parse(it->body, nullptr, false);
    if (j.is_object() && j.value("type", "") == type) return j;
  }
  return nullptr;
}

TEST_F(EndToEndTest, AnUpdateWithoutAShadowSectionIsShadowTestedUnderTheBehaviourGate) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  Publish("1.1.0", 1);  // The same weights in a new version; bundle.json says nothing.
  clock_.Advance(std::chrono::seconds(5));
  const UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  const nlohmann::json result = LastEventOf(*a, "shadow-result");
  ASSERT_TRUE(result.is_object()) << ::testing::PrintToString(EventTypes(*a));
  EXPECT_EQ(result["verdict"], "pass") << result.dump();
  EXPECT_EQ(result["report"]["gate"], "behaviour");
  EXPECT_EQ(result["report"]["contract_changes"], nlohmann::json::array());
  const auto types = EventTypes(*a);
  EXPECT_EQ(std::count(types.begin(), types.end(), "shadow-skipped"), 0);
}

// A chat template that renders conversations differently: the device's
// default test (built-in eval set) cannot vouch for it and refuses the
// version; the same change with the app's own eval set, whose checks on a
// chat prompt pass on the new rendering, goes through with the change named
// and vouched for in the report.
TEST_F(EndToEndTest, AnAppEvalSetVouchesForAChangedChatTemplate) {
  const std::string chatml = dir_.Sub("chatml.jinja");
  ota::testing::WriteTestFile(
      chatml,
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
      "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|im_start|>assistant\n' }}{% endif %}");
  const std::string inst = dir_.Sub("inst.jinja");
  ota::testing::WriteTestFile(
      inst, "{% for message in messages %}[INST] {{ message['content'] }} [/INST]{% endfor %}");
  const std::string eval = dir_.Sub("app-eval.json");
  ota::testing::WriteTestFile(eval, R"({
    "schema": "modelota.eval/1",
    "max_new_tokens": 8,
    "checks": [{"kind": "max-length", "bytes": 1000}],
    "prompts": [
      {"id": "story", "text": "Once upon a time"},
      {"id": "chat", "messages": [{"role": "user", "content": "Say hello."}]}
    ]})");
  const std::string policy = R"({"gate": "behaviour", "context_length": 256})";
  synth_shape_ = {"--layers", "2", "--width", "64", "--chat-template", chatml};
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);

  synth_shape_ = {"--layers", "2", "--width", "64", "--chat-template", inst};
  build_extra_ = {"--shadow-policy", policy};  // The built-in eval set.
  Publish("1.1.0", 1);
  clock_.Advance(std::chrono::seconds(5));
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  nlohmann::json result = LastEventOf(*a, "shadow-result");
  ASSERT_TRUE(result.is_object());
  EXPECT_EQ(result["verdict"], "fail") << result.dump();
  auto template_change = [](const nlohmann::json& r) {
    for (const auto& c : r["report"]["contract_changes"]) {
      if (c["name"] == "chat_template") return c;
    }
    return nlohmann::json();
  };
  ASSERT_TRUE(template_change(result).is_object()) << result.dump();
  EXPECT_EQ(template_change(result)["vouched"], false);

  build_extra_ = {"--shadow-policy", policy, "--eval", eval};
  Publish("1.2.0", 1);
  clock_.Advance(std::chrono::seconds(5));
  o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.2.0");
  result = LastEventOf(*a, "shadow-result");
  EXPECT_EQ(result["verdict"], "pass") << result.dump();
  EXPECT_EQ(result["report"]["gate"], "behaviour");
  ASSERT_TRUE(template_change(result).is_object()) << result.dump();
  EXPECT_EQ(template_change(result)["vouched"], true) << result.dump();
  EXPECT_EQ(template_change(result)["category"], "chat_template");
}

TEST_F(EndToEndTest, ASkippedShadowTestIsAnAuditedEventWithItsReason) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  build_extra_ = {"--shadow-skip", "hotfix 1.1.0: approved by the release board"};
  Publish("1.1.0", 2);
  clock_.Advance(std::chrono::seconds(5));
  const UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  const auto types = EventTypes(*a);
  EXPECT_EQ(std::count(types.begin(), types.end(), "shadow-result"), 0)
      << ::testing::PrintToString(types);
  const nlohmann::json skipped = LastEventOf(*a, "shadow-skipped");
  ASSERT_TRUE(skipped.is_object()) << ::testing::PrintToString(types);
  EXPECT_EQ(skipped["reason"], "hotfix 1.1.0: approved by the release board");
  EXPECT_EQ(skipped["decided_by"], "bundle.json shadow.skip");
  EXPECT_EQ(skipped["current_version"], "1.0.0");
  auto audit = a->Audit();
  ASSERT_OK(audit);
  EXPECT_TRUE(audit->intact);
}

TEST_F(EndToEndTest, ADefaultShadowTestSkipsACurrentVersionThatNoLongerLoads) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  // The running version's file is damaged on disk: the update that may fix
  // it must not wait on a comparison with it.
  ota::testing::WriteTestFile(dir_.Sub("device/active/chat/model.gguf"), std::string(4096, 'x'));
  Publish("1.1.0", 1);
  clock_.Advance(std::chrono::seconds(5));
  const UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.1.0");
  const nlohmann::json skipped = LastEventOf(*a, "shadow-skipped");
  ASSERT_TRUE(skipped.is_object()) << ::testing::PrintToString(EventTypes(*a));
  EXPECT_EQ(skipped["decided_by"], "agent");
  EXPECT_NE(skipped["reason"].get<std::string>().find("the current version did not load"),
            std::string::npos)
      << skipped.dump();
  const auto types = EventTypes(*a);
  EXPECT_EQ(std::count(types.begin(), types.end(), "shadow-result"), 0);
}

TEST_F(EndToEndTest, AVersionThatDoesNotLoadIsRejectedByTheDefaultShadowTestBeforeTheSwitch) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  const std::string v1_bytes = ActiveModelBytes();
  PublishUnloadable({});  // The bundle says nothing about shadow tests.
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kIncompatible);
  EXPECT_NE(o.error->message.find("shadow test inconclusive against 1.0.0: candidate model"),
            std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveModelBytes(), v1_bytes);
  auto status = a->GetStatus();
  ASSERT_OK(status);
  ASSERT_FALSE(status->recent_deployments.empty());
  EXPECT_EQ(status->recent_deployments[0].state, "failed");
  // Never switched to, so nothing was rolled back.
  const auto types = EventTypes(*a);
  EXPECT_EQ(std::count(types.begin(), types.end(), "rolled-back"), 0);
  EXPECT_EQ(std::count(types.begin(), types.end(), "shadow-result"), 1);
  o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(o.bytes_fetched, 0u);
}

TEST_F(EndToEndTest, AVersionThatDoesNotLoadIsRolledBackAndNotRetried) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  const std::string v1_bytes = ActiveModelBytes();
  // The bundle skips the shadow test, so the load check after the switch
  // catches it.
  PublishUnloadable({"--shadow-skip", "exercises the load check after the switch"});
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kIncompatible);
  EXPECT_NE(o.error->message.find("version 1.1.0 does not load in llama.cpp"), std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveModelBytes(), v1_bytes);
  auto status = a->GetStatus();
  ASSERT_OK(status);
  ASSERT_FALSE(status->recent_deployments.empty());
  EXPECT_EQ(status->recent_deployments[0].state, "failed");
  // The same signed bytes are not tried again.
  o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(o.bytes_fetched, 0u);
  EXPECT_EQ(ActiveModelBytes(), v1_bytes);
}

TEST_F(EndToEndTest, ShadowTestRejectsABrokenCandidateBeforeItServes) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  const std::string v1_bytes = ActiveModelBytes();
  // Builds and publishes `version` from seed 1 plus `synth_extra`, asking
  // devices for a shadow test (built-in eval set, equivalence gate).
  auto publish_shadowed = [&](const std::string& version, std::vector<std::string> synth_extra) {
    const std::string model = dir_.Sub("shadowed-" + version + ".gguf");
    const std::string bundle = dir_.Sub("shadowed-" + version + ".otab");
    std::vector<std::string> synth = {"model",   "synth", "--seed", "1",   "--layers", "2",
                                      "--width", "64",    "--type", "f16", "--out",    model};
    synth.insert(synth.end(), synth_extra.begin(), synth_extra.end());
    Otactl(synth);
    Otactl({"bundle", "build", "--name", "chat", "--version", version, "--model", model,
            "--prompts", dir_.Sub("prompts"), "--shadow", "--out", bundle});
    Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--targets-key",
            Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
            Key("timestamp")});
  };
  auto last_verdict = [&]() -> std::string {
    auto audit = a->Audit();
    if (!audit.ok()) return "(no audit)";
    EXPECT_TRUE(audit->intact) << audit->problem;
    for (auto it = audit->entries.rbegin(); it != audit->entries.rend(); ++it) {
      auto body = nlohmann::json::parse(it->body, nullptr, false);
      if (body.is_object() && body.value("type", "") == "shadow-result") {
        return body.value("verdict", "") + "/" + body.value("version", "");
      }
    }
    return "(none)";
  };

  publish_shadowed("1.1.0", {"--break", "zero-layer:0"});
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kIncompatible);
  EXPECT_NE(o.error->message.find("shadow test fail against 1.0.0"), std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveModelBytes(), v1_bytes);  // Never activated.
  EXPECT_EQ(last_verdict(), "fail/1.1.0");
  // The verdict is in agent.db, with the whole report.
  auto verdicts = a->ShadowResults("chat", 10);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 1u);
  const agent::ShadowVerdict& failed = verdicts->front();
  EXPECT_EQ(failed.verdict, "fail");
  EXPECT_EQ(failed.action, "reject");
  EXPECT_EQ(failed.gate, "equivalence");
  EXPECT_EQ(failed.candidate_version, "1.1.0");
  EXPECT_EQ(failed.current_version, "1.0.0");
  EXPECT_EQ(failed.attempt, 1);
  EXPECT_NE(failed.reason.find("mean_kl"), std::string::npos) << failed.reason;
  const auto failed_report = nlohmann::json::parse(failed.report_json, nullptr, false);
  ASSERT_TRUE(failed_report.is_object());
  EXPECT_EQ(failed_report["verdict"], "fail");
  EXPECT_TRUE(failed_report["metrics"]["mean_kl"].is_number());
  EXPECT_EQ(failed_report["policy"]["thresholds"]["max_mean_kl"], 0.002);

  publish_shadowed("1.2.0", {});  // The weights the device runs: equivalent.
  o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(o.to_version, "1.2.0");
  EXPECT_EQ(last_verdict(), "pass/1.2.0");
  verdicts = a->ShadowResults("", 10);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 2u);
  EXPECT_EQ(verdicts->front().verdict, "pass");  // Newest first.
  EXPECT_EQ(verdicts->front().action, "accept");
  EXPECT_EQ(verdicts->front().candidate_version, "1.2.0");
}

// Wraps the test clock; the first time the shadow run's thread (any thread
// but the test's) reads it, `hook` runs once.
class HookClock : public Clock {
 public:
  explicit HookClock(Clock& base) : base_(base), main_(std::this_thread::get_id()) {}
  std::chrono::system_clock::time_point Now() const override { return base_.Now(); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    if (std::this_thread::get_id() != main_ && hook_) {
      auto hook = std::move(hook_);
      hook_ = nullptr;
      hook();
    }
    return base_.Monotonic();
  }
  void SleepFor(std::chrono::milliseconds d) override { base_.SleepFor(d); }
  mutable std::function<void()> hook_;

 private:
  Clock& base_;
  std::thread::id main_;
};

TEST_F(EndToEndTest, AppLeaseStopsTheShadowRunWhichResumesNextCycle) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  HookClock hooked(clock_);
  env_.clock = &hooked;
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  PublishShadowed("1.1.0", R"({"calibrate": false})");

  // An app starts a session on the model as soon as the shadow run begins.
  agent::LeaseOptions lease_options;
  lease_options.state_dir = dir_.Sub("device");
  auto leases = agent::LeaseManager::Open(lease_options);
  ASSERT_OK(leases);
  std::optional<agent::Lease> session;
  hooked.hook_ = [&] {
    auto lease = (*leases)->Acquire("chat");
    ASSERT_TRUE(lease.ok()) << lease.error().ToString();
    session = std::move(*lease);
  };
  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_TRUE(session.has_value()) << "the shadow run never started";
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kDeferred);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_NE(o.error->message.find("stopped: the app needed the runtime"), std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  auto verdicts = a->ShadowResults("chat", 10);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 1u);
  EXPECT_EQ(verdicts->front().verdict, "inconclusive");
  EXPECT_EQ(verdicts->front().action, "pause");
  EXPECT_EQ(verdicts->front().reason, "stopped: the app needed the runtime");
  const auto stopped = nlohmann::json::parse(verdicts->front().report_json, nullptr, false);
  // Stopped before the candidate saw a single prompt.
  EXPECT_EQ(stopped["metrics"]["prompts_evaluated"], 0);

  // The session ends: the next cycle runs the test again (not counted as a
  // retry) and the candidate passes.
  session->Release();
  o = ResumeOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  verdicts = a->ShadowResults("chat", 10);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 2u);
  EXPECT_EQ(verdicts->front().verdict, "pass");
  EXPECT_EQ(verdicts->front().attempt, 1);
  env_.clock = &clock_;
}

TEST_F(EndToEndTest, Bf16ModelShipsSplitAndPassesItsShadowTest) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  // The same weights in BF16: its exponents and mantissas travel split
  // (flag bit 3), and llama.cpp runs the unpacked model in the shadow test.
  const std::string bundle =
      PublishShadowed("1.1.0", R"({"calibrate": false, "gate": "requantization"})", "bf16");
  const std::string bytes = ReadTestFile(bundle);
  ASSERT_GE(bytes.size(), 16u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[12]) & 0x8, 0x8);
  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(dir_.Sub("mirrored-1.1.0.gguf")));
  auto verdicts = a->ShadowResults("chat", 10);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 1u);
  EXPECT_EQ(verdicts->front().verdict, "pass");
}

TEST_F(EndToEndTest, MirroredRequestsReachTheVerdictAsAggregatesOnly) {
  auto a = InstallFirstVersion();
  ASSERT_NE(a, nullptr);
  PublishShadowed("1.1.0", R"({"calibrate": false, "mirror": {"sample_rate": 1, "cpu_budget": 1,
                               "min_samples": 3, "max_new_tokens": 4, "min_same_top1": 0.5}})");

  // No samples yet: the deployment waits in shadowing and announces the candidate.
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kDeferred);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_NE(o.error->message.find("waits for mirrored samples: 0 of 3"), std::string::npos)
      << o.error->message;
  const std::string announcement = dir_.Sub("device/mirror/chat.json");
  ASSERT_TRUE(*fs_->Exists(announcement));

  // The app mirrors three requests with the production model's answers.
  agent::MirrorClientOptions mo;
  mo.state_dir = dir_.Sub("device");
  mo.model = "chat";
  mo.poll_interval = std::chrono::milliseconds(0);
  auto client = agent::MirrorClient::Open(mo);
  ASSERT_OK(client);
  EXPECT_FALSE((*client)->Offer("before any candidate", "ignored"));
  ASSERT_OK((*client)->Poll());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE((*client)->Offer("PRIVATE-REQUEST-" + std::to_string(i) + " tell me a story",
                                 " once upon a time PRIVATE-ANSWER-" + std::to_string(i)));
  }
  ASSERT_OK((*client)->Flush());
  EXPECT_EQ((*client)->Counts().replayed, 3u);
  const std::string stats_path =
      dir_.Sub("device/mirror/chat." + std::to_string(::getpid()) + ".stats.json");
  const std::string stats = ReadTestFile(stats_path);
  EXPECT_EQ(stats.find("PRIVATE"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("story"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"replayed\":3"), std::string::npos) << stats;

  // The eval set alone passes (same weights), but the offered answers are
  // not what the candidate would say: the mirror gate rejects it.
  o = ResumeOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_NE(o.error->message.find("mirror_same_top1 0.0000 is not >= 0.5000"), std::string::npos)
      << o.error->message;
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  auto verdicts = a->ShadowResults("chat", 1);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 1u);
  const auto report = nlohmann::json::parse(verdicts->front().report_json, nullptr, false);
  EXPECT_EQ(verdicts->front().verdict, "fail") << verdicts->front().reason;
  EXPECT_TRUE(report["mirror"]["gated"].get<bool>());
  EXPECT_EQ(report["mirror"]["stats"]["replayed"], 3);
  EXPECT_TRUE(report["metrics"]["mean_kl"].is_number());
  EXPECT_LT(report["metrics"]["mean_kl"].get<double>(), 1e-9);  // Offline: identical.
  EXPECT_TRUE(report["mirror"]["stats"]["same_top1"].is_number());
  // Nothing the agent keeps or reports holds a mirrored text.
  EXPECT_EQ(verdicts->front().report_json.find("PRIVATE"), std::string::npos);
  auto audit = a->Audit();
  ASSERT_OK(audit);
  for (const auto& e : audit->entries) EXPECT_EQ(e.body.find("PRIVATE"), std::string::npos);

  // The verdict withdrew the announcement: the app unloads the candidate.
  EXPECT_FALSE(*fs_->Exists(announcement));
  ASSERT_OK((*client)->Poll());
  EXPECT_EQ((*client)->Counts().candidate_id, "");
  EXPECT_FALSE(*fs_->Exists(stats_path));
  EXPECT_FALSE((*client)->Offer("after", "the verdict"));

  // Operators read the verdicts with `ota-agent shadow-results`.
  a.reset();  // Releases the state folder's lock.
  const std::string agent_bin = BinaryPath("ota-agent");
  CommandResult listed = RunCommand({agent_bin, "--state-dir", dir_.Sub("device"), "shadow-results",
                                     "--model", "chat", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rows = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << listed.out;
  ASSERT_EQ(rows.size(), 1u);  // Waiting for samples records no verdict.
  EXPECT_EQ(rows[0]["verdict"], "fail");
  EXPECT_EQ(rows[0]["action"], "reject");
  EXPECT_EQ(rows[0]["candidate_version"], "1.1.0");
  EXPECT_EQ(rows[0]["report"]["mirror"]["stats"]["replayed"], 3);
  CommandResult text = RunCommand({agent_bin, "--state-dir", dir_.Sub("device"), "shadow-results"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("chat 1.1.0 vs 1.0.0  fail (reject, equivalence gate, attempt 1): "
                          "mirror_same_top1 0.0000 is not >= 0.5000"),
            std::string::npos)
      << text.out;
}

}  // namespace
}  // namespace ota
