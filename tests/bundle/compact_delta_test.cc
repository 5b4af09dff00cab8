// Compact delta bundles (format 3): exact round trips, the bundle.json edit,
// and precise rejection, with nothing left behind, of a wrong base, a wrong
// digest, missing or contradicting signed facts and hostile headers.
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "compact_delta.h"
#include "delta_payload.h"
#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::SynthEdit;
using ota::testing::TempDir;
using ota::testing::WriteSynthGguf;
using ota::testing::WriteTestFile;
using testing::BaseManifest;

std::string Varint(std::uint64_t v) {
  std::vector<std::uint8_t> out;
  PutVarint(out, v);
  return std::string(out.begin(), out.end());
}

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

class CompactDeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    base_id_ = Version("base", "1.0.0", Model("b", {}, "Hello {x}\n"));
  }

  std::string Version(const std::string& name, const std::string& version,
                      const std::vector<InputFile>& inputs) {
    manifest::BundleManifest m = BaseManifest();
    m.version = *manifest::ParseVersion(version);
    const std::string bundle = dir_.Sub(name + ".otab");
    EXPECT_OK(PackBundle(*fs_, m, inputs, bundle, {}));
    EXPECT_OK(UnpackBundleFile(*fs_, bundle, dir_.Sub(name)));
    return Sha256Hex(ReadTestFile(bundle));
  }
  std::vector<InputFile> Model(const std::string& tag, const SynthEdit& edit,
                               const std::string& prompt) {
    const std::string model = dir_.Sub(tag + ".gguf");
    EXPECT_TRUE(WriteSynthGguf(model, testing::TinySynthShape(), edit));
    WriteTestFile(dir_.Sub(tag + ".prompt"), prompt);
    WriteTestFile(dir_.Sub(tag + ".schema"), "{\"type\":\"object\"}");
    return {{"model.gguf", model, "model"},
            {"prompts/main.txt", dir_.Sub(tag + ".prompt"), "prompt"},
            {"schemas/tool.json", dir_.Sub(tag + ".schema"), "tool-schema"}};
  }
  // A target whose chat template changed (a metadata-only edit).
  void MetadataTarget() {
    SynthEdit edit;
    edit.chat_template = "<|system|>{{ system }}<|user|>{{ messages }}<|assistant|>";
    target_id_ = Version("target", "1.1.0", Model("t", edit, "Hello {x}\n"));
  }
  Result<DeltaStats> Build(const std::string& out, DeltaForm form = DeltaForm::kAuto) {
    DeltaOptions options;
    options.base_id = base_id_;
    options.target_id = target_id_;
    options.window = 64u << 10;
    options.form = form;
    return BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), out, options);
  }
  // What the repository signs for the delta.
  SignedDeltaFacts Facts() {
    return SignedDeltaFacts{
        base_id_, target_id_,
        Sha256Hex(manifest::SerializeBundleManifest(
            *manifest::ParseBundleManifest(ReadTestFile(dir_.Sub("target/bundle.json")))))};
  }
  Result<manifest::BundleManifest> Apply(const std::string& delta, const SignedDeltaFacts* facts,
                                         const std::string& base_id = "") {
    return ApplyDeltaBundleFile(*fs_, delta, dir_.Sub("base"), base_id.empty() ? base_id_ : base_id,
                                dir_.Sub("out"), {}, std::nullopt, facts);
  }
  void ExpectSame() {
    for (const char* f : {"model.gguf", "prompts/main.txt", "schemas/tool.json", "bundle.json"}) {
      EXPECT_EQ(ReadTestFile(dir_.Sub(std::string("out/") + f)),
                ReadTestFile(dir_.Sub(std::string("target/") + f)))
          << f;
    }
  }
  void ExpectRejected(const std::string& delta, const SignedDeltaFacts* facts, ErrorCode code,
                      const std::string& text, const std::string& base_id = "") {
    auto m = Apply(delta, facts, base_id);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, code) << m.error().message;
    EXPECT_NE(m.error().message.find(text), std::string::npos) << m.error().message;
    EXPECT_FALSE(*fs_->Exists(dir_.Sub("out")));
  }
  // A compact delta with the given header tail (everything after the base
  // id prefix) and payload.
  std::string Compose(const std::string& after_prefix) {
    const std::string good = ReadTestFile(dir_.Sub("d.otad"));
    return good.substr(0, kCompactFixedBytes) + after_prefix;
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  std::string base_id_, target_id_;
};

