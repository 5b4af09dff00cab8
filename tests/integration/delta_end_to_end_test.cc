// Delta updates end to end on loopback: otactl builds and publishes a delta
// next to the full bundle, ota-server serves both, the agent prefers the
// delta, falls back to the full bundle when the delta is broken, and resumes
// an interrupted delta without fetching a byte twice.
#include <nlohmann/json.hpp>

#include "fault_proxy.h"
#include "gguf_synth.h"
#include "ota/agent/agent.h"
#include "ota/bundle/bundle.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::Agent;
using agent::UpdateOutcome;
using ota::testing::CommandResult;
using ota::testing::ReadTestFile;

class DeltaEndToEndTest : public ota::testing::RepoFixture {
 protected:
  // One update cycle that must install through the delta alone: exactly
  // `delta_bytes` fetched, no fallback, and the model of `model_path` active.
  void UpdateOnceViaDelta(Agent& a, std::uint64_t delta_bytes, const std::string& model_path) {
    UpdateOutcome o = UpdateOnce(a);
    ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
    EXPECT_TRUE(o.used_delta);
    EXPECT_FALSE(o.delta_fallback);
    EXPECT_EQ(o.bytes_fetched, delta_bytes);
    EXPECT_EQ(ActiveModelBytes(), ReadTestFile(model_path));
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
  std::string Build(const std::string& version, bool fine_tuned,
                    const std::string& chat_template = "") {
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
    edit.chat_template = chat_template;
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
  void BuildDelta(const std::string& from, const std::string& to,
                  const std::string& form = "auto") {
    Otactl({"bundle", "delta", "--from", Bundle(from), "--to", Bundle(to), "--out",
            DeltaFile(from, to), "--window", "65536", "--form", form});
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

  std::unique_ptr<Agent> EnrollAndOpen(int attempts = 6) {
    Enroll();
    return Open(attempts);
  }
  std::unique_ptr<Agent> Open(int attempts) {
    agent::AgentOptions options = DeviceOptions(attempts);
    // The delta-scenario models are GGUF layouts without a tokenizer: valid
    // bundles, but not models a runtime can load.
    options.check_model_loads = false;
    auto a = Agent::Open(env_, options);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? std::move(*a) : nullptr;
  }

  // 1.0.0 published, served and installed on an enrolled device; null if
  // any of it failed.
  std::unique_ptr<Agent> InstallFirst() {
    Publish("1.0.0", false);
    StartServer();
    auto a = EnrollAndOpen();
    if (a == nullptr) return nullptr;
    const UpdateOutcome::Kind kind = UpdateOnce(*a).kind;
    EXPECT_EQ(kind, UpdateOutcome::Kind::kUpdated);
    return kind == UpdateOutcome::Kind::kUpdated ? std::move(a) : nullptr;
  }
};

TEST_F(DeltaEndToEndTest, UpgradeViaDeltaFetchesFarFewerBytes) {
  auto a = InstallFirst();
  ASSERT_NE(a, nullptr);

  const std::string v2 = Publish("1.1.0", true);
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  const std::uint64_t delta_size = ReadTestFile(delta).size();
  const std::uint64_t full_size = ReadTestFile(Bundle("1.1.0")).size();
  ASSERT_LT(delta_size * 3, full_size);

  ASSERT_NO_FATAL_FAILURE(UpdateOnceViaDelta(*a, delta_size, v2));
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 2u);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
}

// The check shows the plan before a byte is fetched: the delta first, the
// full bundle as its fallback, the space the worst case needs, the version
// a failure returns to.
TEST_F(DeltaEndToEndTest, CheckShowsThePlan) {
  auto a = InstallFirst();
  ASSERT_NE(a, nullptr);
  Publish("1.1.0", true);
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  auto checked = a->Check();
  ASSERT_OK(checked);
  ASSERT_EQ(checked->size(), 1u);
  const agent::CheckResult& r = (*checked)[0];
  ASSERT_TRUE(r.update_available);
  ASSERT_TRUE(r.plan.has_value());
  const agent::DeploymentPlan& p = *r.plan;
  const std::uint64_t full = ReadTestFile(Bundle("1.1.0")).size();
  EXPECT_EQ(p.version, "1.1.0");
  EXPECT_EQ(p.target_path, "bundles/chat/1.1.0.otab");
  EXPECT_EQ(p.target_id, Sha256Hex(ReadTestFile(Bundle("1.1.0"))));
  EXPECT_EQ(p.bundle_bytes, full);
  EXPECT_EQ(p.delta_bytes, ReadTestFile(delta).size());
  EXPECT_EQ(p.download_bytes, p.delta_bytes);
  EXPECT_EQ(r.download_bytes, p.delta_bytes);
  EXPECT_NE(p.delta_path.find("deltas/chat/1.1.0-from-"), std::string::npos) << p.delta_path;
  auto info = bundle::ReadBundleHeader(*fs_, Bundle("1.1.0"));
  ASSERT_OK(info);
  // The full bundle and its unpacked copy (files and bundle.json; no margin
  // here).
  EXPECT_EQ(p.space_needed,
            full + info->total_plain + manifest::SerializeBundleManifest(info->manifest).size());
  EXPECT_EQ(p.rollback_version, "1.0.0");
  EXPECT_EQ(p.rollback_id, Sha256Hex(ReadTestFile(Bundle("1.0.0"))));
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());  // Nothing fetched.
  // The command line shows the same plan (one agent at a time per state folder).
  a.reset();
  CommandResult cli =
      ota::testing::RunCommand({ota::testing::BinaryPath("ota-agent"), "--state-dir",
                                dir_.Sub("device"), "check", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const auto j = nlohmann::json::parse(cli.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1u) << cli.out;
  const nlohmann::json& plan = j[0]["plan"];
  EXPECT_EQ(plan["target"], "bundles/chat/1.1.0.otab") << cli.out;
  EXPECT_EQ(plan["download_bytes"], p.delta_bytes) << cli.out;
  EXPECT_EQ(plan["delta"]["fallback"], "full bundle") << cli.out;
  EXPECT_EQ(plan["rollback_to"]["version"], "1.0.0") << cli.out;
  // The command's default margin (64 MiB) on top; the test agent keeps none.
  EXPECT_EQ(plan["space_needed"], p.space_needed + (64u << 20)) << cli.out;
}

// A deployment follows the plan it saved: a delta published after it began
// (while it waited for a server that answered 503) is not taken halfway.
TEST_F(DeltaEndToEndTest, AResumedDeploymentFollowsItsSavedPlan) {
  Publish("1.0.0", false);
  StartServer();
  ota::testing::FaultProxy proxy(url_);
  url_ = proxy.url();
  auto a = EnrollAndOpen(/*attempts=*/1);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  const std::string v2 = Publish("1.1.0", true);
  proxy.Watch("/targets/", {ota::testing::FaultProxy::Status(503)});
  UpdateOutcome waiting = UpdateOnce(*a);
  ASSERT_EQ(waiting.kind, UpdateOutcome::Kind::kDeferred)
      << (waiting.error ? waiting.error->ToString() : "");
  PublishDelta("1.0.0", "1.1.0");
  UpdateOutcome o = UpdateOnce(*a);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_FALSE(o.used_delta);
  EXPECT_EQ(o.bytes_fetched, ReadTestFile(Bundle("1.1.0")).size());
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
}

TEST_F(DeltaEndToEndTest, ContainerDeltaStillApplies) {
  auto a = InstallFirst();
  ASSERT_NE(a, nullptr);
  const std::string v2 = Publish("1.1.0", true);
  BuildDelta("1.0.0", "1.1.0", "container");
  CommandResult inspect = Otactl({"bundle", "inspect", DeltaFile("1.0.0", "1.1.0")});
  EXPECT_NE(inspect.out.find("format   2"), std::string::npos) << inspect.out;
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  ASSERT_NO_FATAL_FAILURE(UpdateOnceViaDelta(*a, ReadTestFile(delta).size(), v2));
}

TEST_F(DeltaEndToEndTest, MetadataEditTravelsAsACompactDelta) {
  auto a = InstallFirst();
  ASSERT_NE(a, nullptr);

  // Only the chat template changes: the delta is compact, and its ids and
  // bundle.json digest are signed in its target, taken from the full bundles.
  const std::string v2 = Build("1.1.0", false, "<|user|>{{ messages }}<|assistant|>");
  Sign({"publish", "--repo", dir_.Sub("repo"), "--bundle", Bundle("1.1.0")});
  Otactl({"bundle", "delta", "--from", Bundle("1.0.0"), "--to", Bundle("1.1.0"), "--out",
          DeltaFile("1.0.0", "1.1.0")});
  CommandResult inspect = Otactl({"bundle", "inspect", DeltaFile("1.0.0", "1.1.0")});
  EXPECT_NE(inspect.out.find("compact delta (format 3)"), std::string::npos) << inspect.out;
  const std::string delta = PublishDelta("1.0.0", "1.1.0");
  const std::uint64_t delta_size = ReadTestFile(delta).size();
  EXPECT_LT(delta_size, 400u);
  const nlohmann::json targets =
      nlohmann::json::parse(ReadTestFile(dir_.Sub("repo/metadata/targets.json")));
  const std::string base = Sha256Hex(ReadTestFile(Bundle("1.0.0")));
  const nlohmann::json& custom =
      targets["signed"]["targets"]["deltas/chat/1.1.0-from-" + base.substr(0, 16) + ".otad"]
             ["custom"];
  ASSERT_TRUE(custom.contains("modelota_compact_delta")) << custom.dump();
  const nlohmann::json& d = custom["modelota_compact_delta"];
  EXPECT_EQ(d["delta_from"], base);
  EXPECT_EQ(d["delta_to"], Sha256Hex(ReadTestFile(Bundle("1.1.0"))));
  EXPECT_EQ(d["delta_of"], "bundles/chat/1.1.0.otab");

  ASSERT_NO_FATAL_FAILURE(UpdateOnceViaDelta(*a, delta_size, v2));
  const std::string active = ReadTestFile(dir_.Sub("device/active/chat/bundle.json"));
  EXPECT_EQ(Sha256Hex(active), d["manifest_sha256"].get<std::string>());
  EXPECT_EQ(fs_->ListDir(dir_.Sub("device/versions"))->size(), 2u);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
}

TEST_F(DeltaEndToEndTest, PublishRefusesACompactDeltaThatDoesNotRebuildItsTarget) {
  Publish("1.0.0", false);
  Build("1.1.0", false, "<|user|>{{ messages }}<|assistant|>");
  Sign({"publish", "--repo", dir_.Sub("repo"), "--bundle", Bundle("1.1.0")});
  // The delta is built for a target other than the one published: its
  // bundle.json is not the signed one, so it is never signed.
  Build("1.1.0", false, "<|user|>{{ messages }}<|assistant|> changed");
  Otactl({"bundle", "delta", "--from", Bundle("1.0.0"), "--to", Bundle("1.1.0"), "--out",
          DeltaFile("1.0.0", "1.1.0")});
  std::vector<std::string> args = {"publish", "--repo", dir_.Sub("repo"), "--bundle",
                                   DeltaFile("1.0.0", "1.1.0")};
  for (const char* role : {"targets", "snapshot", "timestamp"}) {
    args.push_back(std::string("--") + role + "-key");
    args.push_back(Key(role));
  }
  CommandResult refused = Otactl(args, 1);
  EXPECT_NE(refused.err.find("does not rebuild the bundle.json of bundles/chat/1.1.0.otab"),
            std::string::npos)
      << refused.err;
  // A delta from a version this repository never published has no signed
  // base to take its facts from.
  Build("0.9.0", false, "<|old|>");
  Otactl({"bundle", "delta", "--from", Bundle("0.9.0"), "--to", Bundle("1.1.0"), "--out",
          DeltaFile("0.9.0", "1.1.0")});
  args[4] = DeltaFile("0.9.0", "1.1.0");
  refused = Otactl(args, 1);
  EXPECT_NE(refused.err.find("is not a bundle published in this repository"), std::string::npos)
      << refused.err;
}

TEST_F(DeltaEndToEndTest, BrokenDeltaFallsBackToTheFullBundle) {
  auto a = InstallFirst();
  ASSERT_NE(a, nullptr);
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
