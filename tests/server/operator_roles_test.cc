// Operator tokens carry a role and an expiry: every operator endpoint checks
// the role, administrators manage tokens through the API, and each change is
// in the server audit log.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "events.h"
#include "fleet_fixture.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::server {
namespace {

using nlohmann::json;

class FleetRolesTest : public FleetTest {
 protected:
  // POST /v1/tokens as `by` (the fixture's administrator by default).
  httplib::Result CreateToken(const json& body, const std::string& by = "") {
    httplib::Headers h{{"Authorization", "Bearer " + (by.empty() ? token_ : by)}};
    return Client()->Post("/v1/tokens", h, body.dump(), "application/json");
  }

  // A new token of `role`, created through the API.
  std::string TokenOf(const std::string& name, const std::string& role) {
    auto r = CreateToken({{"name", name}, {"role", role}});
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).value("token", "");
  }

  static int StatusOf(const httplib::Result& r) { return r ? r->status : -1; }

  static std::string CodeOf(const httplib::Result& r) {
    if (!r) return "(no answer)";
    json j = json::parse(r->body, nullptr, false);
    return j.is_object() ? j.value("code", "(none)") : "(not json)";
  }

  httplib::Result PostAs(const std::string& path, const json& body, const std::string& token) {
    httplib::Headers h{{"Authorization", "Bearer " + token}};
    return Client()->Post(path.c_str(), h, body.dump(), "application/json");
  }

  httplib::Result Revoke(const std::string& name, const std::string& by) {
    httplib::Headers h{{"Authorization", "Bearer " + by}};
    return Client()->Delete(("/v1/tokens/" + name).c_str(), h);
  }
};

TEST_F(FleetRolesTest, EachRoleReachesWhatTheTableGrantsAndNothingElse) {
  const std::map<std::string, std::string> tokens = {
      {"viewer", TokenOf("vera", "viewer")},
      {"release-manager", TokenOf("rita", "release-manager")},
      {"auditor", TokenOf("aude", "auditor")},
      {"administrator", TokenOf("adam", "administrator")},
  };
  struct Expect {
    bool rollouts, audit, tokens;
  };
  const std::map<std::string, Expect> grants = {
      {"viewer", {false, false, false}},
      {"release-manager", {true, false, false}},
      {"auditor", {false, true, false}},
      {"administrator", {true, true, true}},
  };
  int rollout = 0;
  for (const auto& [role, token] : tokens) {
    SCOPED_TRACE(role);
    const Expect e = grants.at(role);
    // Reading is every role's.
    for (const char* path : {"/v1/fleet", "/v1/rollouts", "/v1/events?device_id=none"}) {
      EXPECT_EQ(StatusOf(Get(path, token)), 200) << path;
    }
    auto who = Get("/v1/whoami", token);
    ASSERT_EQ(StatusOf(who), 200);
    EXPECT_EQ(json::parse(who->body)["role"], role);

    json body = CreateBody(json::object());
    body["manifest"]["rollout_id"] = "r-" + std::to_string(++rollout);
    body["manifest"]["model"] = "m-" + std::to_string(rollout);
    auto created = PostAs("/v1/rollouts", body, token);
    EXPECT_EQ(StatusOf(created), e.rollouts ? 201 : 403) << created->body;
    if (!e.rollouts) {
      EXPECT_EQ(CodeOf(created), "insufficient-role");
      EXPECT_NE(created->body.find("release-manager or administrator"), std::string::npos);
    }
    auto pause = PostAs("/v1/rollouts/r-1/pause", {{"reason", "check"}}, token);
    EXPECT_EQ(StatusOf(pause) == 403, !e.rollouts) << pause->body;

    auto audit = Get("/v1/audit/export", token);
    EXPECT_EQ(StatusOf(audit), e.audit ? 200 : 403);
    auto list = Get("/v1/tokens", token);
    EXPECT_EQ(StatusOf(list), e.tokens ? 200 : 403);
    auto made = CreateToken({{"name", "x-" + role}, {"role", "administrator"}}, token);
    EXPECT_EQ(StatusOf(made), e.tokens ? 201 : 403);
    EXPECT_EQ(StatusOf(Revoke("x-" + role, token)), e.tokens ? 200 : 403);
  }
}

