// TLS end to end on loopback: a signed repository served over HTTPS by an
// httplib::SSLServer with certificates made at test time, the agent (in
// process and as `ota-agent`) and `otactl` trusting it through a CA bundle
// and public-key pins, and every wrong certificate refused without touching
// what is installed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"
#include "test_tls.h"

namespace ota {
namespace {

using agent::Agent;
using agent::UpdateOutcome;
using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::HttpsTestServer;
using ota::testing::ReadTestFile;
using ota::testing::RunCommand;
using ota::testing::TestCert;

// Forwards to a real client and keeps the URL and TLS settings of each
// request.
class RecordingHttp : public HttpClient {
 public:
  explicit RecordingHttp(HttpClient& inner) : inner_(inner) {}
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    seen.emplace_back(request.url, request.tls);
    return inner_.Fetch(request, sink);
  }
  std::vector<std::pair<std::string, TlsSettings>> seen;

 private:
  HttpClient& inner_;
};

class TlsEndToEndTest : public ota::testing::RepoFixture {
 protected:
  void SetUp() override {
    RepoFixture::SetUp();
    ASSERT_OK(fs_->CreateDirs(dir_.Sub("pki")));
    pki_ = ota::testing::MakeTestPki(dir_.Sub("pki"));
  }

  void TearDown() override {
    // The client's keep-alive connections go first, so the server stops
    // without waiting for them to time out.
    http_.reset();
    env_.http = nullptr;
    server_.reset();
  }

  // Serves the repository over HTTPS with `cert`, on the port of the
  // previous server if there was one (the URL the device enrolled with).
  // The agent must be closed: its client is replaced.
  void ServeRepo(const TestCert& cert) {
    http_ = MakeCurlHttpClient();
    env_.http = http_.get();
    server_.reset();
    server_ = std::make_unique<HttpsTestServer>(cert);
    server_->Mount("/repo", dir_.Sub("repo"));
    const int port = server_->Start(port_);
    ASSERT_GT(port, 0);
    port_ = port;
    url_ = server_->Url();
  }

  Status EnrollHttps(const TlsSettings& tls) {
    auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
    if (!root.ok()) return std::move(root).error();
    agent::EnrollOptions o;
    o.state_dir = dir_.Sub("device");
    o.server_url = url_;
    o.trusted_root_json = *root;
    o.models = {"chat"};
    o.ca_bundle_file = tls.ca_bundle_file;
    o.pinned_sha256 = tls.pinned_sha256;
    return Agent::Enroll(env_, o);
  }

  // An update cycle the server's certificate must stop before anything
  // changes: a kSecurity "TLS: " error naming `words`.
  void ExpectRefusedCycle(Agent& a, const std::string& words) {
    auto refused = a.Update(nullptr);
    ASSERT_FALSE(refused.ok()) << "the cycle ran against an untrusted server";
    EXPECT_EQ(refused.error().code, ErrorCode::kSecurity) << refused.error().ToString();
    EXPECT_NE(refused.error().message.find("TLS: "), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find(words), std::string::npos) << refused.error().message;
  }