TEST_F(CompactDeltaTest, MetadataEditIsCompactAndExact) {
  MetadataTarget();
  auto stats = Build(dir_.Sub("d.otad"));
  ASSERT_OK(stats);
  EXPECT_TRUE(stats->compact);
  ASSERT_OK(Build(dir_.Sub("c.otad"), DeltaForm::kContainer));
  const std::uint64_t compact = ReadTestFile(dir_.Sub("d.otad")).size();
  const std::uint64_t container = ReadTestFile(dir_.Sub("c.otad")).size();
  EXPECT_EQ(stats->file_bytes, compact);
  // The container repeats ids, digests and bundle.json: 300 bytes or more.
  EXPECT_LT(compact + 250, container);
  EXPECT_LT(compact, 260u);
  const SignedDeltaFacts facts = Facts();
  ASSERT_OK(Apply(dir_.Sub("d.otad"), &facts));
  ExpectSame();
  auto info = ReadCompactDeltaInfo(*fs_, dir_.Sub("d.otad"));
  ASSERT_OK(info);
  ASSERT_TRUE(info->has_value());
  EXPECT_EQ((*info)->base_id_prefix, base_id_.substr(0, 16));
  EXPECT_EQ((*info)->file_size, compact);
  auto none = ReadCompactDeltaInfo(*fs_, dir_.Sub("c.otad"));
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  // The container form is still read, and agrees with the same facts.
  ASSERT_OK(fs_->RemoveAll(dir_.Sub("out")));
  ASSERT_OK(Apply(dir_.Sub("c.otad"), &facts));
  ExpectSame();
}

TEST_F(CompactDeltaTest, FilesAddedRemovedAndChangedRoundTrip) {
  // A new prompt, a removed schema, a new eval file and a new model.
  SynthEdit edit;
  edit.changed_layers = {2};
  edit.nudge = 0.002f;
  auto inputs = Model("t", edit, "PREFIX Hello {x}\n");
  inputs.pop_back();
  WriteTestFile(dir_.Sub("eval.jsonl"), "{\"prompt\":\"2+2\",\"expect\":\"4\"}\n");
  inputs.push_back({"eval/set.jsonl", dir_.Sub("eval.jsonl"), "eval"});
  target_id_ = Version("target", "2.0.0", inputs);
  auto stats = Build(dir_.Sub("d.otad"), DeltaForm::kCompact);
  ASSERT_OK(stats);
  EXPECT_TRUE(stats->compact);
  const SignedDeltaFacts facts = Facts();
  ASSERT_OK(Apply(dir_.Sub("d.otad"), &facts));
  for (const char* f : {"model.gguf", "prompts/main.txt", "eval/set.jsonl", "bundle.json"}) {
    EXPECT_EQ(ReadTestFile(dir_.Sub(std::string("out/") + f)),
              ReadTestFile(dir_.Sub(std::string("target/") + f)))
        << f;
  }
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("out/schemas/tool.json")));
}

TEST_F(CompactDeltaTest, EncryptedDeltasStayContainers) {
  MetadataTarget();
  testing::SeededRandom random(5);
  RecipientPrivateKey key = *GenerateRecipientKey(random);
  DeltaOptions options;
  options.base_id = base_id_;
  options.target_id = target_id_;
  options.container.recipients = {RecipientPublicKey{key.public_key, key.key_id}};
  auto stats = BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("e.otad"), options);
  ASSERT_OK(stats);
  EXPECT_FALSE(stats->compact);
  options.form = DeltaForm::kCompact;
  auto forced = BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("f.otad"), options);
  ASSERT_FALSE(forced.ok());
  EXPECT_EQ(forced.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("f.otad")));
}

