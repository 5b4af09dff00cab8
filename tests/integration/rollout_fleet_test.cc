// Staged rollout end to end: 50 in-process agents (separate state folders,
// real libcurl, signed reports) against an in-process ota-server whose
// controller signs each stage change in process with the repository library.
// A healthy rollout advances after the canary soaks; a broken target fails
// in the canary and the controller pauses the rollout before stage two; a
// rollback order returns devices to the version they kept, without a
// download; app-version pins hold while the rollout widens to 100%, and a pin
// a device cannot run is reported, never forced. Device facts (app version,
// region, tags) come from each device's device-facts.json or the app's
// override and reach both the device's decision and the server.

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"
#include "test_support.h"

namespace ota {
namespace {

// The fleet's models have random weights, whose outputs may hold any byte
// (the built-in eval set's checks refuse a NUL); these tests measure the
// rollout, so their bundles skip the device's default shadow test.
constexpr const char* kSkipShadow = "fleet test: rollout behaviour, random-weight models";

using agent::Agent;
using nlohmann::json;
using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::InitSignedRepository;
using ota::testing::RunOtactl;
using ota::testing::TempDir;

constexpr int kDevices = 50;

constexpr int kSoakSeconds = 600;

class RolloutFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    random_ = MakeSecureRandom();
    http_ = MakeCurlHttpClient();
    env_ = {&clock_, random_.get(), fs_.get(), http_.get()};
    // Consistent snapshots: devices reading while the controller publishes
    // (the live drill's devices are processes of their own) never meet a
    // manifest rewritten in place.
    InitSignedRepository(dir_, {"rollouts"}, /*consistent_snapshot=*/true);
    Otactl({"repo", "delegate", "--repo", dir_.Sub("repo"), "--name", "rollouts", "--key",
            Key("rollouts"), "--paths", "rollouts/*", "--targets-key", Key("targets"),
            "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
    ota::testing::WriteTestFile(dir_.Sub("publish/.keep"), "");

    server::RepoPublisherOptions p;
    p.repo_dir = dir_.Sub("repo");
    p.rollouts_key = Key("rollouts");
    p.snapshot_key = Key("snapshot");
    p.timestamp_key = Key("timestamp");
    p.work_dir = dir_.Sub("publish");
    auto made = server::MakeRepoPublisher(p);
    ASSERT_OK(made);
    publisher_ = std::move(made).value();
    auto token = server::CreateOperatorToken(dir_.Sub("server.db"), "ops");
    ASSERT_OK(token);
    token_ = *token;
    auto enroll = server::CreateEnrollmentToken(dir_.Sub("server.db"), {"fleet", 0, 0});
    ASSERT_OK(enroll);
    enroll_token_ = *enroll;
    server::ServerOptions o;
    o.repo_dir = dir_.Sub("repo");
    o.db_path = dir_.Sub("server.db");
    o.port = 0;
    o.quiet = true;
    o.clock = &clock_;
    o.publisher = publisher_.get();
    server_ = std::make_unique<server::Server>(o);
    ASSERT_OK(server_->Start());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  std::string Key(const std::string& role) { return dir_.Sub("keys/" + role + ".key"); }

  CommandResult Otactl(std::vector<std::string> args, int expected_exit = 0) {
    return RunOtactl(std::move(args), expected_exit);
  }

  void Publish(const std::string& version, int seed, const std::string& recipient = "") {
    const std::string model = dir_.Sub("model-" + version + ".gguf");
    const std::string bundle = dir_.Sub("chat-" + version + ".otab");
    Otactl({"model", "synth", "--seed", std::to_string(seed), "--layers", "1", "--width", "32",
            "--type", "f16", "--out", model});
    std::vector<std::string> build = {
        "bundle", "build",   "--name",        "chat",      "--version",
        version,  "--model", model,           "--prompts", dir_.Sub("prompts"),
        "--out",  bundle,    "--shadow-skip", kSkipShadow};
    if (!recipient.empty()) {
      build.push_back("--recipient");
      build.push_back(recipient);
    }
    Otactl(build);
    Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--targets-key",
            Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
            Key("timestamp")});
  }

