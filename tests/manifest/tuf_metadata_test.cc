#include "ota/manifest/tuf_metadata.h"

#include <gmock/gmock.h>

#include "test_support.h"

namespace ota::manifest {
namespace {

using ::testing::HasSubstr;

const std::string kPub(64, 'a');
const std::string kSha256(64, '0');
const std::string kSha512(128, '1');

nlohmann::json ValidRoot() {
  nlohmann::json key = {
      {"keytype", "ed25519"}, {"scheme", "ed25519"}, {"keyval", {{"public", kPub}}}};
  nlohmann::json role = {{"keyids", {"k1"}}, {"threshold", 1}};
  return {{"_type", "root"},
          {"spec_version", "1.0.31"},
          {"version", 1},
          {"expires", "2030-01-01T00:00:00Z"},
          {"consistent_snapshot", true},
          {"keys", {{"k1", key}}},
          {"roles", {{"root", role}, {"timestamp", role}, {"snapshot", role}, {"targets", role}}}};
}

nlohmann::json ValidTargets() {
  return {{"_type", "targets"},
          {"spec_version", "1.0"},
          {"version", 3},
          {"expires", "2030-01-01T00:00:00Z"},
          {"targets",
           {{"bundles/a.otab",
             {{"length", 10},
              {"hashes", {{"sha256", kSha256}, {"sha512", kSha512}}},
              {"custom", {{"x", 1}}}}}}}};
}

// Expects the parser to refuse `doc` with a message containing `fragment`.
template <typename Parser>
void ExpectRejected(Parser parse, const nlohmann::json& doc, const std::string& fragment) {
  auto r = parse(doc);
  ASSERT_FALSE(r.ok()) << doc.dump();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr(fragment));
}

TEST(ExpiresTest, ParsesUtcCivilTimes) {
  EXPECT_EQ(*ParseExpires("1970-01-01T00:00:00Z"), TimePoint{});
  EXPECT_EQ(ParseExpires("2000-02-29T12:34:56Z")->time_since_epoch(),
            std::chrono::seconds(951827696));
  EXPECT_EQ(ParseExpires("2038-01-19T03:14:08Z")->time_since_epoch(),
            std::chrono::seconds(2147483648LL));
  EXPECT_EQ(ParseExpires("1969-12-31T23:59:59Z")->time_since_epoch(), std::chrono::seconds(-1));
  EXPECT_EQ(*ParseExpires("9999-12-31T23:59:59Z"), TimePoint::max());
}

TEST(ExpiresTest, RefusesOtherForms) {
  for (const char* text : {"2001-02-29T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-01T24:00:00Z",
                           "2030-01-01T00:60:00Z", "2030-01-01T00:00:00", "2030-01-01 00:00:00Z",
                           "2030-01-01T00:00:00.5Z", "2030-01-01T00:00:00+00:00", "30-01-01",
                           "2030-1-01T00:00:00Z", "2030-01-00T00:00:00Z"}) {
    EXPECT_FALSE(ParseExpires(text).ok()) << text;
  }
}

TEST(ExpiresTest, FormatRoundTrips) {
  for (const char* text : {"1970-01-01T00:00:00Z", "2000-02-29T12:34:56Z", "2100-03-01T00:00:00Z",
                           "1900-01-01T23:59:59Z"}) {
    EXPECT_EQ(FormatExpires(*ParseExpires(text)), text);
  }
  EXPECT_EQ(FormatExpires(TimePoint(std::chrono::milliseconds(1500))), "1970-01-01T00:00:01Z");
}

TEST(RootTest, ParsesAndRoundTrips) {
  auto root = ParseRoot(ValidRoot());
  ASSERT_OK(root);
  EXPECT_EQ(root->version, 1u);
  EXPECT_TRUE(root->consistent_snapshot);
  EXPECT_EQ(root->keys.at("k1").public_value, kPub);
  EXPECT_EQ(root->roles.at("targets").keyids, std::vector<std::string>{"k1"});
  EXPECT_EQ(ToJson(*root), ValidRoot());
}

TEST(RootTest, AcceptsSpecVersionsOfMajorOne) {
  for (const char* v : {"1.0", "1.0.31", "1.2", "1.10.0"}) {
    auto doc = ValidRoot();
    doc["spec_version"] = v;
    EXPECT_OK(ParseRoot(doc));
  }
}

TEST(RootTest, Rejections) {
  auto with = [](const char* field, nlohmann::json value) {
    auto doc = ValidRoot();
    doc[field] = std::move(value);
    return doc;
  };
  ExpectRejected(ParseRoot, with("_type", "targets"), "\"_type\" is \"targets\"");
  for (const char* v : {"2.0", "1", "1.x", "0.9", "1.0.0.1", ""}) {
    ExpectRejected(ParseRoot, with("spec_version", v), "spec_version");
  }
  ExpectRejected(ParseRoot, with("version", 0), "must be at least 1");
  ExpectRejected(ParseRoot, with("version", -1), "must not be negative");
  ExpectRejected(ParseRoot, with("version", 1.0), "must be an integer");
  ExpectRejected(ParseRoot, with("version", "1"), "must be an integer");
  ExpectRejected(ParseRoot, with("expires", "2030-01-01"), "YYYY-MM-DDTHH:MM:SSZ");
  ExpectRejected(ParseRoot, with("consistent_snapshot", 1), "true or false");

  auto no_role = ValidRoot();
  no_role["roles"].erase("snapshot");
  ExpectRejected(ParseRoot, no_role, "has no snapshot role");
  auto zero = ValidRoot();
  zero["roles"]["root"]["threshold"] = 0;
  ExpectRejected(ParseRoot, zero, "threshold");
  auto unknown = ValidRoot();
  unknown["roles"]["root"]["keyids"] = {"k2"};
  ExpectRejected(ParseRoot, unknown, "keyid k2 that is not in \"keys\"");
  auto twice = ValidRoot();
  twice["roles"]["root"]["keyids"] = {"k1", "k1"};
  ExpectRejected(ParseRoot, twice, "lists k1 twice");
  auto bad_key = ValidRoot();
  bad_key["keys"]["k1"]["keyval"]["public"] = "abc";
  ExpectRejected(ParseRoot, bad_key, "64 hex digits");
  auto missing = ValidRoot();
  missing.erase("keys");
  ExpectRejected(ParseRoot, missing, "\"keys\" is missing");
}

TEST(RootTest, KeepsOtherKeyTypesForLaterVerification) {
  auto doc = ValidRoot();
  doc["keys"]["k2"] = {{"keytype", "ecdsa"},
                       {"scheme", "ecdsa-sha2-nistp256"},
                       {"keyval", {{"public", "-----BEGIN PUBLIC KEY-----\nMFkw\n"}}}};
  auto root = ParseRoot(doc);
  ASSERT_OK(root);
  EXPECT_EQ(root->keys.at("k2").keytype, "ecdsa");
}

TEST(TargetsTest, ParsesAndRoundTrips) {
  auto doc = ValidTargets();
  doc["delegations"] = {{"keys", nlohmann::json::object()}, {"roles", nlohmann::json::array()}};
  auto t = ParseTargets(doc);
  ASSERT_OK(t);
  const TargetFile& f = t->targets.at("bundles/a.otab");
  EXPECT_EQ(f.length, 10u);
  EXPECT_EQ(f.hashes.at("sha512"), kSha512);
  EXPECT_EQ(f.custom["x"], 1);
  EXPECT_TRUE(t->delegations.is_object());
  EXPECT_EQ(ToJson(*t), doc);
}

TEST(TargetsTest, Rejections) {
  auto target = [](nlohmann::json entry) {
    auto doc = ValidTargets();
    doc["targets"]["bundles/a.otab"] = std::move(entry);
    return doc;
  };
  ExpectRejected(ParseTargets, target({{"length", -1}, {"hashes", {{"sha256", kSha256}}}}),
                 "must not be negative");
  ExpectRejected(ParseTargets, target({{"length", 1}, {"hashes", {{"md5", kSha256}}}}),
                 "unsupported algorithm \"md5\"");
  ExpectRejected(ParseTargets,
                 target({{"length", 1}, {"hashes", {{"sha256", std::string(64, 'A')}}}}),
                 "lower-case hex");
  ExpectRejected(ParseTargets, target({{"length", 1}, {"hashes", {{"sha512", kSha256}}}}),
                 "128 lower-case hex");
  ExpectRejected(ParseTargets, target({{"length", 1}, {"hashes", nlohmann::json::object()}}),
                 "at least one hash");
  ExpectRejected(ParseTargets, target({{"length", 1}}), "\"hashes\" is missing");
  ExpectRejected(
      ParseTargets,
      target({{"length", 1}, {"hashes", {{"sha256", kSha256}}}, {"custom", "not an object"}}),
      "custom");
  auto bad_delegations = ValidTargets();
  bad_delegations["delegations"] = nlohmann::json::array();
  ExpectRejected(ParseTargets, bad_delegations, "delegations");
}

TEST(TimestampSnapshotTest, ParseAndRejections) {
  nlohmann::json ts = {
      {"_type", "timestamp"},
      {"spec_version", "1.0.31"},
      {"version", 5},
      {"expires", "2030-01-01T00:00:00Z"},
      {"meta",
       {{"snapshot.json", {{"version", 4}, {"length", 100}, {"hashes", {{"sha256", kSha256}}}}}}}};
  auto parsed = ParseTimestamp(ts);
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->snapshot.version, 4u);
  EXPECT_EQ(parsed->snapshot.length, 100u);
  EXPECT_EQ(ToJson(*parsed), ts);