TEST_F(CompactDeltaTest, ManifestEditRebuildsAnyChange) {
  const std::string base = ReadTestFile(dir_.Sub("base/bundle.json"));
  manifest::BundleManifest m = *manifest::ParseBundleManifest(base);
  std::vector<std::string> targets;
  targets.push_back(base);
  m.version = *manifest::ParseVersion("1.0.1");
  m.files[0].sha256 = std::string(64, 'e');
  m.files[0].size += 1000;
  targets.push_back(manifest::SerializeBundleManifest(m));
  m.files.push_back(manifest::BundleFile{"eval/x.jsonl", 12, std::string(64, '1'), "eval"});
  m.name = "other-name";
  targets.push_back(manifest::SerializeBundleManifest(m));
  targets.push_back("{}");
  targets.push_back(std::string(3000, 'x'));
  for (const std::string& target : targets) {
    const std::vector<std::uint8_t> edit = MakeManifestEdit(base, target);
    auto rebuilt = ApplyManifestEdit(base, edit);
    ASSERT_OK(rebuilt);
    EXPECT_EQ(*rebuilt, target);
  }
  // A changed digest costs its 32 bytes and a few more, not 64 hex digits.
  EXPECT_LT(MakeManifestEdit(base, targets[1]).size(), 60u);
}

TEST_F(CompactDeltaTest, HostileManifestEditsAreRefused) {
  const std::string base = "{\"a\":1}";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Varint((100 << 2) | 0), "runs 100 bytes past the base"},
      {Varint((8 << 2) | 1), "runs 8 bytes past the base"},
      {Varint(0 << 2 | 2), "is empty"},
      {Varint((5 << 2) | 2) + "ab", "inserts 5 bytes, but only 2 follow"},
      {Varint((40 << 2) | 3) + "x", "inserts 40 bytes"},
      {std::string("\x80\x80", 2), "truncated"},
      {std::string(10, '\xff') + "\x01", "overflows 64 bits"},
      {std::string(9, '\xff') + "\x02", "overflows 64 bits"},
      {Varint((std::uint64_t{5} << 20 << 2) | 3), "larger than"},
  };
  for (const auto& [edit, text] : cases) {
    auto r = ApplyManifestEdit(base, Bytes(edit));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
    EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
  }
}

class CompactRejectTest : public CompactDeltaTest {
 protected:
  void SetUp() override {
    CompactDeltaTest::SetUp();
    MetadataTarget();
    ASSERT_OK(Build(dir_.Sub("d.otad")));
    facts_ = Facts();
  }
  SignedDeltaFacts facts_;
};

TEST_F(CompactRejectTest, WithoutSignedFactsItIsNotApplied) {
  ExpectRejected(dir_.Sub("d.otad"), nullptr, ErrorCode::kInvalidArgument,
                 "signed target metadata");
}

TEST_F(CompactRejectTest, WrongInstalledBaseIsRefusedBeforeWriting) {
  // The device holds another version than the one the signed target names.
  ExpectRejected(dir_.Sub("d.otad"), &facts_, ErrorCode::kIntegrity,
                 "delta is for base " + base_id_, std::string(64, 'a'));
  // The signed target and the device agree on a base the file is not for.
  SignedDeltaFacts other = facts_;
  other.base_id = std::string(64, 'a');
  ExpectRejected(dir_.Sub("d.otad"), &other, ErrorCode::kIntegrity,
                 "delta is for base " + base_id_.substr(0, 16) + "...", other.base_id);
}

TEST_F(CompactRejectTest, BaseWhoseBundleJsonDiffersIsRefused) {
  // The installed version claims the right id but holds other files: the
  // rebuilt bundle.json is not the signed one.
  manifest::BundleManifest m =
      *manifest::ParseBundleManifest(ReadTestFile(dir_.Sub("base/bundle.json")));
  m.files[1].sha256 = std::string(64, 'b');
  WriteTestFile(dir_.Sub("base/bundle.json"), manifest::SerializeBundleManifest(m));
  ExpectRejected(dir_.Sub("d.otad"), &facts_, ErrorCode::kIntegrity,
                 "the bundle.json it rebuilds from the installed version's has SHA-256");
}

TEST_F(CompactRejectTest, WrongSignedManifestDigestIsRefused) {
  SignedDeltaFacts wrong = facts_;
  wrong.manifest_sha256 = std::string(64, 'c');
  ExpectRejected(dir_.Sub("d.otad"), &wrong, ErrorCode::kIntegrity,
                 "its signed target says " + wrong.manifest_sha256);
  // A container delta is held to the same facts.
  ASSERT_OK(Build(dir_.Sub("c.otad"), DeltaForm::kContainer));
  ExpectRejected(dir_.Sub("c.otad"), &wrong, ErrorCode::kIntegrity,
                 "its signed target says " + wrong.manifest_sha256);
  SignedDeltaFacts other_target = facts_;
  other_target.target_id = std::string(64, 'd');
  ExpectRejected(dir_.Sub("c.otad"), &other_target, ErrorCode::kIntegrity,
                 "its signed target says from");
}