  // `setup` may write device i's facts file and set its options.
  using DeviceSetup = std::function<void(int, const std::string&, agent::AgentOptions&)>;
  void EnrollFleet(const DeviceSetup& setup = nullptr) {
    auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
    ASSERT_OK(root);
    for (int i = 0; i < kDevices; ++i) {
      const std::string state = dir_.Sub("devices/" + std::to_string(i));
      ASSERT_OK(Agent::Enroll(env_, {state, url_, *root, {"chat"}, "", enroll_token_, "", {}}));
      agent::AgentOptions options;
      options.state_dir = state;
      options.space_margin_bytes = 0;
      options.confirm_window = std::chrono::seconds(0);  // Commit in the cycle.
      // The fixture's synthetic models are not what these tests are about.
      options.check_model_loads = false;
      if (setup) setup(i, state, options);
      auto a = Agent::Open(env_, options);
      ASSERT_OK(a);
      agents_.push_back(std::move(*a));
    }
  }

  // The version device i runs ("" if none).
  std::string ActiveVersion(int i) {
    auto status = agents_[static_cast<std::size_t>(i)]->GetStatus();
    EXPECT_TRUE(status.ok());
    if (!status.ok() || status->active.empty() || !status->active[0].active) return "";
    return status->active[0].active->version;
  }

  // One update cycle on every device; returns how many run `version`. Adds
  // the bytes each device fetched to bytes_fetched_ and its updates to
  // updated_.
  int UpdateAll(const std::string& version) {
    int on_version = 0;
    for (int i = 0; i < static_cast<int>(agents_.size()); ++i) {
      auto& a = agents_[static_cast<std::size_t>(i)];
      auto outcomes = a->Update(nullptr);
      EXPECT_TRUE(outcomes.ok()) << outcomes.error().ToString();
      if (outcomes.ok()) {
        for (const agent::UpdateOutcome& o : *outcomes) {
          bytes_fetched_ += o.bytes_fetched;
          if (o.kind == agent::UpdateOutcome::Kind::kUpdated) ++updated_;
        }
      }
      auto status = a->GetStatus();
      if (ActiveVersion(i) == version) ++on_version;
      EXPECT_EQ(status->pending_reports, 0) << "reports not delivered";
    }
    return on_version;
  }

  void SoloDeviceWithShadowedRollout(const json& shadow_policy);

  void WriteFacts(const std::string& state, const json& facts) {
    ota::testing::WriteTestFile(state + "/device-facts.json", facts.dump());
  }

  // otactl rollout/fleet against the server, as an operator would.
  CommandResult Operator(std::vector<std::string> args) {
    const std::string token_file = dir_.Sub("ops.token");
    ota::testing::WriteTestFile(token_file, token_ + "\n");
    args.insert(args.end(), {"--server", url_, "--token-file", token_file});
    return Otactl(args);
  }