TEST_F(FleetRolesTest, ATokenStopsWorkingWhenItExpires) {
  auto r = CreateToken({{"name", "temp"}, {"role", "viewer"}, {"expires_in_days", 1}});
  ASSERT_EQ(StatusOf(r), 201) << r->body;
  const json made = json::parse(r->body);
  const std::string token = made["token"];
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  EXPECT_EQ(made["expires_at"], now + 86400);
  EXPECT_EQ(StatusOf(Get("/v1/fleet", token)), 200);
  clock_.Advance(std::chrono::seconds(86400 - 1));
  EXPECT_EQ(StatusOf(Get("/v1/fleet", token)), 200);
  clock_.Advance(std::chrono::seconds(1));
  auto expired = Get("/v1/fleet", token);
  EXPECT_EQ(StatusOf(expired), 403);
  EXPECT_EQ(CodeOf(expired), "token-expired");
  EXPECT_EQ(CodeOf(Get("/v1/whoami", token)), "token-expired");
  // The listing says so; the secret is never listed.
  auto list = Get("/v1/tokens", token_);
  ASSERT_EQ(StatusOf(list), 200);
  EXPECT_EQ(list->body.find(token), std::string::npos);
  bool seen = false;
  const json listed = json::parse(list->body);
  for (const json& t : listed["tokens"]) {
    if (t["name"] != "temp") continue;
    seen = true;
    EXPECT_EQ(t["expired"], true);
    EXPECT_EQ(t["role"], "viewer");
    EXPECT_EQ(t["created_by"], "operator:alice");
  }
  EXPECT_TRUE(seen) << list->body;
}

TEST_F(FleetRolesTest, TokenChangesAreAuditedWithWhoMadeThem) {
  const std::string auditor = TokenOf("aude", "auditor");
  EXPECT_EQ(StatusOf(Get("/v1/fleet", auditor)), 200);
  ASSERT_EQ(StatusOf(Revoke("aude", token_)), 200);
  auto refused = Get("/v1/fleet", auditor);
  EXPECT_EQ(StatusOf(refused), 403);
  EXPECT_EQ(CodeOf(refused), "forbidden");
  // Revoked twice, and names never come back.
  EXPECT_EQ(StatusOf(Revoke("aude", token_)), 404);
  auto again = CreateToken({{"name", "aude"}, {"role", "viewer"}});
  EXPECT_EQ(StatusOf(again), 409);
  EXPECT_EQ(CodeOf(again), "exists");

  auto exported = Get("/v1/audit/export", token_);
  ASSERT_EQ(StatusOf(exported), 200);
  const std::vector<json> records = Records(exported->body);
  const auto created = OfType(records, "operator-token-created");
  const auto revoked = OfType(records, "operator-token-revoked");
  ASSERT_EQ(created.size(), 2u);  // alice (by ota-server token create) and aude.
  EXPECT_EQ(created[0]["actor"]["name"], "server-admin");
  EXPECT_EQ(created[1]["actor"], json({{"name", "alice"}, {"role", "operator"}}));
  EXPECT_EQ(created[1]["token_name"], "aude");
  EXPECT_EQ(created[1]["role"], "auditor");
  EXPECT_TRUE(created[1]["expires_at"].is_number_integer());
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0]["actor"], json({{"name", "alice"}, {"role", "operator"}}));
  EXPECT_EQ(revoked[0]["token_name"], "aude");
}