TEST_F(CompactRejectTest, OutputDigestMismatchIsRefused) {
  // A target folder edited after bundle.json was written: the delta decodes
  // to bytes whose SHA-256 is not the signed one.
  std::string prompt = ReadTestFile(dir_.Sub("target/prompts/main.txt"));
  prompt[0] ^= 1;
  WriteTestFile(dir_.Sub("target/prompts/main.txt"), prompt);
  auto stats = Build(dir_.Sub("bad.otad"));
  ASSERT_OK(stats);
  ASSERT_TRUE(stats->compact);
  ExpectRejected(dir_.Sub("bad.otad"), &facts_, ErrorCode::kIntegrity, "prompts/main.txt");
}

TEST_F(CompactRejectTest, TruncatedAtEveryByteIsRefused) {
  const std::string bytes = ReadTestFile(dir_.Sub("d.otad"));
  // Every byte of the header and the payload's first ops, then a sample.
  for (std::size_t cut = 0; cut < bytes.size(); cut += cut < 96 ? 1 : 13) {
    WriteTestFile(dir_.Sub("bad.otad"), bytes.substr(0, cut));
    auto m = Apply(dir_.Sub("bad.otad"), &facts_);
    ASSERT_FALSE(m.ok()) << cut;
    EXPECT_EQ(m.error().code, ErrorCode::kIntegrity) << cut << ": " << m.error().message;
    EXPECT_FALSE(*fs_->Exists(dir_.Sub("out"))) << cut;
  }
}

TEST_F(CompactRejectTest, CorruptedBytesAreRefused) {
  const std::string bytes = ReadTestFile(dir_.Sub("d.otad"));
  for (std::size_t at = kCompactFixedBytes; at < bytes.size(); at += at < 96 ? 1 : 11) {
    std::string bad = bytes;
    bad[at] ^= 0x04;
    WriteTestFile(dir_.Sub("bad.otad"), bad);
    auto m = Apply(dir_.Sub("bad.otad"), &facts_);
    ASSERT_FALSE(m.ok()) << at;
    EXPECT_FALSE(*fs_->Exists(dir_.Sub("out"))) << at;
  }
}

TEST_F(CompactRejectTest, HostileHeadersAreRefused) {
  const std::string good = ReadTestFile(dir_.Sub("d.otad"));
  std::string flags = good;
  flags[12] = 1;
  const std::vector<std::tuple<std::string, ErrorCode, std::string>> cases = {
      {flags, ErrorCode::kInvalidArgument, "unknown flags 1"},
      {Compose(Varint(0) + "xx"), ErrorCode::kIntegrity, "edit length 0 is outside"},
      {Compose(Varint(std::uint64_t{1} << 40) + "xx"), ErrorCode::kIntegrity,
       "edit length 1099511627776 is outside"},
      {Compose(std::string(12, '\xff')), ErrorCode::kIntegrity, "longer than 9 bytes"},
      {Compose(Varint(50) + std::string(10, 'x')), ErrorCode::kIntegrity, "ends before"},
      {Compose(Varint(2) + Varint((1000 << 2) | 0) + "payload"), ErrorCode::kIntegrity,
       "runs 1000 bytes past the base"},
      {Compose(Varint(3) + "\x0a{}" + "payload"), ErrorCode::kIntegrity,
       "the bundle.json it rebuilds"},
  };
  for (const auto& [bytes, code, text] : cases) {
    WriteTestFile(dir_.Sub("bad.otad"), bytes);
    ExpectRejected(dir_.Sub("bad.otad"), &facts_, code, text);
  }
}

TEST_F(CompactRejectTest, ContainerReadersRefuseIt) {
  auto header = ReadBundleHeader(*fs_, dir_.Sub("d.otad"));
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(header.error().message.find("compact delta (format 3)"), std::string::npos)
      << header.error().message;
  auto unpacked = UnpackBundleFile(*fs_, dir_.Sub("d.otad"), dir_.Sub("x"));
  ASSERT_FALSE(unpacked.ok());
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("x")));
}

}  // namespace
}  // namespace ota::bundle
