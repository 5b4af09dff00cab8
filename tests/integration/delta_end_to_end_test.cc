// Delta updates end to end on loopback: otactl builds and publishes a delta
// next to the full bundle, ota-server serves both, the agent prefers the
// delta, falls back to the full bundle when the delta is broken, and resumes
// an interrupted delta without fetching a byte twice.
#include <nlohmann/json.hpp>

#include "gguf_synth.h"
#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
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

class DeltaEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    random_ = MakeSecureRandom();
    http_ = MakeCurlHttpClient();
    env_.clock = &clock_;
    env_.random = random_.get();
    env_.fs = fs_.get();
    env_.http = http_.get();
    for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
      Otactl({"keygen", "--out", Key(role)});
    }
    Otactl({"repo", "init", "--repo", dir_.Sub("repo"), "--root-key", Key("root"), "--targets-key",
            Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
            Key("timestamp")});
    ota::testing::WriteTestFile(dir_.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n");
  }

  std::string Key(const std::string& role) { return dir_.Sub("keys/" + role + ".key"); }

  CommandResult Otactl(std::vector<std::string> args, int expected_exit = 0) {
    args.insert(args.begin(), BinaryPath("otactl"));
    CommandResult r = RunCommand(args);
    EXPECT_EQ(r.exit_code, expected_exit) << args[1] << ": " << r.err << r.out;
    return r;
  }

  void Sign(std::vector<std::string> args) {
    for (const char* role : {"targets", "snapshot", "timestamp"}) {
      args.push_back(std::string("--") + role + "-key");
      args.push_back(Key(role));
    }
    Otactl(args);
  }

  // Builds version `version` of the model (the base model, or one with its
  // last layer fine-tuned) and publishes it. Returns the model file.
  std::string Publish(const std::string& version, bool fine_tuned) {
    const std::string model = Build(version, fine_tuned);
    Sign({"publish", "--repo", dir_.Sub("repo"), "--bundle", Bundle(version)});
    return model;
  }
  std::string Build(const std::string& version, bool fine_tuned) {
    const std::string model = dir_.Sub("model-" + version + ".gguf");
    ota::testing::SynthShape shape;
    shape.layers = 4;
    shape.n_embd = 128;
    shape.n_ff = 256;
    shape.n_vocab = 1024;
    ota::testing::SynthEdit edit;
    if (fine_tuned) {
      edit.changed_layers = {3};
      edit.nudge = 0.002f;
    }
    EXPECT_TRUE(ota::testing::WriteSynthGguf(model, shape, edit));
    Otactl({"bundle", "build", "--name", "chat", "--version", version, "--model", model,
            "--prompts", dir_.Sub("prompts"), "--out", Bundle(version)});
    return model;
  }
  std::string Bundle(const std::string& version) { return dir_.Sub("chat-" + version + ".otab"); }

  // Builds and publishes the delta from -> to; returns its repository file.
  std::string DeltaFile(const std::string& from, const std::string& to) {
    return dir_.Sub("chat-" + from + "-" + to + ".otad");
  }
  void BuildDelta(const std::string& from, const std::string& to) {
    Otactl({"bundle", "delta", "--from", Bundle(from), "--to", Bundle(to), "--out",
            DeltaFile(from, to), "--window", "65536"});
    CommandResult inspect = Otactl({"bundle", "inspect", DeltaFile(from, to)});
    EXPECT_NE(inspect.out.find("delta    from base"), std::string::npos) << inspect.out;
  }
  std::string PublishDelta(const std::string& from, const std::string& to) {
    auto exists = fs_->Exists(DeltaFile(from, to));
    if (!exists.ok() || !*exists) BuildDelta(from, to);
    Sign({"publish", "--repo", dir_.Sub("repo"), "--bundle", DeltaFile(from, to)});
    const std::string base = Sha256Hex(ReadTestFile(Bundle(from)));
    return dir_.Sub("repo/targets/deltas/chat/" + to + "-from-" + base.substr(0, 16) + ".otad");
  }

  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        BinaryPath("ota-server"), "--repo", dir_.Sub("repo"), "--port", "0", "--db",
        dir_.Sub("server.db"),    "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ChildProcess>();
    const std::string line = server_->Start(argv);
    const auto pos = line.find("http://");
    ASSERT_NE(pos, std::string::npos) << "server did not start: " << line;
    url_ = line.substr(pos);
  }

  std::unique_ptr<Agent> EnrollAndOpen(int attempts = 6) {
    auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
    EXPECT_TRUE(root.ok());
    EXPECT_TRUE(Agent::Enroll(env_, {dir_.Sub("device"), url_, *root, {"chat"}, ""}).ok());
    return Open(attempts);
  }
  std::unique_ptr<Agent> Open(int attempts) {
    agent::AgentOptions options;
    options.state_dir = dir_.Sub("device");
    options.download_attempts = attempts;
    options.space_margin_bytes = 0;
    // The delta-scenario models are GGUF layouts without a tokenizer: valid
    // bundles, but not models a runtime can load.
    options.check_model_loads = false;
    options.confirm_window = std::chrono::seconds(0);  // Commit in the cycle.
    auto a = Agent::Open(env_, options);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? std::move(*a) : nullptr;
  }

  UpdateOutcome UpdateOnce(Agent& a) {
    auto outcomes = a.Update(nullptr);
    EXPECT_TRUE(outcomes.ok()) << outcomes.error().ToString();
    if (!outcomes.ok() || outcomes->empty()) return UpdateOutcome{};
    return outcomes->back();
  }

  std::string ActiveModelBytes() { return ReadTestFile(dir_.Sub("device/active/chat/model.gguf")); }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  std::unique_ptr<HttpClient> http_;
  ota::testing::ManualClock clock_{std::chrono::system_clock::now()};
  Env env_;
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

