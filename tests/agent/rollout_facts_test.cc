// Rollout facts on the device: the selector facts of device-facts.json
// (tags, region, attributes) and the app version, parsed strictly, reach
// rollout::Decide, and travel to the server at enrollment (again when they
// change).
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "device_probe.h"
#include "identity.h"
#include "ota/common/env.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/rollout/evaluate.h"
#include "ota/verifier/keys.h"
#include "state_db.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using nlohmann::json;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;

std::string Refusal(const std::string& text) {
  rollout::DeviceCapabilities d;
  d.region = "before";
  Status s = ApplyDeviceFacts(json::parse(text), d);
  EXPECT_EQ(d.region, "before") << "a refused file changed nothing";
  return s.ok() ? std::string("(accepted)") : s.error().message;
}

TEST(RolloutFactsTest, SelectorFactsAreParsed) {
  rollout::DeviceCapabilities d;
  ASSERT_TRUE(ApplyDeviceFacts(json::parse(R"({"tags": ["beta", "staff phones"],
      "region": "eu-west", "attributes": {"soc": "sm8650", "ram_gb": "8"},
      "app_version": "3.2.0"})"),
                               d)
                  .ok());
  EXPECT_EQ(d.tags, (std::set<std::string>{"beta", "staff phones"}));
  EXPECT_EQ(d.region, "eu-west");
  EXPECT_EQ(d.attributes.at("soc"), "sm8650");
  const json j = DeviceCapabilitiesToJson(d);
  EXPECT_EQ(j["region"], "eu-west");
  EXPECT_EQ(j["attributes"]["ram_gb"], "8");
  const json e = EnrollmentFacts(d);
  EXPECT_EQ(e["app_version"], "3.2.0");
  EXPECT_EQ(e["tags"], json::array({"beta", "staff phones"}));
  EXPECT_FALSE(e.contains("free_disk")) << "only slowly changing facts are enrolled";
}

TEST(RolloutFactsTest, HostileSelectorFactsAreRefusedPrecisely) {
  EXPECT_EQ(Refusal(R"({"tags": "beta"})"),
            "device-facts.json: tags must be an array of at most 100 strings");
  json many = {{"tags", json::array()}};
  for (int i = 0; i < 101; ++i) many["tags"].push_back("t" + std::to_string(i));
  EXPECT_EQ(Refusal(many.dump()),
            "device-facts.json: tags must be an array of at most 100 strings");
  EXPECT_EQ(Refusal(R"({"tags": ["a", 3]})"), "device-facts.json: tags[1] must be a string");
  EXPECT_EQ(Refusal(R"({"tags": ["a", "a"]})"), "device-facts.json: tags[1] is listed twice");
  EXPECT_EQ(Refusal(R"({"tags": [""]})"), "device-facts.json: tags[0] must be 1 to 256 bytes long");
  EXPECT_EQ(Refusal(R"({"tags": ["a\u0007b"]})"),
            "device-facts.json: tags[0] contains a control character");
  EXPECT_EQ(Refusal(json{{"region", std::string(257, 'e')}}.dump()),
            "device-facts.json: region must be 1 to 256 bytes long");
  EXPECT_EQ(Refusal(R"({"region": ["eu"]})"), "device-facts.json: region must be a string");
  EXPECT_EQ(Refusal(R"({"attributes": ["soc"]})"),
            "device-facts.json: attributes must be an object of at most 100 \"name\": "
            "\"value\" pairs");
  EXPECT_EQ(Refusal(R"({"attributes": {"SoC": "x"}})"),
            "device-facts.json: attributes key \"SoC\" must be a name of the form "
            "[a-z0-9][a-z0-9._-]{0,63}");
  EXPECT_EQ(Refusal(R"({"attributes": {"ram_gb": 8}})"),
            "device-facts.json: attributes.ram_gb must be a string");
  EXPECT_EQ(Refusal(R"({"attributes": {"soc": "a\nb"}})"),
            "device-facts.json: attributes.soc contains a control character");
}