  ota::testing::TestPki pki_;
  std::unique_ptr<HttpsTestServer> server_;
  int port_ = 0;
};

TEST_F(TlsEndToEndTest, AgentInitWithCaBundleAndPinsThenUpdateInstallsOverHttps) {
  const std::string v1 = Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  const std::string state = dir_.Sub("device");
  const std::string agent_bin = BinaryPath("ota-agent");
  // Two pins: today's key and the next one, as a rotation needs.
  CommandResult init = RunCommand({agent_bin, "--state-dir", state, "--server", url_, "--ca-bundle",
                                   pki_.ca.cert_file, "--pin-sha256", pki_.server.pin_sha256,
                                   "--pin-sha256", pki_.rotated.pin_sha256, "init", "--root",
                                   dir_.Sub("repo/metadata/root.json"), "--model", "chat"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  // The bundle is copied in: the device no longer needs the original file.
  EXPECT_EQ(ReadTestFile(state + "/ca-bundle.pem"), ReadTestFile(pki_.ca.cert_file));

  CommandResult update = RunCommand({agent_bin, "--state-dir", state, "update"});
  EXPECT_EQ(update.exit_code, 0) << update.out << update.err;
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;

  // Per-run settings replace the enrolled ones: another CA is refused.
  CommandResult other = RunCommand(
      {agent_bin, "--state-dir", state, "--ca-bundle", pki_.other_ca.cert_file, "check"});
  EXPECT_NE(other.exit_code, 0) << other.out;
  EXPECT_NE(other.err.find("TLS: "), std::string::npos) << other.err;
  // A malformed per-run pin is refused before any connection.
  CommandResult bad_pin =
      RunCommand({agent_bin, "--state-dir", state, "--pin-sha256", "not-a-pin", "check"});
  EXPECT_NE(bad_pin.exit_code, 0);
  EXPECT_NE(bad_pin.err.find("not the base64 of a SHA-256 digest"), std::string::npos)
      << bad_pin.err;
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;
}

TEST_F(TlsEndToEndTest, PinsRotateWithoutAnOutageThroughSetTls) {
  const std::string v1 = Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  const std::string state = dir_.Sub("device");
  const std::string agent_bin = BinaryPath("ota-agent");
  auto run = [&](std::vector<std::string> args) {
    // No confirmation window: each update commits, so the next can start.
    std::vector<std::string> argv = {agent_bin, "--state-dir", state, "--confirm-window", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  ASSERT_EQ(run({"--server", url_, "--ca-bundle", pki_.ca.cert_file, "--pin-sha256",
                 pki_.server.pin_sha256, "init", "--root", dir_.Sub("repo/metadata/root.json"),
                 "--model", "chat"})
                .exit_code,
            0);
  ASSERT_EQ(run({"update"}).exit_code, 0);
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;

  // Step 1: the device learns the next key while the server still uses the
  // current one.
  CommandResult both = run(
      {"--pin-sha256", pki_.server.pin_sha256, "--pin-sha256", pki_.rotated.pin_sha256, "set-tls"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  const std::string v2 = Publish("1.1.0", 2);
  CommandResult before = run({"update"});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v2)) << "active model is not " << v2;

  // Step 2: the server switches to the next key; the device follows.
  ServeRepo(pki_.rotated);
  const std::string v3 = Publish("1.2.0", 3);
  CommandResult after = run({"update"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v3)) << "active model is not " << v3;

  // Step 3: the old pin is dropped; the old key is refused from now on.
  ASSERT_EQ(run({"--pin-sha256", pki_.rotated.pin_sha256, "set-tls"}).exit_code, 0);
  ServeRepo(pki_.server);
  CommandResult old_key = run({"check"});
  EXPECT_NE(old_key.exit_code, 0);
  EXPECT_NE(old_key.err.find("matches none of the pins"), std::string::npos) << old_key.err;

  // Bad input is refused without touching what is recorded.
  CommandResult nothing = run({"set-tls"});
  EXPECT_NE(nothing.exit_code, 0);
  EXPECT_NE(nothing.err.find("nothing to record"), std::string::npos) << nothing.err;
  EXPECT_NE(run({"--pin-sha256", "short=", "set-tls"}).exit_code, 0);
  ASSERT_EQ(run({"set-tls", "--clear-pins"}).exit_code, 0);
  CommandResult unpinned = run({"check"});
  EXPECT_EQ(unpinned.exit_code, 0) << unpinned.err;
}

TEST_F(TlsEndToEndTest, WrongCertificateLeavesTheActiveModelAndTheReleaseInstallable) {
  const std::string v1 = Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  ASSERT_OK(EnrollHttps({pki_.ca.cert_file, {}}));
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  const UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
      << (first.error ? first.error->ToString() : "");
  const std::string v2 = Publish("1.1.0", 2);

  // An impostor for the right address (another CA), then the right CA's
  // certificate for another host name: both refused, nothing changes.
  const std::vector<std::pair<const TestCert*, std::string>> wrong = {
      {&pki_.impostor, "not trusted"}, {&pki_.wrong_host, "not trusted"}};
  for (const auto& [cert, words] : wrong) {
    SCOPED_TRACE(cert->cert_file);
    a.reset();
    ServeRepo(*cert);
    a = OpenAgent();
    ASSERT_NE(a, nullptr);
    ExpectRefusedCycle(*a, words);
    EXPECT_EQ(ActiveVersion(*a), "1.0.0");
    EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;
  }

  // The right certificate, but this run pins another key.
  a.reset();
  ServeRepo(pki_.server);
  agent::AgentOptions pinned_options = DeviceOptions();
  pinned_options.pinned_sha256 = {pki_.rotated.pin_sha256};
  {
    auto pinned = Agent::Open(env_, pinned_options);
    ASSERT_OK(pinned);
    ExpectRefusedCycle(**pinned, "matches none of the pins");
    EXPECT_EQ(ActiveVersion(**pinned), "1.0.0");
  }
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;

  // Trust restored: the release refused above installs.
  pinned_options.pinned_sha256 = {pki_.server.pin_sha256};
  auto b = Agent::Open(env_, pinned_options);
  ASSERT_OK(b);
  const UpdateOutcome second = UpdateOnce(**b);
  ASSERT_EQ(second.kind, UpdateOutcome::Kind::kUpdated)
      << (second.error ? second.error->ToString() : "");
  EXPECT_EQ(second.to_version, "1.1.0");
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v2)) << "active model is not " << v2;
}

TEST_F(TlsEndToEndTest, EveryRequestOfTheAgentCarriesItsTlsSettings) {
  Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  ASSERT_OK(EnrollHttps({pki_.ca.cert_file, {pki_.server.pin_sha256}}));
  RecordingHttp recorder(*http_);
  Env env = env_;
  env.http = &recorder;
  auto a = Agent::Open(env, DeviceOptions());
  ASSERT_OK(a);
  const UpdateOutcome first = UpdateOnce(**a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
      << (first.error ? first.error->ToString() : "");
  (void)(*a)->FlushReports();  // Refused by this server (no report API): stays queued.
  // Metadata, the bundle and the reports: all with the enrolled settings.
  const TlsSettings enrolled{dir_.Sub("device/ca-bundle.pem"), {pki_.server.pin_sha256}};
  bool metadata = false, bundle = false, reports = false;
  for (const auto& [url, tls] : recorder.seen) {
    EXPECT_EQ(tls, enrolled) << url;
    metadata |= url.find("/repo/metadata/") != std::string::npos;
    bundle |= url.find("/repo/targets/") != std::string::npos;
    reports |= url.find("/v1/") != std::string::npos;
  }
  EXPECT_TRUE(metadata && bundle && reports) << recorder.seen.size() << " requests";
}

TEST_F(TlsEndToEndTest, EnrollAndOpenRefuseUnusableTlsSettings) {
  Publish("1.0.0", 1);
  url_ = "https://127.0.0.1:1";
  const std::string state = dir_.Sub("device");
  Status missing = EnrollHttps({dir_.Sub("absent.pem"), {}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("absent.pem cannot be read"), std::string::npos)
      << missing.error().message;
  Status bad_pin = EnrollHttps({pki_.ca.cert_file, {"sha256//" + pki_.server.pin_sha256}});
  ASSERT_FALSE(bad_pin.ok());
  EXPECT_EQ(bad_pin.error().code, ErrorCode::kInvalidArgument);
  // Refused before anything was written.
  EXPECT_FALSE(*fs_->Exists(state + "/agent.db"));

  ASSERT_OK(EnrollHttps({pki_.ca.cert_file, {pki_.server.pin_sha256}}));
  agent::AgentOptions options = DeviceOptions();
  options.pinned_sha256 = {pki_.server.pin_sha256.substr(1)};
  auto short_pin = Agent::Open(env_, options);
  ASSERT_FALSE(short_pin.ok());
  EXPECT_EQ(short_pin.error().code, ErrorCode::kInvalidArgument);

  // The enrolled bundle gone is an error, not a quiet switch to the system
  // store.
  ASSERT_OK(fs_->Remove(state + "/ca-bundle.pem"));
  auto no_bundle = Agent::Open(env_, DeviceOptions());
  ASSERT_FALSE(no_bundle.ok());
  EXPECT_EQ(no_bundle.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_bundle.error().message.find("ca-bundle.pem cannot be read"), std::string::npos)
      << no_bundle.error().message;
}

TEST_F(TlsEndToEndTest, OtactlTalksHttpsWithACaBundleAndPins) {
  HttpsTestServer server(pki_.server);
  server.server().Get("/v1/fleet", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"devices": 3, "models": {}})", "application/json");
  });
  ASSERT_GT(server.Start(), 0);
  const std::string token = dir_.Sub("ops.token");
  ota::testing::WriteTestFile(token, "operator-token\n");
  auto fleet = [&](std::vector<std::string> tls, int expected_exit) {
    std::vector<std::string> args = {"fleet",      "status",       "--server",
                                     server.Url(), "--token-file", token};
    args.insert(args.end(), tls.begin(), tls.end());
    return Otactl(args, expected_exit);
  };
  EXPECT_NE(fleet({"--ca-bundle", pki_.ca.cert_file}, 0).out.find("enrolled devices: 3"),
            std::string::npos);
  EXPECT_NE(fleet({"--ca-bundle", pki_.ca.cert_file, "--pin-sha256", pki_.rotated.pin_sha256,
                   "--pin-sha256", pki_.server.pin_sha256},
                  0)
                .out.find("enrolled devices: 3"),
            std::string::npos);
  EXPECT_NE(fleet({"--ca-bundle", pki_.other_ca.cert_file}, 1).err.find("TLS: "),
            std::string::npos);
  EXPECT_NE(fleet({}, 1).err.find("not trusted"), std::string::npos);
  EXPECT_NE(fleet({"--ca-bundle", pki_.ca.cert_file, "--pin-sha256", pki_.rotated.pin_sha256}, 1)
                .err.find("matches none of the pins"),
            std::string::npos);
  EXPECT_NE(fleet({"--ca-bundle", dir_.Sub("absent.pem")}, 2).err.find("cannot be read"),
            std::string::npos);
}

// The server's certificate changes between the metadata refresh and the
// download (a hijacked address, a misconfigured front end): the download is
// refused as `security`, the bytes already on disk are kept and nothing
// installed changes; once the right certificate is back the download
// resumes from those bytes.
TEST_F(TlsEndToEndTest, CertificateChangeMidDownloadKeepsTheBytesAndTheActiveModel) {
  const std::string v1 = Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  ASSERT_OK(EnrollHttps({pki_.ca.cert_file, {}}));
  {
    auto a = OpenAgent();
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  }
  const std::string v2 = Publish("1.1.0", 2);
  const std::string bundle = ReadTestFile(TargetFile("1.1.0"));
  const std::string part = dir_.Sub("device/downloads/" + Sha256Hex(bundle) + ".part");
  const std::size_t kept = bundle.size() / 2;
  // Half of the bundle from an earlier, interrupted run.
  ota::testing::WriteTestFile(part, bundle.substr(0, kept));

  // Forwards to a fresh client; before the first target request it puts an
  // impostor's certificate on the server's address.
  class SwitchingHttp : public HttpClient {
   public:
    explicit SwitchingHttp(std::function<void()> switch_cert) : switch_(std::move(switch_cert)) {}
    Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
      if (switch_ && request.url.find("/targets/") != std::string::npos) {
        inner_.reset();  // Its keep-alive connection would hold the old server.
        std::exchange(switch_, nullptr)();
      }
      if (!inner_) inner_ = MakeCurlHttpClient();
      return inner_->Fetch(request, sink);
    }

   private:
    std::function<void()> switch_;
    std::unique_ptr<HttpClient> inner_;
  };
  SwitchingHttp switching([&] {
    server_.reset();
    server_ = std::make_unique<HttpsTestServer>(pki_.impostor);
    server_->Mount("/repo", dir_.Sub("repo"));
    ASSERT_EQ(server_->Start(port_), port_);
  });
  http_.reset();
  env_.http = &switching;
  {
    auto a = OpenAgent();
    ASSERT_NE(a, nullptr);
    const UpdateOutcome refused = UpdateOnce(*a);
    ASSERT_NE(refused.kind, UpdateOutcome::Kind::kUpdated);
    ASSERT_TRUE(refused.error.has_value());
    EXPECT_EQ(refused.error->code, ErrorCode::kSecurity) << refused.error->ToString();
    EXPECT_NE(refused.error->message.find("TLS: "), std::string::npos) << refused.error->message;
    EXPECT_EQ(ActiveVersion(*a), "1.0.0");
    EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v1)) << "active model is not " << v1;
    EXPECT_EQ(ReadTestFile(part), bundle.substr(0, kept)) << "the kept bytes changed";
  }

  ServeRepo(pki_.server);
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  const UpdateOutcome resumed = UpdateOnce(*a);
  ASSERT_EQ(resumed.kind, UpdateOutcome::Kind::kUpdated)
      << (resumed.error ? resumed.error->ToString() : "");
  EXPECT_EQ(resumed.bytes_resumed, kept);
  EXPECT_EQ(resumed.bytes_fetched, bundle.size() - kept);
  EXPECT_TRUE(ActiveModelBytes() == ReadTestFile(v2)) << "active model is not " << v2;
}