  json Api(const std::string& method, const std::string& path, const json& body = nullptr) {
    HttpRequest req;
    req.method = method;
    req.url = url_ + path;
    req.headers = {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/json"}};
    if (!body.is_null()) req.body = body.dump();
    auto r = http_->Fetch(req);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return json();
    EXPECT_LT(r->status, 300) << r->body;
    return json::parse(r->body, nullptr, false);
  }

  void CreateRollout(const json& pins = json::array()) {
    manifest::RolloutManifest m;
    m.rollout_id = "chat-2";
    m.model = "chat";
    m.version = 1;
    m.target.bundle_version = *manifest::ParseVersion("2.0.0");
    for (auto [pct, soak] : {std::pair<std::uint32_t, std::uint64_t>{5000, kSoakSeconds},
                             std::pair<std::uint32_t, std::uint64_t>{10000, 0}}) {
      manifest::RolloutStage s;
      s.percent_hundredths = pct;
      s.min_soak_seconds = soak;
      m.stages.push_back(s);
    }
    json manifest_json = manifest::ToJson(m);
    if (!pins.empty()) manifest_json["pins"] = pins;
    Api("POST", "/v1/rollouts",
        {{"manifest", manifest_json},
         {"policy", {{"min_reporting", 3}, {"success_percent", 90}, {"error_percent", 20}}}});
  }

  TempDir dir_{ota::testing::FleetParentDir()};
  ota::testing::ManualClock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  std::unique_ptr<HttpClient> http_;
  Env env_;
  std::unique_ptr<server::RolloutPublisher> publisher_;
  std::unique_ptr<server::Server> server_;
  std::string url_;
  std::string token_;
  std::string enroll_token_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::uint64_t bytes_fetched_ = 0;
  int updated_ = 0;
};

TEST_F(RolloutFleetTest, HealthyRolloutAdvancesAfterTheCanarySoaks) {
  Publish("1.0.0", 1);
  EnrollFleet();
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);  // No rollout manifest: newest.
  Publish("2.0.0", 2);
  CreateRollout();
  const int canary = UpdateAll("2.0.0");
  EXPECT_GT(canary, 2);
  EXPECT_LT(canary, kDevices - 2);
  json s = Api("GET", "/v1/rollouts/chat-2");
  EXPECT_EQ(s["stages"][0]["phases"]["confirmed"], canary);
  EXPECT_EQ(s["stages"][0]["targeted"], canary);
  ASSERT_OK(server_->RunControllerOnce());
  EXPECT_EQ(Api("GET", "/v1/rollouts/chat-2")["current_stage"], 0) << "still soaking";
  clock_.Advance(std::chrono::seconds(kSoakSeconds + 1));
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  EXPECT_EQ(UpdateAll("2.0.0"), kDevices);
  s = Api("GET", "/v1/rollouts/chat-2");
  EXPECT_EQ(s["current_stage"], 1);
  EXPECT_EQ(s["stages"][1]["phases"]["confirmed"], kDevices - canary);
}

TEST_F(RolloutFleetTest, CanaryFailuresPauseBeforeStageTwo) {
  Publish("1.0.0", 1);
  EnrollFleet();
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);
  // 2.0.0 is encrypted to a key no device holds: every install fails.
  Otactl({"keygen", "--recipient", "--out", dir_.Sub("keys/other.key")});
  Publish("2.0.0", 2, dir_.Sub("keys/other.key.pub"));
  CreateRollout();
  EXPECT_EQ(UpdateAll("2.0.0"), 0);
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  json s = Api("GET", "/v1/rollouts/chat-2");
  EXPECT_EQ(s["state"], "paused");
  EXPECT_EQ(s["current_stage"], 0);
  EXPECT_GE(s["stages"][0]["phases"]["failed"].get<int>(), 3);
  EXPECT_EQ(s["audit"].back()["actor"], "controller");
  // Soak or not, a paused rollout never widens: every device stays on 1.0.0.
  clock_.Advance(std::chrono::seconds(kSoakSeconds + 1));
  ASSERT_OK(server_->RunControllerOnce());
  EXPECT_EQ(UpdateAll("1.0.0"), kDevices);
  EXPECT_EQ(Api("GET", "/v1/rollouts/chat-2")["current_stage"], 0);
}