TEST(RolloutFactsTest, AppVersionOverrideIsValidated) {
  rollout::DeviceCapabilities d;
  ASSERT_TRUE(ApplyAppVersionOverride("", d).ok());
  EXPECT_FALSE(d.app_version);
  ASSERT_TRUE(ApplyAppVersionOverride("4.0.1", d).ok());
  EXPECT_EQ(manifest::ToString(*d.app_version), "4.0.1");
  Status bad = ApplyAppVersionOverride("four", d);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message.rfind("app version override \"four\": ", 0), 0u)
      << bad.error().message;
  EXPECT_EQ(manifest::ToString(*d.app_version), "4.0.1");
}

// A stage that only matches through device-facts.json: region, tag and app
// version selectors at 100%.
manifest::RolloutManifest SelectiveRollout() {
  manifest::RolloutManifest m;
  m.rollout_id = "chat-2";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *manifest::ParseVersion("2.0.0");
  manifest::RolloutStage s;
  s.percent_hundredths = manifest::kFullPercentHundredths;
  s.selectors.regions = {"eu-west"};
  s.selectors.tags_all_of = {"beta"};
  s.selectors.app_version = *manifest::ParseVersionRange(">=3.0.0");
  s.selectors.attributes["soc"] = {"sm8650"};
  m.stages.push_back(s);
  EXPECT_TRUE(manifest::ValidateRolloutManifest(m).ok());
  return m;
}

TEST(RolloutFactsTest, SelectorsMatchOnlyThroughTheFactsFile) {
  TempDir dir;
  auto owned = MakePosixEnv();
  FileSystem& fs = *owned->env().fs;
  const manifest::RolloutManifest m = SelectiveRollout();
  const std::vector<manifest::Version> runnable = {*manifest::ParseVersion("2.0.0")};
  rollout::InstalledState installed{*manifest::ParseVersion("1.0.0")};
  auto decide = [&](const std::string& app_override) {
    auto device = LoadDeviceCapabilities(fs, dir.path(), dir.path());
    EXPECT_TRUE(device.ok()) << device.error().message;
    EXPECT_TRUE(ApplyAppVersionOverride(app_override, *device).ok());
    return rollout::Decide(m, RolloutFacts("device-7", *device, runnable), installed,
                           std::chrono::system_clock::now());
  };
  EXPECT_EQ(decide("").kind, rollout::DecisionKind::kStay) << "no facts file: no match";
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"region": "eu-west", "tags": ["beta"],
      "attributes": {"soc": "sm8650"}, "app_version": "3.1.0"})");
  rollout::Decision d = decide("");
  EXPECT_EQ(d.kind, rollout::DecisionKind::kInstall) << d.reason;
  EXPECT_EQ(manifest::ToString(*d.version), "2.0.0");
  // Each selector fact on its own decides.
  EXPECT_EQ(decide("2.9.0").kind, rollout::DecisionKind::kStay) << "app override wins";
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"region": "us", "tags": ["beta"],
      "attributes": {"soc": "sm8650"}, "app_version": "3.1.0"})");
  EXPECT_EQ(decide("").kind, rollout::DecisionKind::kStay);
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"region": "eu-west", "tags": ["staff"],
      "attributes": {"soc": "sm8650"}, "app_version": "3.1.0"})");
  EXPECT_EQ(decide("").kind, rollout::DecisionKind::kStay);
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"region": "eu-west", "tags": ["beta"],
      "attributes": {"soc": "sm8550"}, "app_version": "3.1.0"})");
  EXPECT_EQ(decide("").kind, rollout::DecisionKind::kStay);
  EXPECT_EQ(decide("3.0.0").kind, rollout::DecisionKind::kStay);
}

// Records requests and answers each with one status.
class RecordingHttp : public HttpClient {
 public:
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink&) override {
    requests.push_back(request);
    HttpResponse r;
    r.status = refuse_facts && request.body.find("\"facts\"") != std::string::npos ? 400 : status;
    r.body = "{}";
    return r;
  }
  std::vector<HttpRequest> requests;
  int status = 201;
  bool refuse_facts = false;  // Answer 400 to enrollments that carry facts.
};

// A state folder with a database and an identity, and an Env whose HTTP
// client records the enrollment requests.
class EnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.http = &http;
    auto opened = StateDb::Open(dir.Sub("agent.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    db = std::move(*opened);
    auto identity = LoadOrCreateIdentity(env, dir.path());
    ASSERT_TRUE(identity.ok()) << identity.error().message;
    key = *identity;
  }

  TempDir dir;
  std::unique_ptr<OwnedEnv> owned = MakePosixEnv();
  RecordingHttp http;
  Env env = owned->env();
  std::unique_ptr<StateDb> db;
  verifier::PrivateKey key;
};

