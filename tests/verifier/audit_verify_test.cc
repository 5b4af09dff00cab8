// The offline audit export verifier: an honest export verifies, and each kind
// of tampering is found with its own message.
#include "ota/verifier/audit_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "ota/common/hex.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"
#include "repo_fixture.h"

namespace ota::verifier {
namespace {

using manifest::AuditCheckpoint;
using manifest::AuditExportWriter;
using ota::testing::FakeRandom;

constexpr char kTime[] = "2026-12-06T12:00:00Z";

PrivateKey NewKey(std::uint64_t seed) {
  FakeRandom random(seed);
  return GenerateEd25519Key(random).value();
}

// Builds one log's records and checkpoints, then writes them as an export.
class LogBuilder {
 public:
  explicit LogBuilder(std::string log) : log_(std::move(log)) {}

  void Add(const nlohmann::json& fields) {
    nlohmann::json body = fields;
    body["time"] = kTime;
    if (!body.contains("type")) body["type"] = "note";
    Entry e;
    e.seq = static_cast<std::int64_t>(entries_.size()) + 1;
    e.prev = entries_.empty() ? std::string(manifest::kAuditGenesis) : entries_.back().hash;
    e.body = manifest::AuditBody(body).value();
    e.hash = manifest::AuditLink(e.prev, e.seq, manifest::AuditBodyDigest(e.body));
    entries_.push_back(e);
  }
  void Checkpoint(const PrivateKey& key) {
    AuditCheckpoint c{
        log_,
        static_cast<std::int64_t>(entries_.size()),
        entries_.empty() ? std::string(manifest::kAuditGenesis) : entries_.back().hash,
        kTime,
        key.keyid,
        ""};
    c.signature = SignBytes(key, manifest::AuditCheckpointSigningBytes(c)).value();
    checkpoints_.push_back(c);
  }
  // Writes records from `from` (1-based) on, anchored by the checkpoint at
  // from-1 when from > 1; records for which `omit` says true as omitted.
  void WriteTo(AuditExportWriter& w, std::int64_t from = 1,
               const std::function<bool(std::int64_t)>& omit = nullptr) const {
    for (const AuditCheckpoint& c : checkpoints_) {
      if (from > 1 && c.seq == from - 1) {
        ASSERT_TRUE(w.Checkpoint(c).ok());
      }
    }
    for (const Entry& e : entries_) {
      if (e.seq < from) continue;
      if (omit && omit(e.seq)) {
        ASSERT_TRUE(w.Omitted(log_, e.seq, e.prev, e.hash, manifest::AuditBodyDigest(e.body)).ok());
      } else {
        ASSERT_TRUE(w.Record(log_, e.seq, e.prev, e.hash, e.body).ok());
      }
      for (const AuditCheckpoint& c : checkpoints_) {
        if (c.seq == e.seq) {
          ASSERT_TRUE(w.Checkpoint(c).ok());
        }
      }
    }
  }
  const std::string& log() const { return log_; }

