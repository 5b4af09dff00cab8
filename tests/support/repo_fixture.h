// A signed repository built with otactl, served by ota-server on loopback,
// and an enrolled device whose agent runs in process (real libcurl, manual
// clock). Shared by the end-to-end test binaries.
#ifndef OTA_TESTS_SUPPORT_REPO_FIXTURE_H_
#define OTA_TESTS_SUPPORT_REPO_FIXTURE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "test_support.h"

namespace ota::testing {

using agent::Agent;
using agent::UpdateOutcome;

class RepoFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    random_ = MakeSecureRandom();
    http_ = MakeCurlHttpClient();
    env_.clock = &clock_;
    env_.random = random_.get();
    env_.fs = fs_.get();
    env_.http = http_.get();
    InitSignedRepository(dir_);
  }

  std::string Key(const std::string& role) { return dir_.Sub("keys/" + role + ".key"); }

  CommandResult Otactl(std::vector<std::string> args, int expected_exit = 0) {
    return RunOtactl(std::move(args), expected_exit);
  }

  // Builds and publishes model version `version` (distinct weights per seed).
  // `recipients`: public key files to encrypt the bundle to (none: plain).
  // `publish_extra`: more `otactl publish` arguments (e.g. variant fields).
  std::string Publish(const std::string& version, int seed,
                      const std::vector<std::string>& recipients = {},
                      const std::vector<std::string>& publish_extra = {}) {
    const std::string model = dir_.Sub("model-" + version + "-" + std::to_string(seed) + ".gguf");
    const std::string bundle = dir_.Sub("chat-" + version + "-" + std::to_string(seed) + ".otab");
    std::vector<std::string> synth = {"model",  "synth", "--seed", std::to_string(seed),
                                      "--type", "f16",   "--out",  model};
    synth.insert(synth.end(), synth_shape_.begin(), synth_shape_.end());
    Otactl(synth);
    std::vector<std::string> build = {
        "bundle", "build",   "--name", "chat",      "--version",
        version,  "--model", model,    "--prompts", dir_.Sub("prompts"),
        "--out",  bundle};
    build.insert(build.end(), build_extra_.begin(), build_extra_.end());
    for (const std::string& r : recipients) {
      build.push_back("--recipient");
      build.push_back(r);
    }
    CommandResult built = Otactl(build);
    EXPECT_NE(built.out.find(recipients.empty() ? "UNENCRYPTED" : "encrypted to"),
              std::string::npos)
        << built.out;
    std::vector<std::string> publish = {"publish",         "--repo",         dir_.Sub("repo"),
                                        "--bundle",        bundle,           "--targets-key",
                                        Key("targets"),    "--snapshot-key", Key("snapshot"),
                                        "--timestamp-key", Key("timestamp")};
    publish.insert(publish.end(), publish_extra.begin(), publish_extra.end());
    Otactl(publish);
    return model;
  }

  std::string TargetFile(const std::string& version) {
    return dir_.Sub("repo/targets/bundles/chat/" + version + ".otab");
  }

  // `repo`: the folder the server serves (default: the signed repository).
  void StartServer(std::vector<std::string> extra = {}, std::string repo = "") {
    if (enrollment_token_.empty()) {
      enrollment_token_ = CreateServerToken(dir_.Sub("server.db"), "enrollment-token", "fleet");
      operator_token_ = CreateServerToken(dir_.Sub("server.db"), "token", "ops");
      WriteTestFile(EnrollmentTokenFile(), enrollment_token_ + "\n");
    }
    std::vector<std::string> argv = {BinaryPath("ota-server"),
                                     "--repo",
                                     repo.empty() ? dir_.Sub("repo") : repo,
                                     "--port",
                                     "0",
                                     "--db",
                                     dir_.Sub("server.db"),
                                     "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ChildProcess>();
    const std::string line = server_->Start(argv);
    const auto pos = line.find("http://");
    ASSERT_NE(pos, std::string::npos) << "server did not start: " << line;
    url_ = line.substr(pos);
  }

  // The enrollment token as `ota-agent init --enrollment-token-file` takes it.
  std::string EnrollmentTokenFile() const { return dir_.Sub("enrollment.token"); }

  void Enroll() {
    auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
    ASSERT_OK(root);
    ASSERT_OK(Agent::Enroll(
        env_, {dir_.Sub("device"), url_, *root, {"chat"}, "", enrollment_token_, "", {}}));
  }

  // Agent options for the enrolled device: no confirmation window unless a
  // test asks for one (confirm_window_), so an upgrade commits in one cycle.
  agent::AgentOptions DeviceOptions(int attempts = 6) {
    agent::AgentOptions options;
    options.state_dir = dir_.Sub("device");
    options.download_attempts = attempts;
    options.space_margin_bytes = 0;
    options.confirm_window = confirm_window_;
    options.download_stall_timeout = stall_timeout_;
    return options;
  }

  std::unique_ptr<Agent> OpenAgent(int attempts = 6) {
    agent::AgentOptions options = DeviceOptions(attempts);
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

  std::string ActiveVersion(Agent& a) {
    auto status = a.GetStatus();
    if (!status.ok() || status->active.empty() || !status->active[0].active) return "";
    return status->active[0].active->version;
  }

  std::vector<nlohmann::json> ServerEvents(Agent& a) {
    auto status = a.GetStatus();
    EXPECT_TRUE(status.ok());
    HttpRequest req;
    req.url = url_ + "/v1/events?device_id=" + status->device_id;
    req.headers = {{"Authorization", "Bearer " + operator_token_}};
    auto resp = http_->Fetch(req);
    EXPECT_TRUE(resp.ok());
    auto j = nlohmann::json::parse(resp->body, nullptr, false);
    std::vector<nlohmann::json> out;
    if (j.is_object() && j["events"].is_array()) {
      for (auto& e : j["events"]) out.push_back(e);
    }
    return out;
  }

  TempDir dir_;
  // Real "now": otactl signs expiry against the real clock.
  ota::testing::ManualClock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  std::unique_ptr<HttpClient> http_;
  Env env_;
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  // Made by the first StartServer in the server's database.
  std::string enrollment_token_;
  std::string operator_token_;
  std::chrono::seconds confirm_window_{0};
  std::chrono::seconds stall_timeout_{30};
  // The synthesized model's shape and more `otactl bundle build` arguments.
  std::vector<std::string> synth_shape_ = {"--layers", "2", "--width", "64"};
  std::vector<std::string> build_extra_;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_REPO_FIXTURE_H_