TEST_F(EnrollmentTest, EnrollmentCarriesFactsAndRefreshesThemWhenTheyChange) {
  const std::string url = "http://127.0.0.1:1";
  json facts = {{"app_version", "3.1.0"}, {"region", "eu-west"}, {"tags", {"beta"}}};
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  ASSERT_EQ(http.requests.size(), 1u);
  EXPECT_EQ(http.requests[0].url, url + "/v1/devices");
  json body = json::parse(http.requests[0].body);
  EXPECT_EQ(body["device_id"], "device-7");
  EXPECT_EQ(body["public_key"], key.public_key.public_value);
  EXPECT_EQ(body["facts"], facts);
  // Signed with the device's report key, as the server requires.
  auto signed_bytes = manifest::DeviceFactsSigningBytes("device-7", facts);
  ASSERT_TRUE(signed_bytes.ok());
  ASSERT_TRUE(body["facts_signature"].is_string());
  EXPECT_TRUE(verifier::VerifyEd25519(key.public_key, body["facts_signature"].get<std::string>(),
                                      *signed_bytes));
  // Unchanged or unknown facts: no request.
  http.status = 200;
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {std::nullopt, ""}).ok());
  EXPECT_EQ(http.requests.size(), 1u);
  // Changed facts: enrolled again with the same key and the new facts.
  facts["app_version"] = "3.2.0";
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  ASSERT_EQ(http.requests.size(), 2u);
  EXPECT_EQ(json::parse(http.requests[1].body)["facts"]["app_version"], "3.2.0");
  // A refused refresh is retried on the next flush.
  facts["region"] = "us";
  http.status = 500;
  EXPECT_FALSE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  http.status = 200;
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  EXPECT_EQ(http.requests.size(), 4u);
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  EXPECT_EQ(http.requests.size(), 4u);
}

TEST_F(EnrollmentTest, FactsTheServerRefusesDoNotBlockEnrollment) {
  http.refuse_facts = true;
  const std::string url = "http://127.0.0.1:1";
  const json facts = {{"app_version", "3.1.0"}};
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  ASSERT_EQ(http.requests.size(), 2u);
  EXPECT_FALSE(json::parse(http.requests[1].body).contains("facts"));
  // Not offered again while unchanged.
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, url, "device-7", key, {facts, ""}).ok());
  EXPECT_EQ(http.requests.size(), 2u);
}

// A new device presents its fleet enrollment token, kept 0600 in the state
// folder; a refused token is a security error that keeps reports queued.
TEST_F(EnrollmentTest, EnrollmentPresentsTheDevicesEnrollmentToken) {
  WriteTestFile(dir.Sub(kEnrollmentTokenFile), "otae_secret\n");
  ASSERT_EQ(::chmod(dir.Sub(kEnrollmentTokenFile).c_str(), 0644), 0);
  auto readable = LoadEnrollmentToken(env, dir.path());
  ASSERT_FALSE(readable.ok());
  EXPECT_EQ(readable.error().code, ErrorCode::kSecurity);
  ASSERT_EQ(::chmod(dir.Sub(kEnrollmentTokenFile).c_str(), 0600), 0);
  auto token = LoadEnrollmentToken(env, dir.path());
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, "otae_secret");

  http.status = 401;
  Status refused = EnsureServerEnrollment(env, *db, "http://127.0.0.1:1", "device-7", key,
                                          {std::nullopt, *token});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kSecurity);
  ASSERT_EQ(http.requests.size(), 1u);
  const auto& headers = http.requests[0].headers;
  EXPECT_NE(std::find(headers.begin(), headers.end(),
                      std::pair<std::string, std::string>{"Authorization", "Bearer otae_secret"}),
            headers.end());
  http.status = 201;
  ASSERT_TRUE(EnsureServerEnrollment(env, *db, "http://127.0.0.1:1", "device-7", key,
                                     {std::nullopt, *token})
                  .ok());
}

}  // namespace
}  // namespace ota::agent
