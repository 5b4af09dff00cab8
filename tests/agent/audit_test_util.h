// A device audit log in a temporary state folder for the audit tests: a
// StateDb with a device id, a report key, a manual clock, and a way to edit
// agent.db behind the agent's back (as anyone with file access could).
#ifndef OTA_TESTS_AGENT_AUDIT_TEST_UTIL_H_
#define OTA_TESTS_AGENT_AUDIT_TEST_UTIL_H_

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include <gtest/gtest.h>

#include "device_audit.h"
#include "ota/common/env.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"
#include "state_db.h"
#include "test_support.h"

namespace ota::agent {

class AuditTestBase : public ::testing::Test {
 protected:
  AuditTestBase() : fs_(MakePosixFileSystem()), random_(MakeSecureRandom()) {
    env_.clock = &clock_;
    env_.fs = fs_.get();
    env_.random = random_.get();
    auto key = verifier::GenerateEd25519Key(*random_);
    EXPECT_TRUE(key.ok());
    if (key.ok()) key_ = std::move(*key);
  }

  void SetUp() override { OpenDb(); }

  void OpenDb() {
    db_.reset();
    auto db = StateDb::Open(dir_.Sub("agent.db"));
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->SetSetting("device_id", "dev1").ok());
  }

  // Queues an event of `type` at the clock's time, one second apart.
  void Queue(const std::string& type, const std::string& model = "chat") {
    nlohmann::json e = {
        {"type", type}, {"time", manifest::FormatExpires(clock_.Now())}, {"n", ++queued_}};
    if (!model.empty()) e["model"] = model;
    auto s = db_->QueueEvent(e.dump());
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    clock_.Advance(std::chrono::seconds(1));
  }

  AuditSigner Signer() const { return AuditSigner{"dev1", key_}; }

  // Signs a checkpoint of the head; its seq (0: none signed).
  std::int64_t Checkpoint() {
    auto c = CheckpointAuditHead(env_, *db_, Signer(), /*always=*/false);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() && c->has_value() ? (*c)->seq : 0;
  }

  // The first problem VerifyAuditChain finds ("" when intact).
  std::string Problem() {
    auto broken = db_->VerifyAuditChain(key_.public_key);
    EXPECT_TRUE(broken.ok());
    if (!broken.ok() || !broken->has_value()) return "";
    return (*broken)->message;
  }
  std::int64_t ProblemSeq() {
    auto broken = db_->VerifyAuditChain(key_.public_key);
    return broken.ok() && broken->has_value() ? (*broken)->seq : 0;
  }

  void Tamper(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.Sub("agent.db").c_str(), &raw), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(raw);
  }

  ota::testing::TempDir dir_;
  ota::testing::ManualClock clock_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  Env env_;
  verifier::PrivateKey key_;
  std::unique_ptr<StateDb> db_;
  int queued_ = 0;
};

}  // namespace ota::agent

#endif  // OTA_TESTS_AGENT_AUDIT_TEST_UTIL_H_