// One device on 1.0.0, and 2.0.0 (other weights, a bundle asking for the
// equivalence gate, which it would fail) offered by a rollout to everyone
// whose manifest carries `shadow_policy`.
void RolloutFleetTest::SoloDeviceWithShadowedRollout(const json& shadow_policy) {
  // One device is enough: the override travels with the rollout manifest.
  Publish("1.0.0", 1);
  auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
  ASSERT_OK(root);
  const std::string state = dir_.Sub("devices/solo");
  ASSERT_OK(Agent::Enroll(env_, {state, url_, *root, {"chat"}, "", enroll_token_, "", {}}));
  agent::AgentOptions options;
  options.state_dir = state;
  options.space_margin_bytes = 0;
  auto a = Agent::Open(env_, options);
  ASSERT_OK(a);
  agents_.push_back(std::move(*a));
  ASSERT_EQ(UpdateAll("1.0.0"), 1);

  const std::string model = dir_.Sub("model-2.0.0.gguf");
  const std::string bundle = dir_.Sub("chat-2.0.0.otab");
  Otactl({"model", "synth", "--seed", "2", "--layers", "1", "--width", "32", "--type", "f16",
          "--out", model});
  Otactl({"bundle", "build", "--name", "chat", "--version", "2.0.0", "--model", model, "--prompts",
          dir_.Sub("prompts"), "--shadow-policy", R"({"gate": "equivalence", "calibrate": false})",
          "--out", bundle});
  Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--targets-key",
          Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
  manifest::RolloutManifest m;
  m.rollout_id = "chat-2";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *manifest::ParseVersion("2.0.0");
  manifest::RolloutStage everyone;
  everyone.percent_hundredths = 10000;
  m.stages.push_back(everyone);
  m.shadow_policy = shadow_policy;
  Api("POST", "/v1/rollouts",
      {{"manifest", manifest::ToJson(m)},
       {"policy", {{"min_reporting", 1}, {"success_percent", 90}, {"error_percent", 20}}}});
}

TEST_F(RolloutFleetTest, RolloutShadowPolicyOverridesTheBundles) {
  // The rollout turns the distribution thresholds off.
  ASSERT_NO_FATAL_FAILURE(SoloDeviceWithShadowedRollout(json{
      {"thresholds", {{"min_same_top1", nullptr}, {"max_mean_kl", nullptr}}}, {"max_retries", 7}}));
  EXPECT_EQ(UpdateAll("2.0.0"), 1);
  auto verdicts = agents_[0]->ShadowResults("chat", 1);
  ASSERT_OK(verdicts);
  ASSERT_EQ(verdicts->size(), 1u);
  EXPECT_EQ(verdicts->front().verdict, "pass") << verdicts->front().reason;
  const json report = json::parse(verdicts->front().report_json, nullptr, false);
  EXPECT_TRUE(report["policy"]["thresholds"]["max_mean_kl"].is_null());
  EXPECT_EQ(report["policy"]["max_retries"], 7);
  EXPECT_FALSE(report["policy"]["calibrate"].get<bool>());       // The bundle's, kept.
  EXPECT_GT(report["metrics"]["mean_kl"].get<double>(), 0.002);  // Would fail equivalence.
}

// A malformed override is the rollout's mistake, not the bundle's: each
// attempt fails with the reason, the device keeps its version, and the
// bundle is not ruled out for good (a corrected manifest can still apply).
TEST_F(RolloutFleetTest, AMalformedRolloutShadowPolicyFailsEachAttemptNotTheBundle) {
  ASSERT_NO_FATAL_FAILURE(SoloDeviceWithShadowedRollout(json{{"gate", "sometimes"}}));
  for (int cycle = 0; cycle < 2; ++cycle) {
    auto outcomes = agents_[0]->Update(nullptr);
    ASSERT_OK(outcomes);
    ASSERT_EQ(outcomes->size(), 1u);
    const agent::UpdateOutcome& o = outcomes->front();
    EXPECT_EQ(o.kind, agent::UpdateOutcome::Kind::kFailed) << "cycle " << cycle;
    ASSERT_TRUE(o.error.has_value());
    EXPECT_EQ(o.error->code, ErrorCode::kInvalidArgument) << o.error->ToString();
    EXPECT_NE(o.error->message.find("gate"), std::string::npos) << o.error->message;
    EXPECT_EQ(ActiveVersion(0), "1.0.0");
  }
  auto verdicts = agents_[0]->ShadowResults("chat", 10);
  ASSERT_OK(verdicts);
  EXPECT_TRUE(verdicts->empty()) << "no shadow run without a valid policy";
}

