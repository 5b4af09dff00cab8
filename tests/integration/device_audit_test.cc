// The device's audit log end to end, through the ota-agent binary: an
// update ends with a signed checkpoint, the reports reach a server, the
// export verifies offline with the key `audit public-key` prints, pruning
// keeps it verifiable, and an edit of agent.db is found.
#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  CommandResult update = RunDeviceAgent({"update"});
  ASSERT_EQ(update.exit_code, 0) << update.err;

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

}  // namespace
}  // namespace ota
