// The device's audit log end to end, through the ota-agent binary: an
// update ends with a signed checkpoint, the reports reach a server, the
// export verifies offline with the key `audit public-key` prints, pruning
// keeps it verifiable, and an edit of agent.db is found.
#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ota/agent/tls.h"
#include "ota/common/hash.h"
#include "ota/verifier/audit_verify.h"
#include "ota/verifier/keys.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::RunCommand;

class DeviceAuditTest : public ota::testing::RepoFixture {
 protected:
  CommandResult RunDeviceAgent(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("ota-agent"), "--state-dir", dir_.Sub("device")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // Version 1.0.0 published, the device enrolled and updated to it.
  void InstallFirstVersion() {
    Publish("1.0.0", 1);
    StartServer();
    Enroll();
    CommandResult update = RunDeviceAgent({"update"});
    ASSERT_EQ(update.exit_code, 0) << update.err;
  }

  nlohmann::json AuditJson() {
    CommandResult audit = RunDeviceAgent({"audit", "--json"});
    EXPECT_EQ(audit.exit_code, 0) << audit.err;
    return nlohmann::json::parse(audit.out, nullptr, false);
  }

  // Exports with `filters` and verifies the file with the device's key.
  verifier::AuditVerifyResult ExportAndVerify(std::vector<std::string> filters) {
    const std::string file = dir_.Sub("device.audit.jsonl");
    std::vector<std::string> args = {"audit", "export", "--out", file};
    args.insert(args.end(), filters.begin(), filters.end());
    CommandResult exported = RunDeviceAgent(args);
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    CommandResult key = RunDeviceAgent({"audit", "public-key", "--out", dir_.Sub("device.pub")});
    EXPECT_EQ(key.exit_code, 0) << key.err;
    auto public_key = verifier::LoadPublicKey(*fs_, dir_.Sub("device.pub"));
    EXPECT_TRUE(public_key.ok()) << public_key.error().ToString();
    if (!public_key.ok()) return {};
    std::ifstream in(file);
    return verifier::VerifyAuditExport(in, {*public_key});
  }
};

TEST_F(DeviceAuditTest, ExportsVerifyWithTheDeviceKeyBeforeAndAfterPruning) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstVersion());

  // The run ended with a checkpoint of its head, and the server took the
  // reports (it refuses the checkpoints field it does not know yet).
  nlohmann::json audit = AuditJson();
  ASSERT_TRUE(audit.is_object());
  EXPECT_EQ(audit["intact"], true) << audit.dump();
  const std::int64_t head = audit["events"].back()["seq"].get<std::int64_t>();
  EXPECT_EQ(audit["last_checkpoint"], head);
  for (const auto& e : audit["events"]) EXPECT_EQ(e["delivered"], true) << e.dump();

  verifier::AuditVerifyResult all = ExportAndVerify({});
  EXPECT_EQ(all.verdict, verifier::AuditVerdict::kVerified) << all.message;
  EXPECT_EQ(all.records, static_cast<std::uint64_t>(head));
  // The enrolment event names no model: an omitted line with --model.
  verifier::AuditVerifyResult chat = ExportAndVerify({"--model", "chat"});
  EXPECT_EQ(chat.verdict, verifier::AuditVerdict::kVerified) << chat.message;
  ASSERT_EQ(chat.logs.size(), 1u);
  EXPECT_GE(chat.logs.begin()->second.omitted, 1u);
  EXPECT_EQ(chat.records + chat.logs.begin()->second.omitted, static_cast<std::uint64_t>(head));

  CommandResult pruned = RunDeviceAgent({"audit", "prune", "--keep", "0"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  audit = AuditJson();
  EXPECT_EQ(audit["intact"], true) << audit.dump();
  ASSERT_EQ(audit["events"].size(), 1u);
  EXPECT_EQ(audit["events"][0]["event"]["type"], "audit-pruned");
  verifier::AuditVerifyResult after = ExportAndVerify({});
  EXPECT_EQ(after.verdict, verifier::AuditVerdict::kVerified) << after.message;
  EXPECT_EQ(after.records, 1u);

  // An edit of agent.db behind the agent's back.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.Sub("device/agent.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE events SET body = replace(body, 'audit', 'other')", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  CommandResult broken = RunDeviceAgent({"audit"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("does not match its chain link (altered)"), std::string::npos)
      << broken.err;
  CommandResult refused = RunDeviceAgent({"audit", "export"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("nothing exported"), std::string::npos) << refused.err;
}

// Events of `type` in an `ota-agent audit --json` report, in order.
std::vector<nlohmann::json> EventsOfType(const nlohmann::json& audit, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& e : audit["events"]) {
    if (e["event"]["type"] == type) out.push_back(e["event"]);
  }
  return out;
}

TEST_F(DeviceAuditTest, RecordsTrustKeysVerifiedMetadataPlansAndSettingChanges) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstVersion());
  nlohmann::json audit = AuditJson();

  // Enrollment names the trusted root and the keys that speak for the device.
  auto enrolled = EventsOfType(audit, "enrolled");
  ASSERT_EQ(enrolled.size(), 1u);
  auto root = fs_->ReadFile(dir_.Sub("repo/metadata/root.json"), 1 << 20);
  ASSERT_OK(root);
  EXPECT_EQ(enrolled[0]["root_sha256"], Sha256Hex(*root));
  CommandResult key = RunDeviceAgent({"audit", "public-key", "--out", dir_.Sub("device.pub")});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  auto device_key = verifier::LoadPublicKey(*fs_, dir_.Sub("device.pub"));
  ASSERT_OK(device_key);
  EXPECT_EQ(enrolled[0]["report_key"], device_key->public_value);
  EXPECT_EQ(enrolled[0]["report_keyid"], verifier::ComputeKeyId(*device_key));
  EXPECT_EQ(enrolled[0]["recipient_key_id"].get<std::string>().size(), 64u);

  // The verified top-level metadata, with the keys that signed each role.
  auto verified = EventsOfType(audit, "metadata-verified");
  ASSERT_EQ(verified.size(), 1u);
  for (const char* role : {"root", "timestamp", "snapshot", "targets"}) {
    const nlohmann::json& r = verified[0]["roles"][role];
    auto signer = verifier::LoadPrivateKey(*fs_, Key(role));
    ASSERT_OK(signer);
    EXPECT_EQ(r["keyids"], nlohmann::json::array({signer->keyid})) << role << " " << r.dump();
    EXPECT_GE(r["version"].get<int>(), 1) << role;
    auto bytes = fs_->ReadFile(dir_.Sub(std::string("repo/metadata/") + role + ".json"), 1 << 20);
    ASSERT_OK(bytes);
    EXPECT_EQ(r["sha256"], Sha256Hex(*bytes)) << role;
  }
  EXPECT_EQ(verified[0]["changed"].size(), 4u);

  // The plan and the capability decision, before the first state change.
  auto planned = EventsOfType(audit, "planned");
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0]["version"], "1.0.0");
  EXPECT_EQ(planned[0]["plan"]["version"], "1.0.0");
  EXPECT_EQ(planned[0]["plan"]["target_id"], planned[0]["sha256"]);
  EXPECT_TRUE(planned[0]["capability"]["reason"].is_string()) << planned[0].dump();

  // How the switch met the apps' sessions (none held the old version here).
  auto drained = EventsOfType(audit, "drained");
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0]["switched"], true);
  EXPECT_EQ(drained[0]["old_released"], true);
  EXPECT_EQ(drained[0]["version"], "1.0.0");

  // A check that finds nothing new records nothing; a new publication
  // records the roles that changed (root did not).
  ASSERT_EQ(RunDeviceAgent({"check"}).exit_code, 0);
  EXPECT_EQ(EventsOfType(AuditJson(), "metadata-verified").size(), 1u);
  Publish("2.0.0", 2);
  ASSERT_EQ(RunDeviceAgent({"check"}).exit_code, 0);
  verified = EventsOfType(AuditJson(), "metadata-verified");
  ASSERT_EQ(verified.size(), 2u);
  EXPECT_EQ(verified[1]["changed"], nlohmann::json::array({"timestamp", "snapshot", "targets"}));

  // A TLS trust change is recorded with what it set, in one transaction.
  const std::string pin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  ASSERT_OK(agent::RecordTlsSettings(env_, dir_.Sub("device"), {"", {pin}}, false));
  ASSERT_OK(agent::RecordTlsSettings(env_, dir_.Sub("device"), {}, true));
  audit = AuditJson();
  EXPECT_EQ(audit["intact"], true);
  auto tls = EventsOfType(audit, "tls-settings-changed");
  ASSERT_EQ(tls.size(), 2u);
  EXPECT_EQ(tls[0]["pins"], nlohmann::json::array({pin}));
  EXPECT_EQ(tls[1]["pins"], nlohmann::json::array());
}

}  // namespace
}  // namespace ota