TEST_F(FleetRolesTest, BadTokenRequestsAreRefusedWithOnePreciseMessage) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"role": "viewer"})", "name must be a string"},
      {R"({"name": "x", "role": "root"})",
       "role must be one of viewer, release-manager, auditor, administrator"},
      {R"({"name": "bad name", "role": "viewer"})",
       "token name must be 1 to 64 characters from [A-Za-z0-9._-]"},
      {R"({"name": "x", "role": "viewer", "expires_in_days": 0})",
       "expires_in_days must be a whole number from 1 to 3650"},
      {R"({"name": "x", "role": "viewer", "expires_in_days": 3651})",
       "expires_in_days must be a whole number from 1 to 3650"},
      {R"({"name": "x", "role": "viewer", "expires_in_days": "7"})",
       "expires_in_days must be a whole number from 1 to 3650"},
      {R"({"name": "x", "role": "viewer", "expires_at": 5})",
       "expires_at must be Unix seconds after now and within 3650 days"},
      {R"({"name": "x", "role": "viewer", "expires_at": 1, "expires_in_days": 1})",
       "give expires_in_days or expires_at, not both"},
      {R"({"name": "x", "role": "viewer", "scope": "all"})", "unknown field scope"},
      {R"([1, 2])", "body must be a JSON object"},
  };
  for (const auto& [body, message] : cases) {
    httplib::Headers h{{"Authorization", "Bearer " + token_}};
    auto r = Client()->Post("/v1/tokens", h, body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << body;
    json j = json::parse(r->body);
    EXPECT_EQ(j["error"], message) << body;
    EXPECT_EQ(j["code"], "bad-request") << body;
  }
  httplib::Headers h{{"Authorization", "Bearer " + token_}};
  auto big = Client()->Post("/v1/tokens", h, std::string(10000, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(CodeOf(big), "payload-too-large");
  // Nothing was created by any of them.
  auto list = Get("/v1/tokens", token_);
  ASSERT_EQ(StatusOf(list), 200);
  EXPECT_EQ(json::parse(list->body)["tokens"].size(), 1u);
  // Without a token nothing about tokens is readable or writable.
  EXPECT_EQ(StatusOf(Get("/v1/tokens", "")), 401);
  EXPECT_EQ(StatusOf(CreateToken({{"name", "y"}, {"role", "viewer"}}, "ota_wrong-token")), 403);
  EXPECT_EQ(StatusOf(Revoke("alice", "ota_wrong-token")), 403);
  EXPECT_EQ(StatusOf(Get("/v1/whoami", "")), 401);
}

TEST_F(FleetRolesTest, TokensFromBeforeRolesAreAdministratorsThatNeverExpire) {
  // A row as the schema before roles wrote it: the migration's defaults
  // apply to it.
  {
    auto db = OpenFleetDatabase(db_);
    ASSERT_OK(db);
    auto ins = (*db)->Prepare(
        "INSERT INTO operator_tokens (token_sha256, name, created_at) VALUES (?, 'old', 1)");
    ASSERT_OK(ins);
    ins->Bind(1, Sha256Hex("ota_token-from-an-older-server"));
    ASSERT_OK(ins->Run());
  }
  auto who = Get("/v1/whoami", "ota_token-from-an-older-server");
  ASSERT_EQ(StatusOf(who), 200);
  const json j = json::parse(who->body);
  EXPECT_EQ(j["role"], "administrator");
  EXPECT_TRUE(j["expires_at"].is_null());
  EXPECT_EQ(j["permissions"].size(), 4u);
}

TEST_F(FleetRolesTest, EveryErrorAnswerHasACode) {
  auto unknown = Get("/v1/nothing-here", token_);
  EXPECT_EQ(StatusOf(unknown), 404);
  EXPECT_EQ(CodeOf(unknown), "not-found");
  auto missing = Get("/repo/metadata/999.root.json", "");
  EXPECT_EQ(StatusOf(missing), 404);
  EXPECT_EQ(CodeOf(missing), "not-found");
  auto gone = Post("/v1/events", json::object());
  EXPECT_EQ(StatusOf(gone), 410);
  EXPECT_EQ(CodeOf(gone), "gone");
  auto bad = Post("/v1/reports", json::array());
  EXPECT_EQ(StatusOf(bad), 400);
  EXPECT_EQ(CodeOf(bad), "bad-request");
}

}  // namespace
}  // namespace ota::server
