// Shared fixture of the fleet endpoint tests: an in-process ota-server with a
// recording rollout publisher, an operator token, a fleet enrollment token,
// and devices that sign their enrollment facts and reports.
#ifndef OTA_TESTS_SERVER_FLEET_FIXTURE_H_
#define OTA_TESTS_SERVER_FLEET_FIXTURE_H_

#include <nlohmann/json.hpp>

#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ota/manifest/canonical_json.h"
#include "ota/rollout/bucket.h"
#include "ota/server/rollout_publisher.h"
#include "ota/verifier/keys.h"
#include "server_fixture.h"

namespace ota::server {

class RecordingPublisher : public RolloutPublisher {
 public:
  Status Publish(const manifest::RolloutManifest& m) override {
    std::lock_guard lock(mu);
    if (fail) return MakeError(ErrorCode::kIo, "signing key unavailable");
    published.push_back(m);
    return Ok();
  }
  std::mutex mu;
  bool fail = false;
  std::vector<manifest::RolloutManifest> published;
};

struct TestDevice {
  std::string id;
  verifier::PrivateKey key;
  std::int64_t seq = 0;
};

class FleetTest : public ServerFixture {
 protected:
  using json = nlohmann::json;

  void SetUp() override {
    ServerFixture::SetUp();
    env_ = MakePosixEnv();
    auto token = CreateOperatorToken(db_, "alice");
    ASSERT_OK(token);
    token_ = *token;
    auto enroll = CreateEnrollmentToken(db_, {"factory", 0, 0});
    ASSERT_OK(enroll);
    enroll_token_ = *enroll;
    ServerOptions o;
    o.publisher = &publisher_;
    o.enroll_burst = 1000;
    Configure(o);
    StartServer(o);
  }

  // A test's own server options, before the server starts.
  virtual void Configure(ServerOptions& /*options*/) {}

  // A device whose bucket in rollout "chat-2" is below `below` hundredths
  // (CreateBody's first stage is 5000).
  TestDevice NewDeviceInBucket(const std::string& prefix, std::uint32_t below = 5000) {
    for (int i = 0;; ++i) {
      const std::string id = prefix + "-" + std::to_string(i);
      if (rollout::CohortBucket(id, "chat-2") < below) return NewDevice(id);
    }
  }

  TestDevice NewDevice(const std::string& id) {
    auto key = verifier::GenerateEd25519Key(*env_->env().random);
    EXPECT_OK(key);
    return TestDevice{id, *key, 0};
  }

  httplib::Result Post(const std::string& path, const json& body, bool auth = false) {
    httplib::Headers h;
    if (auth) h.emplace("Authorization", "Bearer " + token_);
    return Client()->Post(path.c_str(), h, body.dump(), "application/json");
  }

  httplib::Result Get(const std::string& path, const std::string& token) {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return Client()->Get(path.c_str(), h);
  }

  // Each of `paths` answers 401 (with WWW-Authenticate: Bearer) without a
  // token and 403 with a wrong one.
  void ExpectOperatorOnly(const std::vector<std::string>& paths) {
    for (const std::string& path : paths) {
      auto none = Get(path, "");
      ASSERT_TRUE(none);
      EXPECT_EQ(none->status, 401) << path;
      EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
      auto wrong = Get(path, "ota_" + std::string(64, '0'));
      ASSERT_TRUE(wrong);
      EXPECT_EQ(wrong->status, 403) << path;
    }
  }

  // Facts travel signed by the device's key (`signer` to forge).
  json EnrollBody(const TestDevice& d, const json& facts,
                  const verifier::PrivateKey* signer = nullptr) {
    auto message = manifest::DeviceFactsSigningBytes(d.id, facts);
    EXPECT_TRUE(message.ok());
    auto sig = verifier::SignBytes(signer ? *signer : d.key, message.ok() ? *message : "");
    EXPECT_TRUE(sig.ok());
    return {{"device_id", d.id},
            {"public_key", d.key.public_key.public_value},
            {"facts", facts},
            {"facts_signature", sig.ok() ? *sig : ""}};
  }

  // Enrolls with the fleet enrollment token (`token`: another one; "" none).
  int Enroll(const TestDevice& d, json facts = json::object(),
             std::optional<std::string> token = std::nullopt) {
    httplib::Headers h;
    const std::string t = token.value_or(enroll_token_);
    if (!t.empty()) h.emplace("Authorization", "Bearer " + t);
    auto r = Client()->Post("/v1/devices", h, EnrollBody(d, facts).dump(), "application/json");
    return r ? r->status : -1;
  }

  json SignedReport(const TestDevice& d, std::int64_t seq, const json& events,
                    const verifier::PrivateKey* signer = nullptr) {
    json report = {{"device_id", d.id}, {"seq", seq}, {"events", events}};
    auto canonical = manifest::CanonicalJson(report);
    EXPECT_OK(canonical);
    auto sig = verifier::SignBytes(signer ? *signer : d.key, *canonical);
    EXPECT_OK(sig);
    return {{"report", report}, {"signature", *sig}};
  }

  // Sends one event about `model` `version` in the next report of `d`.
  int Send(TestDevice& d, const json& event) {
    ++d.seq;
    json e = event;
    e["seq"] = d.seq;
    auto r = Post("/v1/reports", SignedReport(d, d.seq, json::array({e})));
    return r ? r->status : -1;
  }

  static json StateEvent(const std::string& state, const std::string& version = "2.0.0") {
    return {{"type", "state"}, {"state", state}, {"model", "chat"}, {"version", version}};
  }

  // Rollout "chat-2" of chat 2.0.0 with stages of `percents` (hundredths),
  // each soaking 600 s.
  json CreateBody(json policy, std::vector<std::uint32_t> percents = {5000, 10000},
                  const std::string& reason = "ship 2.0") {
    manifest::RolloutManifest m;
    m.rollout_id = "chat-2";
    m.model = "chat";
    m.version = 1;
    m.target.bundle_version = *manifest::ParseVersion("2.0.0");
    for (std::uint32_t p : percents) {
      manifest::RolloutStage s;
      s.percent_hundredths = p;
      s.min_soak_seconds = 600;
      m.stages.push_back(s);
    }
    return {{"manifest", manifest::ToJson(m)}, {"policy", policy}, {"reason", reason}};
  }

  json Status(const std::string& id = "chat-2") {
    auto r = Get("/v1/rollouts/" + id, token_);
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }

  // The record bodies of `log` in an export.
  static std::vector<json> Records(const std::string& text, const std::string& log = "server") {
    std::vector<json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (j.value("kind", "") == "record" && j.value("log", "") == log) {
        out.push_back(j["body"]);
      }
    }
    return out;
  }

  static std::vector<json> OfType(const std::vector<json>& records, const std::string& type) {
    std::vector<json> out;
    for (const json& r : records) {
      if (r.value("type", "") == type) out.push_back(r);
    }
    return out;
  }

  std::unique_ptr<OwnedEnv> env_;
  std::string token_;
  std::string enroll_token_;
  RecordingPublisher publisher_;
};

}  // namespace ota::server

#endif  // OTA_TESTS_SERVER_FLEET_FIXTURE_H_
