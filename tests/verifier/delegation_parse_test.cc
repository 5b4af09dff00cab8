// Parsing of "delegations" in targets metadata.
#include <gmock/gmock.h>

#include "ota/manifest/tuf_metadata.h"
#include "test_support.h"

namespace ota::manifest {
namespace {

using ::testing::HasSubstr;

nlohmann::json Targets(const nlohmann::json& delegations) {
  return {{"_type", "targets"},
          {"spec_version", "1.0.31"},
          {"version", 1},
          {"expires", "2030-01-01T00:00:00Z"},
          {"targets", nlohmann::json::object()},
          {"delegations", delegations}};
}

nlohmann::json Key() {
  return {{"keytype", "ed25519"},
          {"scheme", "ed25519"},
          {"keyval", {{"public", std::string(64, 'a')}}}};
}

nlohmann::json RoleEntry(const std::string& name) {
  return {{"name", name},
          {"keyids", {"k1"}},
          {"threshold", 1},
          {"terminating", false},
          {"paths", {"*"}}};
}

void ExpectRejected(const nlohmann::json& delegations, const std::string& message) {
  auto t = ParseTargets(Targets(delegations));
  ASSERT_FALSE(t.ok()) << message;
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(t.error().message, HasSubstr(message));
}

TEST(DelegationParseTest, KeepsRolesInListedOrder) {
  nlohmann::json second = RoleEntry("b");
  second.erase("paths");
  second["path_hash_prefixes"] = {"ab", "cd"};
  second["terminating"] = true;
  auto t = ParseTargets(Targets({{"keys", {{"k1", Key()}}}, {"roles", {RoleEntry("z"), second}}}));
  ASSERT_OK(t);
  ASSERT_TRUE(t->parsed_delegations.has_value());
  const Delegations& d = *t->parsed_delegations;
  ASSERT_EQ(d.roles.size(), 2u);
  EXPECT_EQ(d.roles[0].name, "z");
  EXPECT_EQ(*d.roles[0].paths, std::vector<std::string>{"*"});
  EXPECT_FALSE(d.roles[0].path_hash_prefixes.has_value());
  EXPECT_EQ(d.roles[1].name, "b");
  EXPECT_TRUE(d.roles[1].terminating);
  EXPECT_EQ(*d.roles[1].path_hash_prefixes, (std::vector<std::string>{"ab", "cd"}));
  EXPECT_EQ(d.keys.count("k1"), 1u);
  EXPECT_FALSE(d.succinct_roles);
  // Round trip through ToJson of the typed form.
  manifest::Targets copy = *t;
  copy.delegations = nullptr;
  auto again = ParseTargets(ToJson(copy));
  ASSERT_OK(again);
  EXPECT_EQ(again->parsed_delegations->roles[1].path_hash_prefixes, d.roles[1].path_hash_prefixes);
}

TEST(DelegationParseTest, NoDelegationsMeansNone) {
  nlohmann::json doc = Targets(nullptr);
  doc.erase("delegations");
  auto t = ParseTargets(doc);
  ASSERT_OK(t);
  EXPECT_FALSE(t->parsed_delegations.has_value());
}

TEST(DelegationParseTest, Rejections) {
  nlohmann::json both = RoleEntry("a");
  both["path_hash_prefixes"] = {"00"};
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {both}}}, "exactly one of paths");
  nlohmann::json neither = RoleEntry("a");
  neither.erase("paths");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {neither}}}, "exactly one of paths");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {RoleEntry("a"), RoleEntry("a")}}},
                 "lists role \"a\" twice");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {RoleEntry("targets")}}},
                 "\"targets\" is a top-level role");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {RoleEntry("root")}}},
                 "is a top-level role");
  nlohmann::json no_terminating = RoleEntry("a");
  no_terminating.erase("terminating");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {no_terminating}}}, "terminating");
  nlohmann::json bad_paths = RoleEntry("a");
  bad_paths["paths"] = {1};
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {bad_paths}}}, "must hold strings");
  nlohmann::json zero = RoleEntry("a");
  zero["threshold"] = 0;
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {zero}}}, "threshold");
  ExpectRejected({{"roles", nlohmann::json::array()}}, "keys");
  ExpectRejected({{"keys", nlohmann::json::object()}}, "exactly one of roles and succinct_roles");
  ExpectRejected({{"keys", {{"k1", Key()}}}, {"roles", {RoleEntry("a")}}, {"succinct_roles", {}}},
                 "exactly one of roles and succinct_roles");
  ExpectRejected({{"keys", {{"k1", {{"keytype", "ed25519"}}}}}, {"roles", nlohmann::json::array()}},
                 "k1");
}

nlohmann::json Succinct(const nlohmann::json& bit_length) {
  return {
      {"keys", {{"k1", Key()}}},
      {"succinct_roles",
       {{"keyids", {"k1"}}, {"threshold", 1}, {"bit_length", bit_length}, {"name_prefix", "bin"}}}};
}

TEST(DelegationParseTest, SuccinctRolesAreParsed) {
  auto t = ParseTargets(Targets(Succinct(5)));
  ASSERT_OK(t);
  ASSERT_TRUE(t->parsed_delegations->succinct_roles);
  const SuccinctRoles& s = *t->parsed_delegations->succinct_roles;
  EXPECT_EQ(s.keyids, std::vector<std::string>{"k1"});
  EXPECT_EQ(s.threshold, 1u);
  EXPECT_EQ(s.bit_length, 5u);
  EXPECT_EQ(s.name_prefix, "bin");
  EXPECT_TRUE(t->parsed_delegations->roles.empty());
  // The typed form serializes back to the same object.
  auto copy = *t;
  copy.delegations = nullptr;
  EXPECT_EQ(ToJson(copy)["delegations"]["succinct_roles"], Succinct(5)["succinct_roles"]);
}

TEST(DelegationParseTest, SuccinctRolesNeedSaneFields) {
  ExpectRejected(Succinct(0), "bit_length");
  ExpectRejected(Succinct(33), "bit_length");
  ExpectRejected(Succinct("2"), "bit_length");
  nlohmann::json no_threshold = Succinct(2);
  no_threshold["succinct_roles"].erase("threshold");
  ExpectRejected(no_threshold, "threshold");
  nlohmann::json no_prefix = Succinct(2);
  no_prefix["succinct_roles"].erase("name_prefix");
  ExpectRejected(no_prefix, "name_prefix");
}

}  // namespace
}  // namespace ota::manifest