TEST_F(RolloutFleetTest, RollbackOrderReturnsDevicesToTheKeptVersionWithoutDownloading) {
  Publish("1.0.0", 1);
  EnrollFleet();
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);
  Publish("2.0.0", 2);
  CreateRollout();
  const int canary = UpdateAll("2.0.0");
  ASSERT_GT(canary, 2);
  clock_.Advance(std::chrono::seconds(kSoakSeconds + 1));
  ASSERT_OK(server_->RunControllerOnce());
  ASSERT_EQ(UpdateAll("2.0.0"), kDevices);
  // The operator orders every device on 2.0.0 back to 1.0.0; the server
  // signs a manifest with the rollback order.
  Operator({"rollout", "rollback", "chat-2", "--to", "1.0.0", "--reason", "bad answers"});
  json s = Api("GET", "/v1/rollouts/chat-2");
  ASSERT_TRUE(s["manifest"].contains("rollback")) << s.dump();
  bytes_fetched_ = 0;
  updated_ = 0;
  EXPECT_EQ(UpdateAll("1.0.0"), kDevices);
  EXPECT_EQ(updated_, kDevices);
  EXPECT_EQ(bytes_fetched_, 0u) << "1.0.0 was kept on disk: nothing to download";
  // The order stays in force: nobody moves again.
  bytes_fetched_ = 0;
  updated_ = 0;
  EXPECT_EQ(UpdateAll("1.0.0"), kDevices);
  EXPECT_EQ(updated_, 0);
  EXPECT_EQ(bytes_fetched_, 0u);
  json fleet = Api("GET", "/v1/fleet");
  EXPECT_EQ(fleet["models"]["chat"]["1.0.0"]["confirmed"], kDevices) << fleet.dump();
}

// The audit trail of a whole rollout, on both sides: every device's log
// verifies locally and reached the server with its signed checkpoints; the
// operator's export verifies offline with the server's published key; and
// `otactl audit query` answers from it which versions a device ran, which
// devices ran 2.0.0, and the rollout's story (who created it, the
// controller's advance with its numbers, who ordered the rollback).
TEST_F(RolloutFleetTest, TheAuditTrailTellsTheRolloutOnBothSides) {
  Publish("1.0.0", 1);
  EnrollFleet();
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);
  Publish("2.0.0", 2);
  CreateRollout();
  ASSERT_GT(UpdateAll("2.0.0"), 2);
  clock_.Advance(std::chrono::seconds(kSoakSeconds + 1));
  ASSERT_OK(server_->RunControllerOnce());
  ASSERT_EQ(UpdateAll("2.0.0"), kDevices);
  Operator({"rollout", "rollback", "chat-2", "--to", "1.0.0", "--reason", "bad answers"});
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);

  // Device side: each log is intact and signed.
  for (auto& a : agents_) {
    auto audit = a->Audit();
    ASSERT_OK(audit);
    EXPECT_TRUE(audit->intact) << audit->problem;
  }

  // Server side: the export verifies with the published key alone.
  HttpRequest key_request;
  key_request.method = "GET";
  key_request.url = url_ + "/v1/audit/key";
  auto key_answer = http_->Fetch(key_request);
  ASSERT_OK(key_answer);
  ASSERT_EQ(key_answer->status, 200);
  ota::testing::WriteTestFile(dir_.Sub("audit.pub"), key_answer->body);
  Operator({"audit", "export", "--out", dir_.Sub("audit.jsonl"), "--key", dir_.Sub("audit.pub")});
  CommandResult verified = Otactl(
      {"audit", "verify", dir_.Sub("audit.jsonl"), "--key", dir_.Sub("audit.pub"), "--json"});
  const json summary = json::parse(verified.out);
  EXPECT_EQ(summary["verdict"], "verified");
  std::string device_log;
  int device_logs = 0;
  for (const auto& [name, log] : summary["logs"].items()) {
    if (!name.starts_with("device/")) continue;
    ++device_logs;
    device_log = name;
    EXPECT_GT(log["checkpoint_seq"].get<std::int64_t>(), 0) << name << " sent no checkpoint";
    EXPECT_EQ(log["omitted"], 0);
  }
  EXPECT_EQ(device_logs, kDevices);
  const std::string device = device_log.substr(std::string("device/").size());

  // Which versions a device ran: 1.0.0, 2.0.0, and 1.0.0 again.
  const std::string file = dir_.Sub("audit.jsonl");
  const std::string key = dir_.Sub("audit.pub");
  json runs = json::parse(
      Otactl({"audit", "query", "--file", file, "--key", key, "--device", device, "--json"})
          .out)["runs"];
  std::vector<std::string> versions;
  for (const json& r : runs) versions.push_back(r["version"]);
  EXPECT_EQ(versions, (std::vector<std::string>{"1.0.0", "2.0.0", "1.0.0"})) << runs.dump();

  // Which devices ran 2.0.0: all of them.
  runs = json::parse(Otactl({"audit", "query", "--file", file, "--key", key, "--model", "chat",
                             "--version", "2.0.0", "--json"})
                         .out)["runs"];
  EXPECT_EQ(runs.size(), static_cast<std::size_t>(kDevices));

  // The rollout's story.
  const json story = json::parse(
      Otactl({"audit", "query", "--file", file, "--key", key, "--rollout", "chat-2", "--json"})
          .out)["story"];
  std::vector<std::string> steps;
  for (const json& r : story) {
    steps.push_back(r["actor"].get<std::string>() + " " + r["action"].get<std::string>());
    if (r["action"] == "advance") {
      EXPECT_TRUE(r["evidence"].is_object()) << r.dump();
      EXPECT_GE(r["evidence"].value("successes", 0), 3) << r.dump();
    }
  }
  ASSERT_GE(steps.size(), 3u) << story.dump();
  EXPECT_EQ(steps.front(), "operator:ops create") << story.dump();
  EXPECT_NE(std::find(steps.begin(), steps.end(), "controller:controller advance"), steps.end())
      << story.dump();
  EXPECT_EQ(steps.back(), "operator:ops rollback") << story.dump();
}