 private:
  struct Entry {
    std::int64_t seq = 0;
    std::string prev, body, hash;
  };
  std::string log_;
  std::vector<Entry> entries_;
  std::vector<AuditCheckpoint> checkpoints_;
};

AuditExportWriter::Signer SignerOf(const PrivateKey& key) {
  return [&key](std::string_view bytes) -> Result<AuditExportWriter::Signature> {
    OTA_ASSIGN_OR_RETURN(std::string sig, SignBytes(key, bytes));
    return AuditExportWriter::Signature{key.keyid, sig};
  };
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  AuditVerifyTest() : server_key_(NewKey(1)), device_key_(NewKey(2)), server_("server") {
    for (int i = 0; i < 6; ++i) server_.Add({{"n", i}});
    server_.Checkpoint(server_key_);  // #6
    server_.Add({{"type", "device-enrolled"},
                 {"device_id", "dev-1"},
                 {"public_key", device_key_.public_key.public_value}});
    for (int i = 0; i < 3; ++i) server_.Add({{"n", 10 + i}});
    server_.Checkpoint(server_key_);  // #10
    server_.Add({{"n", 99}});         // #11, after the last checkpoint.
  }

  // The honest export, as lines (without newlines).
  std::vector<std::string> Export(const std::vector<const LogBuilder*>& logs) {
    std::string out;
    AuditExportWriter w(
        [&out](std::string_view line) {
          out.append(line);
          return Ok();
        },
        "server", kTime, nlohmann::json::object());
    for (const LogBuilder* log : logs) log->WriteTo(w);
    EXPECT_TRUE(w.Finish(kTime, SignerOf(server_key_)).ok());
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::vector<std::string> ServerExport() { return Export({&server_}); }

  AuditVerifyResult Verify(const std::vector<std::string>& lines,
                           std::vector<manifest::Key> keys = {}) {
    if (keys.empty()) keys.push_back(server_key_.public_key);
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    std::istringstream in(text);
    return VerifyAuditExport(in, keys);
  }

  // The index of the line holding record `seq` of `log`.
  static std::size_t LineOf(const std::vector<std::string>& lines, const std::string& log,
                            std::int64_t seq, const char* kind = "record") {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      auto j = nlohmann::json::parse(lines[i]);
      if (j["kind"] == kind && j.value("log", "") == log && j["seq"] == seq) return i;
    }
    ADD_FAILURE() << kind << " " << seq << " of " << log << " not found";
    return 0;
  }

  PrivateKey server_key_;
  PrivateKey device_key_;
  LogBuilder server_;
};

MATCHER_P(Tampered, text, "") {
  *result_listener << "verdict " << static_cast<int>(arg.verdict) << ", line " << arg.line << ": "
                   << arg.message;
  return arg.verdict == AuditVerdict::kTampered && arg.message.find(text) != std::string::npos;
}

TEST_F(AuditVerifyTest, HonestExportVerifies) {
  const auto result = Verify(ServerExport());
  ASSERT_EQ(result.verdict, AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(result.records, 11u);
  EXPECT_EQ(result.source, "server");
  const AuditLogSummary& log = result.logs.at("server");
  EXPECT_EQ(log.first_seq, 1);
  EXPECT_EQ(log.last_seq, 11);
  EXPECT_EQ(log.checkpoint_seq, 10);
  EXPECT_EQ(log.head.size(), 64u);
}

TEST_F(AuditVerifyTest, RecordsLongerThanAReadBlockVerify) {
  LogBuilder log("server");
  for (int i = 0; i < 4; ++i) log.Add({{"text", std::string(300000 + i, 'x')}});
  log.Checkpoint(server_key_);
  const auto result = Verify(Export({&log}));
  ASSERT_EQ(result.verdict, AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(result.records, 4u);
}

TEST_F(AuditVerifyTest, EditedFieldIsFound) {
  auto lines = ServerExport();
  const std::size_t i = LineOf(lines, "server", 3);
  lines[i].replace(lines[i].find("\"n\":2"), 5, "\"n\":7");
  EXPECT_THAT(Verify(lines), Tampered("record #3 of server: its hash does not match its body"));
  EXPECT_EQ(Verify(lines).line, i + 1);
}

TEST_F(AuditVerifyTest, DeletedRecordIsFound) {
  auto lines = ServerExport();
  lines.erase(lines.begin() + static_cast<long>(LineOf(lines, "server", 4)));
  EXPECT_THAT(Verify(lines), Tampered("record #5 of server follows #3: 1 record missing"));
}

TEST_F(AuditVerifyTest, TailDeletedBeforeTheLastCheckpointIsFound) {
  auto lines = ServerExport();
  const std::size_t first = LineOf(lines, "server", 8);
  const std::size_t last = LineOf(lines, "server", 10);
  lines.erase(lines.begin() + static_cast<long>(first),
              lines.begin() + static_cast<long>(last) + 1);
  EXPECT_THAT(Verify(lines), Tampered("checkpoint #10 of server follows record #7: records #8..#10 "
                                      "missing"));
}

TEST_F(AuditVerifyTest, TailDeletedBeyondTheLastCheckpointIsFound) {
  auto lines = ServerExport();
  lines.erase(lines.begin() + static_cast<long>(LineOf(lines, "server", 11)));
  EXPECT_THAT(Verify(lines), Tampered("the signed end line counts"));
}

TEST_F(AuditVerifyTest, TruncatedExportIsFound) {
  auto lines = ServerExport();
  lines.pop_back();
  EXPECT_THAT(Verify(lines), Tampered("no signed end line"));
}

TEST_F(AuditVerifyTest, ReorderedRecordsAreFound) {
  auto lines = ServerExport();
  std::swap(lines[LineOf(lines, "server", 2)], lines[LineOf(lines, "server", 3)]);
  EXPECT_THAT(Verify(lines), Tampered("record #3 of server follows #1: 1 record missing"));
}

TEST_F(AuditVerifyTest, RepeatedRecordIsFound) {
  auto lines = ServerExport();
  const std::size_t i = LineOf(lines, "server", 2);
  lines.insert(lines.begin() + static_cast<long>(i) + 1, lines[i]);
  EXPECT_THAT(Verify(lines), Tampered("record #2 of server comes after #2"));
}

TEST_F(AuditVerifyTest, InsertedRecordIsFound) {
  // A forged record linked correctly to #2, taking #3's place: the real #3
  // then forks from it.
  auto lines = ServerExport();
  const std::size_t i = LineOf(lines, "server", 2);
  const auto two = nlohmann::json::parse(lines[i]);
  const std::string body = R"({"n":42,"time":"2026-12-06T12:00:00Z","type":"note"})";
  const std::string prev = two["hash"];
  const std::string hash = manifest::AuditLink(prev, 3, manifest::AuditBodyDigest(body));
  lines.insert(lines.begin() + static_cast<long>(i) + 1,
               R"({"body":)" + body + R"(,"hash":")" + hash +
                   R"(","kind":"record","log":"server","prev":")" + prev + R"(","seq":3})");
  EXPECT_THAT(Verify(lines), Tampered("record #3 of server appears twice with different hashes"));
}

TEST_F(AuditVerifyTest, RewrittenChainFailsAtTheCheckpoint) {
  // Whoever edits #2 and recomputes every later link still cannot sign the
  // checkpoint at #6.
  auto lines = ServerExport();
  std::string prev;
  for (std::int64_t seq = 1; seq <= 6; ++seq) {
    const std::size_t i = LineOf(lines, "server", seq);
    auto j = nlohmann::json::parse(lines[i]);
    if (seq == 2) j["body"]["n"] = 5;
    if (seq > 1) j["prev"] = prev;
    const std::string body = manifest::AuditBody(j["body"]).value();
    j["hash"] =
        manifest::AuditLink(j["prev"].get<std::string>(), seq, manifest::AuditBodyDigest(body));
    prev = j["hash"];
    lines[i] = j.dump();
  }
  EXPECT_THAT(Verify(lines),
              Tampered("checkpoint #6 of server signs a head that the records before it do not"));
}

TEST_F(AuditVerifyTest, ReplacedCheckpointSignatureIsFound) {
  auto lines = ServerExport();
  const std::size_t i = LineOf(lines, "server", 6, "checkpoint");
  auto j = nlohmann::json::parse(lines[i]);
  // Signed by the right key, but over another head.
  AuditCheckpoint other{"server", 6, std::string(64, 'a'), kTime, server_key_.keyid, ""};
  j["signature"] = SignBytes(server_key_, manifest::AuditCheckpointSigningBytes(other)).value();
  lines[i] = j.dump();
  EXPECT_THAT(Verify(lines), Tampered("checkpoint #6 of server has a bad signature"));
  // Signed by a key the auditor does not trust.
  const PrivateKey stranger = NewKey(9);
  AuditCheckpoint c{"server", 6, j["head"], kTime, stranger.keyid, ""};
  j["keyid"] = stranger.keyid;
  j["signature"] = SignBytes(stranger, manifest::AuditCheckpointSigningBytes(c)).value();
  lines[i] = j.dump();
  EXPECT_THAT(Verify(lines), Tampered("which is not trusted"));
}

TEST_F(AuditVerifyTest, AlteredHeaderIsFoundByTheEndSignature) {
  auto lines = ServerExport();
  lines[0].replace(lines[0].find(kTime), 4, "2025");
  EXPECT_THAT(Verify(lines), Tampered("the file's bytes differ from those the end line signs"));
}

TEST_F(AuditVerifyTest, EndSignedByAnotherKeyIsFound) {
  const auto lines = ServerExport();
  EXPECT_THAT(Verify(lines, {NewKey(7).public_key}), Tampered("which is not trusted"));
}

TEST_F(AuditVerifyTest, DeviceLogChecksWithTheEnrolledKey) {
  LogBuilder device("device/dev-1");
  for (int i = 0; i < 4; ++i) device.Add({{"type", "activated"}, {"n", i}});
  device.Checkpoint(device_key_);
  const auto lines = Export({&server_, &device});
  const auto result = Verify(lines);
  ASSERT_EQ(result.verdict, AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(result.records, 15u);
  EXPECT_EQ(result.logs.at("device/dev-1").checkpoint_seq, 4);
}

TEST_F(AuditVerifyTest, DeviceCheckpointByAnUnenrolledKeyIsFound) {
  LogBuilder device("device/dev-2");  // Never enrolled in the server log.
  device.Add({{"n", 1}});
  device.Checkpoint(device_key_);
  EXPECT_THAT(Verify(Export({&server_, &device})),
              Tampered("checkpoint #1 of device/dev-2 is signed by key"));
}

TEST_F(AuditVerifyTest, ForkedDeviceChainIsFound) {
  LogBuilder device("device/dev-1");
  for (int i = 0; i < 3; ++i) device.Add({{"n", i}});
  LogBuilder fork("device/dev-1");
  for (int i = 0; i < 3; ++i) fork.Add({{"n", i == 2 ? 7 : i}});
  auto lines = Export({&server_, &device});
  auto forked = Export({&fork});
  lines.insert(lines.end() - 1, forked[LineOf(forked, "device/dev-1", 3)]);
  EXPECT_THAT(Verify(lines), Tampered("record #3 of device/dev-1 appears twice"));
}

TEST_F(AuditVerifyTest, FilteredExportWithOmittedRecordsVerifies) {
  std::string out;
  AuditExportWriter w(
      [&out](std::string_view line) {
        out.append(line);
        return Ok();
      },
      "server", kTime, {{"since", kTime}});
  server_.WriteTo(w, /*from=*/7, [](std::int64_t seq) { return seq != 7 && seq != 9; });
  ASSERT_TRUE(w.Finish(kTime, SignerOf(server_key_)).ok());
  std::istringstream in(out);
  auto result = VerifyAuditExport(in, {server_key_.public_key});
  ASSERT_EQ(result.verdict, AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(result.records, 2u);
  EXPECT_EQ(result.logs.at("server").omitted, 3u);
  EXPECT_EQ(result.logs.at("server").first_seq, 7);

  // An omitted record's digest swapped for another.
  std::string tampered = out;
  const std::size_t at = tampered.find("\"digest\":\"") + 10;
  tampered[at] = tampered[at] == 'a' ? 'b' : 'a';
  std::istringstream in2(tampered);
  EXPECT_THAT(VerifyAuditExport(in2, {server_key_.public_key}),
              Tampered("omitted record #8 of server: its hash does not match its digest"));
}

TEST_F(AuditVerifyTest, LogStartingMidwayNeedsACheckpoint) {
  auto lines = ServerExport();
  lines.erase(lines.begin() + 1, lines.begin() + static_cast<long>(LineOf(lines, "server", 3)));
  EXPECT_THAT(Verify(lines), Tampered("server starts at record #3 without a signed checkpoint"));
}

TEST_F(AuditVerifyTest, VersionOneRecordsVerifyBeforeVersionTwo) {
  const std::string body1 = R"({"type":"legacy","time":"x"})";
  const std::string h1 = manifest::AuditLinkV1(manifest::kAuditGenesis, 1, body1);
  const std::string body2 = R"({"time":"x","type":"new"})";
  const std::string h2 = manifest::AuditLink(h1, 2, manifest::AuditBodyDigest(body2));
  auto write = [&](bool v1_after_v2) {
    std::string out;
    AuditExportWriter w(
        [&out](std::string_view line) {
          out.append(line);
          return Ok();
        },
        "server", kTime, {});
    EXPECT_TRUE(w.Record("server", 1, manifest::kAuditGenesis, h1, body1, 1).ok());
    EXPECT_TRUE(w.Record("server", 2, h1, h2, body2).ok());
    if (v1_after_v2) {
      EXPECT_TRUE(w.Record("server", 3, h2, manifest::AuditLinkV1(h2, 3, body1), body1, 1).ok());
    }
    EXPECT_TRUE(w.Finish(kTime, SignerOf(server_key_)).ok());
    return out;
  };
  std::istringstream ok(write(false));
  EXPECT_EQ(VerifyAuditExport(ok, {server_key_.public_key}).verdict, AuditVerdict::kVerified);
  std::istringstream bad(write(true));
  EXPECT_THAT(VerifyAuditExport(bad, {server_key_.public_key}),
              Tampered("uses link version 1 after version 2 records"));
}

TEST_F(AuditVerifyTest, NonExportsAreUnreadable) {
  for (const std::string& text : {std::string(), std::string("hello\n"),
                                  std::string(R"({"kind":"header","format":"other"})"
                                              "\n"),
                                  std::string(R"({"seq":1})"
                                              "\n")}) {
    std::istringstream in(text);
    const auto result = VerifyAuditExport(in, {server_key_.public_key});
    EXPECT_EQ(result.verdict, AuditVerdict::kUnreadable) << text;
    EXPECT_FALSE(result.message.empty());
  }
}

TEST_F(AuditVerifyTest, MalformedLineInsideIsTampering) {
  auto lines = ServerExport();
  lines[3] = "{\"kind\":\"record\"";
  EXPECT_THAT(Verify(lines), Tampered("not valid JSON"));
  EXPECT_EQ(Verify(lines).line, 4u);
}

// The strict line parser.
TEST(AuditLineParserTest, RefusesMalformedLines) {
  manifest::AuditLineParser parser;
  const std::string h(64, 'a');
  const std::string good = R"({"body":{"time":"t","type":"x"},"hash":")" + h +
                           R"(","kind":"record","log":"server","prev":")" + h + R"(","seq":1})";
  ASSERT_TRUE(parser.Parse(good).ok()) << parser.Parse(good).error().message;
  EXPECT_EQ(parser.Parse(good)->body, R"({"time":"t","type":"x"})");
  // Quotes, backslashes and braces inside strings do not end the body.
  const std::string tricky_body = R"({"m":"a\"}\\","n":["]",{"k":"\\\""}],"type":"x"})";
  const std::string tricky = "{\"body\":" + tricky_body + R"(,"hash":")" + h +
                             R"(","kind":"record","log":"server","prev":")" + h + R"(","seq":1})";
  ASSERT_TRUE(parser.Parse(tricky).ok()) << parser.Parse(tricky).error().message;
  EXPECT_EQ(parser.Parse(tricky)->body, tricky_body);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([1])", "must be a JSON object"},
      {R"({"kind":"record","kind":"record"})", "appears twice"},
      {R"({"kind":"nope"})", "unknown kind"},
      {R"({"kind":"record","extra":1})", "unknown field \"extra\""},
      {R"({"body":{},"hash":")" + h + R"(","kind":"record","log":"server","prev":")" + h + "\"}",
       "needs \"seq\""},
      {R"({"body":1,"hash":")" + h + R"(","kind":"record","log":"server","prev":")" + h +
           R"(","seq":1})",
       "must be an object"},
      {R"({"body":{},"hash":"ABC","kind":"record","log":"server","prev":")" + h + R"(","seq":1})",
       "64 lower-case hex"},
      {R"({"body":{},"hash":")" + h + R"(","kind":"record","log":"device/../x","prev":")" + h +
           R"(","seq":1})",
       "\"log\" must be"},
      {R"({"body":{},"hash":")" + h + R"(","kind":"record","log":"server","prev":")" + h +
           R"(","seq":0})",
       "at least 1"},
      {R"({"body":{},"hash":")" + h + R"(","kind":"record","log":"server","prev":")" + h +
           R"(","seq":1.5})",
       "must be an integer"},
      {"{\"kind\":\"header\",\"format\":\"\xff\"}", "not valid JSON"},
      {std::string(100, '[') + std::string(100, ']'), "must be a JSON object"},
  };
  for (const auto& [line, message] : cases) {
    auto parsed = parser.Parse(line);
    ASSERT_FALSE(parsed.ok()) << line;
    EXPECT_NE(parsed.error().message.find(message), std::string::npos)
        << line << " -> " << parsed.error().message;
  }
}

}  // namespace
}  // namespace ota::verifier
