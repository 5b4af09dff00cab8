// otactl audit verify (the built binary): its lines and exit codes for an
// honest export, a tampered one and files that are not exports.
#include <gtest/gtest.h>

#include <string>

#include "ota/common/filesystem.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {
namespace {

using ota::testing::FakeRandom;
using ota::testing::RunOtactl;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;

constexpr char kWhen[] = "2026-12-06T12:00:00Z";

class AuditVerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeRandom random(3);
    key_ = verifier::GenerateEd25519Key(random).value();
    auto fs = MakePosixFileSystem();
    ASSERT_TRUE(verifier::SavePublicKey(*fs, dir_.Sub("server.pub"), key_.public_key).ok());
  }

  // An export of `records` server records with a checkpoint at the head.
  std::string Export(int records) {
    std::string out;
    manifest::AuditExportWriter w(
        [&out](std::string_view line) {
          out.append(line);
          return Ok();
        },
        "server", kWhen, nlohmann::json::object());
    std::string prev(manifest::kAuditGenesis);
    for (int seq = 1; seq <= records; ++seq) {
      const std::string body =
          manifest::AuditBody({{"type", "note"}, {"time", kWhen}, {"n", seq}}).value();
      const std::string hash = manifest::AuditLink(prev, seq, manifest::AuditBodyDigest(body));
      EXPECT_TRUE(w.Record("server", seq, prev, hash, body).ok());
      prev = hash;
    }
    manifest::AuditCheckpoint c{"server", records, prev, kWhen, key_.keyid, ""};
    c.signature = verifier::SignBytes(key_, manifest::AuditCheckpointSigningBytes(c)).value();
    EXPECT_TRUE(w.Checkpoint(c).ok());
    head_ = prev;
    EXPECT_TRUE(
        w.Finish(kWhen,
                 [this](std::string_view bytes) -> Result<manifest::AuditExportWriter::Signature> {
                   OTA_ASSIGN_OR_RETURN(std::string sig, verifier::SignBytes(key_, bytes));
                   return manifest::AuditExportWriter::Signature{key_.keyid, sig};
                 })
            .ok());
    return out;
  }

  TempDir dir_;
  verifier::PrivateKey key_;
  std::string head_;
};

TEST_F(AuditVerifyCliTest, HonestExportVerifies) {
  WriteTestFile(dir_.Sub("export.jsonl"), Export(5));
  auto r =
      RunOtactl({"audit", "verify", dir_.Sub("export.jsonl"), "--key", dir_.Sub("server.pub")});
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "verified 5 records, chain head " + head_ + ", last checkpoint #5");
}

TEST_F(AuditVerifyCliTest, TamperedExportExitsOne) {
  std::string text = Export(5);
  text.replace(text.find("\"n\":3"), 5, "\"n\":4");
  WriteTestFile(dir_.Sub("export.jsonl"), text);
  auto r =
      RunOtactl({"audit", "verify", dir_.Sub("export.jsonl"), "--key", dir_.Sub("server.pub")}, 1);
  EXPECT_EQ(r.err, "otactl: " + dir_.Sub("export.jsonl") +
                       ": tampered: line 4: record #3 of server: its hash does not match its "
                       "body (the record was edited)\n");
}

TEST_F(AuditVerifyCliTest, UnreadableInputExitsThree) {
  WriteTestFile(dir_.Sub("notes.txt"), "hello\n");
  auto r =
      RunOtactl({"audit", "verify", dir_.Sub("notes.txt"), "--key", dir_.Sub("server.pub")}, 3);
  EXPECT_NE(r.err.find("unreadable: not an audit export"), std::string::npos) << r.err;
  r = RunOtactl({"audit", "verify", dir_.Sub("missing.jsonl"), "--key", dir_.Sub("server.pub")}, 3);
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
  WriteTestFile(dir_.Sub("export.jsonl"), Export(1));
  r = RunOtactl({"audit", "verify", dir_.Sub("export.jsonl"), "--key", dir_.Sub("nokey.pub")}, 3);
  EXPECT_NE(r.err.find("key " + dir_.Sub("nokey.pub")), std::string::npos) << r.err;
}

TEST_F(AuditVerifyCliTest, JsonOutputNamesTheProblem) {
  std::string text = Export(3);
  text.erase(text.find("{\"body\""),
             text.find('\n', text.find("{\"body\"")) - text.find("{\"body\"") + 1);  // Record #1.
  WriteTestFile(dir_.Sub("export.jsonl"), text);
  auto r = RunOtactl(
      {"audit", "verify", dir_.Sub("export.jsonl"), "--key", dir_.Sub("server.pub"), "--json"}, 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "tampered");
  EXPECT_EQ(j["line"], 2);
  EXPECT_NE(j["problem"].get<std::string>().find("server starts at record #2"), std::string::npos);
}

}  // namespace
}  // namespace ota::tools