TEST_F(TlsEndToEndTest, TufClientTalksHttpsWithACaBundleAndPins) {
  Publish("1.0.0", 1);
  ServeRepo(pki_.server);
  const std::string metadata = dir_.Sub("tuf-client");
  ASSERT_OK(fs_->CreateDirs(metadata));
  const std::string client = BinaryPath("ota-tuf-client");
  ASSERT_EQ(
      RunCommand({client, "--metadata-dir", metadata, "init", dir_.Sub("repo/metadata/root.json")})
          .exit_code,
      0);
  auto refresh = [&](std::vector<std::string> tls) {
    std::vector<std::string> args = {client,           "--metadata-dir",        metadata,
                                     "--metadata-url", url_ + "/repo/metadata", "refresh"};
    args.insert(args.end(), tls.begin(), tls.end());
    return RunCommand(args);
  };
  EXPECT_EQ(refresh({"--ca-bundle", pki_.ca.cert_file}).exit_code, 0);
  EXPECT_EQ(
      refresh({"--ca-bundle", pki_.ca.cert_file, "--pin-sha256", pki_.server.pin_sha256}).exit_code,
      0);
  CommandResult other = refresh({"--ca-bundle", pki_.other_ca.cert_file});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("TLS: "), std::string::npos) << other.err;
  CommandResult system_store = refresh({});
  EXPECT_EQ(system_store.exit_code, 1);
  EXPECT_NE(system_store.err.find("not trusted"), std::string::npos) << system_store.err;
  CommandResult pinned =
      refresh({"--ca-bundle", pki_.ca.cert_file, "--pin-sha256", pki_.rotated.pin_sha256});
  EXPECT_EQ(pinned.exit_code, 1);
  EXPECT_NE(pinned.err.find("matches none of the pins"), std::string::npos) << pinned.err;
  CommandResult missing = refresh({"--ca-bundle", dir_.Sub("absent.pem")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot be read"), std::string::npos) << missing.err;
  const std::string targets = dir_.Sub("tuf-targets");
  ASSERT_OK(fs_->CreateDirs(targets));
  CommandResult download = RunCommand(
      {client, "--metadata-dir", metadata, "--metadata-url", url_ + "/repo/metadata",
       "--target-name", "bundles/chat/1.0.0.otab", "--target-dir", targets, "--target-base-url",
       url_ + "/repo/targets", "--ca-bundle", pki_.ca.cert_file, "download"});
  EXPECT_EQ(download.exit_code, 0) << download.err;
}

}  // namespace
}  // namespace ota