  auto extra = ts;
  extra["meta"]["targets.json"] = {{"version", 1}};
  ExpectRejected(ParseTimestamp, extra, "exactly \"snapshot.json\"");
  auto zero = ts;
  zero["meta"]["snapshot.json"]["version"] = 0;
  ExpectRejected(ParseTimestamp, zero, "at least 1");

  nlohmann::json snap = {{"_type", "snapshot"},
                         {"spec_version", "1.0.31"},
                         {"version", 4},
                         {"expires", "2030-01-01T00:00:00Z"},
                         {"meta", {{"targets.json", {{"version", 3}}}}}};
  auto s = ParseSnapshot(snap);
  ASSERT_OK(s);
  EXPECT_FALSE(s->meta.at("targets.json").length.has_value());
  EXPECT_TRUE(s->meta.at("targets.json").hashes.empty());
  EXPECT_EQ(ToJson(*s), snap);
  ExpectRejected(ParseSnapshot, ts, "\"_type\" is \"timestamp\"");
}

TEST(EnvelopeTest, ParsesAndSerializes) {
  const std::string text =
      R"({"signatures": [{"keyid": "k1", "sig": "ab"}], "signed": {"_type": "x", "n": 1}})";
  auto env = ParseEnvelope(text);
  ASSERT_OK(env);
  ASSERT_EQ(env->signatures.size(), 1u);
  EXPECT_EQ(env->signatures[0].keyid, "k1");
  EXPECT_EQ(env->signed_json["n"], 1);
  const std::string out = SerializeEnvelope(*env);
  EXPECT_EQ(out.back(), '\n');
  auto again = ParseEnvelope(out);
  ASSERT_OK(again);
  EXPECT_EQ(again->signed_json, env->signed_json);
  EXPECT_EQ(*MetadataType(env->signed_json), "x");
}

TEST(EnvelopeTest, Rejections) {
  for (const char* text :
       {R"({"signed": {}})", R"({"signatures": []})", R"({"signed": [], "signatures": []})",
        R"({"signed": {}, "signatures": [{"keyid": "k"}]})",
        R"({"signed": {}, "signatures": [{"keyid": 1, "sig": "a"}]})",
        R"({"signed": {"a": 1, "a": 2}, "signatures": []})", R"([])", R"(nope)"}) {
    auto env = ParseEnvelope(text);
    ASSERT_FALSE(env.ok()) << text;
    EXPECT_EQ(env.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(ParseEnvelope(R"({"signed": {}, "signatures": []})", 10).ok());
}

}  // namespace
}  // namespace ota::manifest
