// otactl audit export / query against a live in-process ota-server that signs
// rollout changes into a real repository: exports verify offline, queries
// answer from verified exports only.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "operator_server_fixture.h"
#include "ota/manifest/audit_log.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/repo/repo.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"
#include "ota/verifier/audit_verify.h"
#include "ota/verifier/keys.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {
namespace {

using nlohmann::json;
using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::RunCommand;
using ota::testing::WriteTestFile;

class AuditCliTest : public OperatorServerFixture {
 protected:
  void BeforeServerStarts() override {
    auto enroll = server::CreateEnrollmentToken(Path("server.db"), {"line", 0, 0});
    ASSERT_OK(enroll);
    enroll_token_ = *enroll;
  }
  void SetUp() override {
    OperatorServerFixture::SetUp();
    if (HasFatalFailure()) return;
    auto pub = server::AuditPublicKeyJson(Path("server.db.audit-key"));
    ASSERT_OK(pub);
    WriteTestFile(Path("audit.pub"), *pub);
  }

  // A device that enrolls and sends chained events (link version 2).
  void DeviceRuns(const std::string& id,
                  const std::vector<std::pair<std::string, std::string>>& versions_at) {
    auto key = verifier::GenerateEd25519Key(*f_.env.random);
    ASSERT_OK(key);
    httplib::Client c("127.0.0.1", server_->port());
    auto enrolled =
        c.Post("/v1/devices", {{"Authorization", "Bearer " + enroll_token_}},
               json{{"device_id", id}, {"public_key", key->public_key.public_value}}.dump(),
               "application/json");
    ASSERT_TRUE(enrolled);
    ASSERT_EQ(enrolled->status, 201);
    std::string prev(manifest::kAuditGenesis);
    json events = json::array();
    std::int64_t seq = 0;
    for (const auto& [version, time] : versions_at) {
      json e = {{"type", "state"},
                {"state", "committed"},
                {"model", "chat"},
                {"version", version},
                {"time", time}};
      prev = manifest::AuditLink(prev, ++seq, manifest::AuditBodyDigest(*manifest::AuditBody(e)));
      e["seq"] = seq;
      e["chain"] = prev;
      events.push_back(e);
    }
    json report = {{"device_id", id}, {"seq", seq}, {"events", events}};
    auto sig = verifier::SignBytes(*key, *manifest::CanonicalJson(report));
    ASSERT_OK(sig);
    auto r = c.Post("/v1/reports", json{{"report", report}, {"signature", *sig}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }

  std::string enroll_token_;
};

TEST_F(AuditCliTest, ExportIsWrittenVerifiedAndRecordsRepositorySigners) {
  Otactl({"rollout", "create", "--manifest", Path("rollout.json"), "--reason", "ship"});
  Otactl({"rollout", "pause", "chat-2", "--reason", "hold"});
  CommandResult r =
      Otactl({"audit", "export", "--out", Path("all.jsonl"), "--key", Path("audit.pub")});
  EXPECT_NE(r.out.find("(verified)"), std::string::npos) << r.out;
  auto key = verifier::LoadPublicKey(*f_.fs, Path("audit.pub"));
  ASSERT_OK(key);
  std::ifstream in(Path("all.jsonl"));
  auto result = verifier::VerifyAuditExport(in, {*key});
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  // Rollout changes published new snapshot and timestamp versions, signed
  // with the online keys: recorded with those key ids.
  const std::string text = ota::testing::ReadTestFile(Path("all.jsonl"));
  EXPECT_NE(text.find("\"type\":\"repository-changed\""), std::string::npos);
  EXPECT_NE(text.find(f_.timestamp_key.keyid), std::string::npos);
}

TEST_F(AuditCliTest, ExportNeedsAValidToken) {
  CommandResult none = Otactl({"audit", "export", "--out", Path("x.jsonl")}, 2, "");
  EXPECT_NE(none.err.find("an operator token is required"), std::string::npos) << none.err;
  CommandResult bad = Otactl({"audit", "export", "--out", Path("x.jsonl")}, 1, "bad-token");
  EXPECT_NE(bad.err.find("HTTP 403"), std::string::npos) << bad.err;
  CommandResult param = Otactl({"audit", "export", "--since", "soon", "--out", Path("x.jsonl")}, 1);
  EXPECT_NE(param.err.find("query parameter since must be a UTC time"), std::string::npos)
      << param.err;
}

TEST_F(AuditCliTest, QueryTellsTheStoryOfARollout) {
  Otactl({"rollout", "create", "--manifest", Path("rollout.json"), "--reason", "ship"});
  Otactl({"rollout", "pause", "chat-2", "--reason", "hold"});
  Otactl({"rollout", "resume", "chat-2"});
  CommandResult r =
      Otactl({"audit", "query", "--rollout", "chat-2", "--key", Path("audit.pub"), "--json"});
  json story = json::parse(r.out)["story"];
  ASSERT_EQ(story.size(), 3u) << r.out;
  EXPECT_EQ(story[0]["action"], "create");
  EXPECT_EQ(story[0]["actor"], "operator:ops");
  EXPECT_EQ(story[0]["reason"], "ship");
  EXPECT_EQ(story[1]["action"], "pause");
  EXPECT_EQ(story[2]["action"], "resume");
  CommandResult table =
      Otactl({"audit", "query", "--rollout", "chat-2", "--key", Path("audit.pub")});
  EXPECT_NE(table.out.find("operator:ops"), std::string::npos) << table.out;
}

TEST_F(AuditCliTest, QueryAnswersVersionsOfADeviceAndDevicesOfAVersion) {
  DeviceRuns("dev-a", {{"1.0.0", "2027-01-01T00:00:00Z"}, {"2.0.0", "2027-01-10T00:00:00Z"}});
  DeviceRuns("dev-b", {{"1.0.0", "2027-01-02T00:00:00Z"}});
  CommandResult r = Otactl({"audit", "query", "--device", "dev-a", "--since",
                            "2027-01-05T00:00:00Z", "--key", Path("audit.pub"), "--json"});
  json runs = json::parse(r.out)["runs"];
  ASSERT_EQ(runs.size(), 2u) << r.out;
  EXPECT_EQ(runs[0]["version"], "1.0.0");
  EXPECT_EQ(runs[0]["until"], "2027-01-10T00:00:00Z");
  EXPECT_EQ(runs[1]["version"], "2.0.0");
  EXPECT_TRUE(runs[1]["until"].is_null());
  CommandResult later = Otactl({"audit", "query", "--device", "dev-a", "--since",
                                "2027-01-11T00:00:00Z", "--key", Path("audit.pub"), "--json"});
  EXPECT_EQ(json::parse(later.out)["runs"].size(), 1u);
  CommandResult who = Otactl({"audit", "query", "--model", "chat", "--version", "1.0.0", "--key",
                              Path("audit.pub"), "--json"});
  json devices = json::parse(who.out)["runs"];
  ASSERT_EQ(devices.size(), 2u) << who.out;
  EXPECT_EQ(devices[0]["device"], "dev-a");
  EXPECT_EQ(devices[1]["device"], "dev-b");
}

TEST_F(AuditCliTest, QueryRefusesATamperedExport) {
  Otactl({"rollout", "create", "--manifest", Path("rollout.json"), "--reason", "ship"});
  Otactl({"audit", "export", "--rollout", "chat-2", "--out", Path("r.jsonl")});
  std::string text = ota::testing::ReadTestFile(Path("r.jsonl"));
  const auto at = text.find("\"reason\":\"ship\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 15, "\"reason\":\"SHIP\"");
  WriteTestFile(Path("r.jsonl"), text);
  CommandResult r = Otactl({"audit", "query", "--file", Path("r.jsonl"), "--key", Path("audit.pub"),
                            "--rollout", "chat-2"},
                           1);
  EXPECT_NE(r.err.find("does not verify"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("refusing to answer"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ota::tools