TEST_F(RolloutFleetTest, PinnedAppVersionsHoldWhileTheRolloutWidens) {
  // Every fourth device: app 1.5.0 (pinned) with too little RAM for the
  // pinned 1.1.0. The next: app 1.5.0 set by the app itself (AgentOptions),
  // enough RAM. The rest: app 2.3.0, tagged beta, outside the pin.
  enum Group { kPinnedCannotRun, kPinned, kFree };
  auto group = [](int i) { return i % 4 == 0 ? kPinnedCannotRun : i % 4 == 1 ? kPinned : kFree; };
  constexpr std::uint64_t kGiB = 1ull << 30;
  Publish("1.0.0", 1);
  EnrollFleet([&](int i, const std::string& state, agent::AgentOptions& options) {
    switch (group(i)) {
      case kPinnedCannotRun:
        WriteFacts(state, {{"app_version", "1.5.0"}, {"total_ram", kGiB}, {"region", "eu"}});
        break;
      case kPinned:
        WriteFacts(state, {{"app_version", "1.0.0"}, {"total_ram", 8 * kGiB}, {"region", "eu"}});
        options.app_version = "1.5.0";  // The app's word beats the file.
        break;
      case kFree:
        WriteFacts(state, {{"app_version", "2.3.0"}, {"region", "us"}, {"tags", {"beta"}}});
        break;
    }
  });
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < kDevices; ++i) ++counts[group(i)];
  ASSERT_EQ(UpdateAll("1.0.0"), kDevices);
  // 1.1.0 needs 4 GiB of RAM; the pin sends app versions below 2 to it.
  const std::string model = dir_.Sub("model-1.1.0.gguf");
  const std::string bundle = dir_.Sub("chat-1.1.0.otab");
  Otactl({"model", "synth", "--seed", "3", "--layers", "1", "--width", "32", "--type", "f16",
          "--out", model});
  Otactl({"bundle", "build", "--name", "chat", "--version", "1.1.0", "--model", model, "--prompts",
          dir_.Sub("prompts"), "--shadow-skip", kSkipShadow, "--out", bundle});
  Otactl({"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--requires",
          json{{"min_ram", 4 * kGiB}}.dump(), "--targets-key", Key("targets"), "--snapshot-key",
          Key("snapshot"), "--timestamp-key", Key("timestamp")});
  Publish("2.0.0", 2);
  CreateRollout();
  Operator({"rollout", "pin", "chat-2", "--app-versions", "<2.0.0", "--bundle-version", "1.1.0"});

  auto check = [&](bool full) {
    int free_on_target = 0;
    for (int i = 0; i < kDevices; ++i) {
      const std::string v = ActiveVersion(i);
      switch (group(i)) {
        case kPinnedCannotRun:
          EXPECT_EQ(v, "1.0.0") << "device " << i << ": an unrunnable pin is never forced";
          break;
        case kPinned:
          EXPECT_EQ(v, "1.1.0") << "device " << i << " left its pin";
          break;
        case kFree:
          if (v == "2.0.0") ++free_on_target;
          if (full) {
            EXPECT_EQ(v, "2.0.0") << "device " << i;
          } else {
            EXPECT_TRUE(v == "1.0.0" || v == "2.0.0") << "device " << i << ": " << v;
          }
          break;
      }
    }
    return free_on_target;
  };
  UpdateAll("2.0.0");
  const int canary = check(false);
  EXPECT_GT(canary, 2);
  EXPECT_LT(canary, counts[kFree]);
  clock_.Advance(std::chrono::seconds(kSoakSeconds + 1));
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  EXPECT_EQ(Api("GET", "/v1/rollouts/chat-2")["current_stage"], 1);
  EXPECT_EQ(UpdateAll("2.0.0"), counts[kFree]);
  EXPECT_EQ(check(true), counts[kFree]);
  EXPECT_EQ(UpdateAll("2.0.0"), counts[kFree]) << "stable at 100%";
  check(true);

  // The unrunnable pin was reported once per device.
  for (int i = 0; i < kDevices; ++i) {
    auto audit = agents_[static_cast<std::size_t>(i)]->Audit();
    ASSERT_OK(audit);
    int reported = 0;
    for (const auto& e : audit->entries) {
      if (json::parse(e.body).value("type", "") == "incompatible-pin") ++reported;
    }
    EXPECT_EQ(reported, group(i) == kPinnedCannotRun ? 1 : 0) << "device " << i;
  }
  // The server holds the enrolled facts: the fleet view and the targeting.
  json fleet = Api("GET", "/v1/fleet");
  EXPECT_EQ(fleet["app_versions"]["1.5.0"], counts[kPinnedCannotRun] + counts[kPinned]);
  EXPECT_EQ(fleet["app_versions"]["2.3.0"], counts[kFree]);
  EXPECT_EQ(fleet["regions"]["us"], counts[kFree]);
  EXPECT_EQ(fleet["tags"]["beta"], counts[kFree]);
  CommandResult text = Operator({"fleet", "status"});
  EXPECT_NE(text.out.find("1.5.0"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("beta"), std::string::npos) << text.out;
}