TEST_F(DeltaEndToEndTest, UpgradeViaDeltaFetchesFarFewerBytes) {
  Publish("1.0.0", false);
  StartServer();
  auto a = EnrollAndOpen();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);

  const std::string v2 = Publish("1.1.0", true);
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  const std::uint64_t delta_size = ReadTestFile(delta).size();
  const std::uint64_t full_size = ReadTestFile(Bundle("1.1.0")).size();
  ASSERT_LT(delta_size * 3, full_size);

  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_TRUE(o.used_delta);
  EXPECT_FALSE(o.delta_fallback);
  EXPECT_EQ(o.bytes_fetched, delta_size);
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 2u);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
}

TEST_F(DeltaEndToEndTest, BrokenDeltaFallsBackToTheFullBundle) {
  Publish("1.0.0", false);
  StartServer();
  auto a = EnrollAndOpen();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  const std::string v1_bytes = ActiveModelBytes();

  const std::string v2 = Publish("1.1.0", true);
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  std::string bytes = ReadTestFile(delta);
  bytes[bytes.size() / 2] ^= 0x20;
  ota::testing::WriteTestFile(delta, bytes);

  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_FALSE(o.used_delta);
  EXPECT_TRUE(o.delta_fallback);
  ASSERT_TRUE(o.delta_error.has_value());
  EXPECT_EQ(o.delta_error->code, ErrorCode::kIntegrity);
  EXPECT_EQ(o.bytes_fetched, bytes.size() + ReadTestFile(Bundle("1.1.0")).size());
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
  // The base it was applied to is untouched and kept for rollback.
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 2u);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
  (void)v1_bytes;
}

TEST_F(DeltaEndToEndTest, InterruptedDeltaResumesAtEveryCutWithoutRefetching) {
  Publish("1.0.0", false);
  const std::string v2 = Build("1.1.0", true);
  BuildDelta("1.0.0", "1.1.0");
  const std::uint64_t size = ReadTestFile(DeltaFile("1.0.0", "1.1.0")).size();
  // Every response is cut after `cut` bytes: each run (one attempt) gets
  // one more piece, resuming where the last one stopped.
  const std::uint64_t cut = size / 9 + 1;
  StartServer({"--fault-drop-after", std::to_string(cut), "--fault-drop-count", "100000"});
  auto a = EnrollAndOpen(/*attempts=*/1);
  ASSERT_NE(a, nullptr);
  a.reset();
  auto run = [&] {
    auto b = Open(/*attempts=*/1);
    return b == nullptr ? UpdateOutcome{} : UpdateOnce(*b);
  };
  UpdateOutcome o;
  for (int i = 0; i < 1000 && (o = run()).kind == UpdateOutcome::Kind::kDeferred; ++i) {
  }
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");

  Sign({"publish", "--repo", dir_.Sub("repo"), "--bundle", Bundle("1.1.0")});
  PublishDelta("1.0.0", "1.1.0");
  int runs = 0;
  do {
    o = run();
    ++runs;
    if (o.kind == UpdateOutcome::Kind::kDeferred) {
      ASSERT_TRUE(o.error.has_value());
      EXPECT_EQ(o.error->code, ErrorCode::kRetryLater);
      EXPECT_FALSE(o.delta_fallback);  // A cut connection is not a broken delta.
    }
  } while (o.kind == UpdateOutcome::Kind::kDeferred && runs < 30);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_TRUE(o.used_delta);
  EXPECT_FALSE(o.delta_fallback);
  // Each earlier run kept its piece: the last one resumed after all of them
  // and fetched only the rest, so no byte crossed the network twice.
  EXPECT_EQ(runs, static_cast<int>((size + cut - 1) / cut));
  EXPECT_EQ(o.bytes_resumed, (runs - 1) * cut);
  EXPECT_EQ(o.bytes_resumed + o.bytes_fetched, size);
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
}

}  // namespace
}  // namespace ota