// otactl drill live against device processes (ota-agent, one per state
// folder): three tagged for drills, one not. The drill version reaches the
// three only, the rollback order brings them back, and the outcome is a
// live-drill record of the server audit log.
TEST_F(RolloutFleetTest, ALiveDrillOnDeviceProcessesIsMeasuredAndAudited) {
  Publish("1.0.0", 1);
  const std::string enroll_file = dir_.Sub("enroll.token");
  ota::testing::WriteTestFile(enroll_file, enroll_token_ + "\n");
  std::vector<std::string> states;
  for (int i = 0; i < 4; ++i) {
    const std::string state = dir_.Sub("live/device-" + std::to_string(i));
    WriteFacts(state, {{"tags", json::array({i < 3 ? "drill" : "prod"})}});
    CommandResult init =
        ota::testing::RunCommand({BinaryPath("ota-agent"), "--state-dir", state, "--server", url_,
                                  "init", "--root", dir_.Sub("repo/metadata/root.json"), "--model",
                                  "chat", "--enrollment-token-file", enroll_file});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    states.push_back(state);
  }
  auto update_all = [&] {
    for (const std::string& state : states) {
      CommandResult r = ota::testing::RunCommand(
          {BinaryPath("ota-agent"), "--state-dir", state, "--confirm-window", "0", "update"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
  };
  // Production: 1.0.0 everywhere under a finished rollout, so that the
  // drill version published next goes nowhere by itself.
  manifest::RolloutManifest m;
  m.rollout_id = "chat-1";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *manifest::ParseVersion("1.0.0");
  m.stages.push_back({10000, {}, 0});
  Api("POST", "/v1/rollouts", {{"manifest", manifest::ToJson(m)}});
  update_all();
  Publish("1.1.0-drill.1", 2);

  const std::string token_file = dir_.Sub("ops.token");
  ota::testing::WriteTestFile(token_file, token_ + "\n");
  std::atomic<bool> done{false};
  CommandResult drill;
  std::thread operator_thread([&] {
    drill = RunOtactl({"drill", "live", "--model", "chat", "--version", "1.1.0-drill.1", "--to",
                       "1.0.0", "--tag", "drill", "--poll-ms", "50", "--timeout-seconds", "120",
                       "--json", "--server", url_, "--token-file", token_file});
    done = true;
  });
  // The devices check in, one simulated second apart, until the drill ends.
  for (int round = 0; round < 200 && !done; ++round) {
    clock_.Advance(std::chrono::seconds(1));
    update_all();
  }
  operator_thread.join();
  ASSERT_EQ(drill.exit_code, 0) << drill.err;
  const json report = json::parse(drill.out);
  EXPECT_EQ(report["devices"], 3);
  EXPECT_EQ(report["exposed"], 3);
  EXPECT_EQ(report["back"], 3);
  EXPECT_EQ(report["stuck"], json::array());
  EXPECT_EQ(report["passed"], true);
  // Seconds of the server's (simulated) clock from the order to each
  // device's report of 1.0.0: the devices check in once a second.
  EXPECT_GE(report["back_max_seconds"].get<int>(), 0);
  EXPECT_LE(report["back_max_seconds"].get<int>(), 3);
  EXPECT_LE(report["back_p50_seconds"].get<int>(), report["back_max_seconds"].get<int>());

  // Every drill device runs 1.0.0 again; the other never ran the drill.
  const json prod = Api("GET", "/v1/devices?tag=prod");
  ASSERT_EQ(prod["devices"].size(), 1u);
  const std::string prod_id = prod["devices"][0]["device_id"];
  const json events = Api("GET", "/v1/events?device_id=" + prod_id);
  EXPECT_EQ(events.dump().find("1.1.0-drill.1"), std::string::npos);
  const json drilled = Api("GET", "/v1/devices?tag=drill");
  for (const json& d : drilled["devices"]) {
    EXPECT_EQ(d["models"][0]["version"], "1.0.0") << d.dump();
  }
  // The drill is on record: its rollout halted, its outcome audited.
  const json status = Api("GET", "/v1/rollouts/" + report["rollout_id"].get<std::string>());
  EXPECT_EQ(status["state"], "halted");
  HttpRequest req;
  req.url = url_ + "/v1/audit/export?rollout=" + report["rollout_id"].get<std::string>();
  req.headers = {{"Authorization", "Bearer " + token_}};
  auto exported = http_->Fetch(req);
  ASSERT_OK(exported);
  EXPECT_NE(exported->body.find("\"type\":\"live-drill\""), std::string::npos);
}

}  // namespace
}  // namespace ota
