// Delta bundles: bit-exact round trips for every model edit the product
// expects, non-GGUF files, and precise rejection of every bad delta with
// nothing left behind.
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "container_format.h"
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
using ota::testing::SynthShape;
using ota::testing::SynthType;
using ota::testing::TempDir;
using ota::testing::WriteSynthGguf;
using ota::testing::WriteTestFile;
using testing::BaseManifest;
using testing::SeededRandom;
using testing::TinySynthShape;

class DeltaTest : public ::testing::Test {
 protected:
  void SetUp() override { fs_ = MakePosixFileSystem(); }

  // Packs the files in `src` (model.gguf, prompts, schema) into a bundle,
  // unpacks it into `name`/ and returns the bundle's SHA-256 (its id).
  std::string Version(const std::string& name, const std::string& version,
                      const std::vector<InputFile>& inputs,
                      const std::vector<RecipientPublicKey>& recipients = {}) {
    manifest::BundleManifest m = BaseManifest();
    m.version = *manifest::ParseVersion(version);
    PackOptions options;
    options.chunk_size = kMinChunkSize;
    options.recipients = recipients;
    const std::string bundle = dir_.Sub(name + ".otab");
    EXPECT_OK(PackBundle(*fs_, m, inputs, bundle, options));
    EXPECT_OK(UnpackBundleFile(*fs_, bundle, dir_.Sub(name), {},
                               keys_.empty() ? std::nullopt : std::optional(keys_[0])));
    return Sha256Hex(ReadTestFile(bundle));
  }

  std::vector<InputFile> Model(const std::string& tag, const SynthShape& shape,
                               const SynthEdit& edit, const std::string& prompt = "Hello {x}\n") {
    const std::string model = dir_.Sub(tag + ".gguf");
    EXPECT_TRUE(WriteSynthGguf(model, shape, edit));
    WriteTestFile(dir_.Sub(tag + ".prompt"), prompt);
    WriteTestFile(dir_.Sub(tag + ".schema"), "{\"type\":\"object\"}");
    return {{"model.gguf", model, "model"},
            {"prompts/main.txt", dir_.Sub(tag + ".prompt"), "prompt"},
            {"schemas/tool.json", dir_.Sub(tag + ".schema"), "tool-schema"}};
  }

  // Builds base -> target, applies it and checks every file bit for bit.
  DeltaStats RoundTrip(const SynthShape& base_shape, const SynthEdit& base_edit,
                       const SynthShape& target_shape, const SynthEdit& target_edit) {
    base_id_ = Version("base", "1.0.0", Model("b", base_shape, base_edit));
    target_id_ = Version("target", "1.1.0", Model("t", target_shape, target_edit));
    DeltaOptions options;
    options.form = DeltaForm::kContainer;  // compact_delta_test.cc tests the other form.
    options.base_id = base_id_;
    options.target_id = target_id_;
    options.window = 64u << 10;
    options.container.chunk_size = kMinChunkSize;
    auto stats =
        BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("d.otab"), options);
    EXPECT_OK(stats);
    auto m =
        ApplyDeltaBundleFile(*fs_, dir_.Sub("d.otab"), dir_.Sub("base"), base_id_, dir_.Sub("out"));
    EXPECT_OK(m);
    for (const char* f : {"model.gguf", "prompts/main.txt", "schemas/tool.json", "bundle.json"}) {
      EXPECT_EQ(ReadTestFile(dir_.Sub(std::string("out/") + f)),
                ReadTestFile(dir_.Sub(std::string("target/") + f)))
          << f;
    }
    return stats.ok() ? *stats : DeltaStats{};
  }

  std::uint64_t DeltaSize() { return ReadTestFile(dir_.Sub("d.otab")).size(); }
  std::uint64_t TargetSize() { return ReadTestFile(dir_.Sub("target/model.gguf")).size(); }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  std::vector<RecipientPrivateKey> keys_;
  std::string base_id_, target_id_;
};

TEST_F(DeltaTest, MetadataEditCostsAlmostNothing) {
  SynthEdit edit;
  edit.chat_template = "<|system|>{{ system }}<|user|>{{ messages }} and a longer template";
  DeltaStats stats = RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
  EXPECT_GT(stats.tensors_matched, 30u);
  EXPECT_GT(stats.copied, TargetSize() * 9 / 10);
  EXPECT_LT(DeltaSize(), 8000u);
}

TEST_F(DeltaTest, LoraMergedIntoTwoLayers) {
  SynthEdit edit;
  edit.changed_layers = {1, 2};
  edit.lora_rank = 4;
  RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
  EXPECT_LT(DeltaSize(), TargetSize() / 4);
}

TEST_F(DeltaTest, PartialFineTune) {
  SynthEdit edit;
  edit.changed_layers = {3};
  edit.nudge = 0.002f;
  RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
  EXPECT_LT(DeltaSize(), TargetSize() / 4);
}

TEST_F(DeltaTest, FullFineTuneUsesDifferences) {
  SynthEdit edit;
  edit.all_tensors = true;
  edit.nudge = 0.001f;
  DeltaStats stats = RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
  EXPECT_GT(stats.differenced, TargetSize() / 2);
  EXPECT_LT(DeltaSize(), TargetSize() * 3 / 4);
}

TEST_F(DeltaTest, Requantization) {
  // The same weights, F16 requantized to Q8_0: every tensor changes type and
  // size, so nothing is copied, each tensor is still matched to its base by
  // name (coded as a plain region, positions mean nothing across types), and
  // the delta is still smaller than the target.
  DeltaStats stats =
      RoundTrip(TinySynthShape(SynthType::kF16), {}, TinySynthShape(SynthType::kQ8_0), {});
  EXPECT_GT(stats.tensors_matched, 30u);
  EXPECT_EQ(stats.differenced, 0u);
  EXPECT_LT(stats.copied, TargetSize() / 10);
  EXPECT_LT(DeltaSize(), TargetSize());
}

TEST_F(DeltaTest, VocabularyExtended) {
  SynthEdit edit;
  edit.extra_vocab = 64;
  DeltaStats stats = RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
  EXPECT_GT(stats.copied, TargetSize() * 8 / 10);
}

TEST_F(DeltaTest, QuantizedFewLayers) {
  SynthEdit edit;
  edit.changed_layers = {0};
  edit.nudge = 0.002f;
  RoundTrip(TinySynthShape(SynthType::kQ4_0), {}, TinySynthShape(SynthType::kQ4_0), edit);
  EXPECT_LT(DeltaSize(), TargetSize() / 2);
}

TEST_F(DeltaTest, NonGgufFilesAddedRemovedAndShifted) {
  std::string prompt(200000, 'a');
  for (std::size_t i = 0; i < prompt.size(); ++i)
    prompt[i] = static_cast<char>('a' + (i * 7919) % 26);
  base_id_ = Version("base", "1.0.0", Model("b", TinySynthShape(), {}, prompt));
  // The new prompt has text inserted at the front (every byte shifts), the
  // schema is unchanged, and an eval file is new.
  auto inputs = Model("t", TinySynthShape(), {}, "PREFIX" + prompt);
  WriteTestFile(dir_.Sub("eval.jsonl"), "{\"prompt\":\"2+2\",\"expect\":\"4\"}\n");
  inputs.push_back({"eval/set.jsonl", dir_.Sub("eval.jsonl"), "eval"});
  target_id_ = Version("target", "1.1.0", inputs);
  DeltaOptions options;
  options.form = DeltaForm::kContainer;
  options.base_id = base_id_;
  options.target_id = target_id_;
  options.window = 64u << 10;
  ASSERT_OK(BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("d.otab"), options));
  ASSERT_OK(
      ApplyDeltaBundleFile(*fs_, dir_.Sub("d.otab"), dir_.Sub("base"), base_id_, dir_.Sub("out")));
  for (const char* f : {"model.gguf", "prompts/main.txt", "eval/set.jsonl", "bundle.json"}) {
    EXPECT_EQ(ReadTestFile(dir_.Sub(std::string("out/") + f)),
              ReadTestFile(dir_.Sub(std::string("target/") + f)));
  }
  EXPECT_LT(DeltaSize(), 6000u);
}

class DeltaRejectTest : public DeltaTest {
 protected:
  void SetUp() override {
    DeltaTest::SetUp();
    SynthEdit edit;
    edit.changed_layers = {1};
    edit.nudge = 0.002f;
    RoundTrip(TinySynthShape(), {}, TinySynthShape(), edit);
    ASSERT_OK(fs_->RemoveAll(dir_.Sub("out")));
  }
  void ExpectRejected(const std::string& delta, ErrorCode code, const std::string& text,
                      const std::string& base_id = "") {
    auto m = ApplyDeltaBundleFile(*fs_, delta, dir_.Sub("base"),
                                  base_id.empty() ? base_id_ : base_id, dir_.Sub("out"));
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, code) << m.error().message;
    EXPECT_NE(m.error().message.find(text), std::string::npos) << m.error().message;
    EXPECT_FALSE(*fs_->Exists(dir_.Sub("out")));
  }
};

TEST_F(DeltaRejectTest, WrongBaseIdBeforeWriting) {
  ExpectRejected(dir_.Sub("d.otab"), ErrorCode::kIntegrity, "delta is for base " + base_id_,
                 std::string(64, 'a'));
}

TEST_F(DeltaRejectTest, BaseWhoseFilesDifferIsRefused) {
  // The installed version claims the right id but holds other files.
  manifest::BundleManifest m =
      *manifest::ParseBundleManifest(ReadTestFile(dir_.Sub("base/bundle.json")));
  m.files[1].sha256 = std::string(64, 'b');
  WriteTestFile(dir_.Sub("base/bundle.json"), manifest::SerializeBundleManifest(m));
  ExpectRejected(dir_.Sub("d.otab"), ErrorCode::kIntegrity, "prompts/main.txt has SHA-256");
}

TEST_F(DeltaRejectTest, OutputDigestMismatchIsRefused) {
  // A target folder edited after bundle.json was written: the delta decodes
  // to bytes whose SHA-256 is not the one it promises.
  std::string prompt = ReadTestFile(dir_.Sub("target/prompts/main.txt"));
  prompt[0] ^= 1;
  WriteTestFile(dir_.Sub("target/prompts/main.txt"), prompt);
  DeltaOptions options;
  options.form = DeltaForm::kContainer;
  options.base_id = base_id_;
  options.target_id = target_id_;
  ASSERT_OK(BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("bad.otab"), options));
  ExpectRejected(dir_.Sub("bad.otab"), ErrorCode::kIntegrity, "prompts/main.txt");
}

TEST_F(DeltaRejectTest, CorruptedDeltaIsRefused) {
  std::string bytes = ReadTestFile(dir_.Sub("d.otab"));
  bytes[bytes.size() - 100] ^= 0x40;
  WriteTestFile(dir_.Sub("bad.otab"), bytes);
  ExpectRejected(dir_.Sub("bad.otab"), ErrorCode::kIntegrity, "SHA-256");
}

TEST_F(DeltaRejectTest, TruncatedDeltaIsRefused) {
  std::string bytes = ReadTestFile(dir_.Sub("d.otab"));
  for (std::size_t cut : {std::size_t{10}, std::size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
    WriteTestFile(dir_.Sub("bad.otab"), bytes.substr(0, cut));
    ExpectRejected(dir_.Sub("bad.otab"), ErrorCode::kIntegrity, "truncated");
  }
}

TEST_F(DeltaRejectTest, PayloadDigestIsCheckedBeforeTheVersionCounts) {
  // A header whose payload SHA-256 is wrong while every chunk is intact:
  // the files rebuild and match bundle.json, yet nothing is kept.
  const std::string bytes = ReadTestFile(dir_.Sub("d.otab"));
  const auto* raw = reinterpret_cast<const std::uint8_t*>(bytes.data());
  auto preamble = DecodePreamble(std::span(raw, kPreambleSize), {});
  ASSERT_OK(preamble);
  const auto header_len = static_cast<std::size_t>(preamble->header_len);
  auto header = DecodeHeader(std::span(raw + kPreambleSize, header_len), *preamble, {});
  ASSERT_OK(header);
  ASSERT_TRUE(header->delta.has_value());
  const std::string payload_sha256 = header->delta->payload_sha256;
  header->delta->payload_sha256 = std::string(64, 'c');
  auto stored = CompressHeader(EncodeHeader(*header));
  ASSERT_OK(stored);
  WriteTestFile(dir_.Sub("bad.otab"), EncodePreamble(preamble->flags, *stored) + *stored +
                                          bytes.substr(kPreambleSize + header_len));
  ExpectRejected(dir_.Sub("bad.otab"), ErrorCode::kIntegrity,
                 "delta payload: has SHA-256 " + payload_sha256 + ", but the header says " +
                     std::string(64, 'c'));
}

TEST_F(DeltaRejectTest, ApplyWritesOnlyItsOutputFolder) {
  testing::RecordingFileSystem recording(*fs_);
  ASSERT_OK(ApplyDeltaBundleFile(recording, dir_.Sub("d.otab"), dir_.Sub("base"), base_id_,
                                 dir_.Sub("out")));
  ASSERT_FALSE(recording.mutations.empty());
  for (const std::string& path : recording.mutations) {
    EXPECT_TRUE(path == dir_.Sub("out") || path.starts_with(dir_.Sub("out") + "/")) << path;
  }
  EXPECT_EQ(ReadTestFile(dir_.Sub("out/model.gguf")), ReadTestFile(dir_.Sub("target/model.gguf")));
}

TEST_F(DeltaRejectTest, FullUnpackOfADeltaIsRefused) {
  auto m = UnpackBundleFile(*fs_, dir_.Sub("d.otab"), dir_.Sub("x"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message.find("delta bundle"), std::string::npos);
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("x")));
  auto full = ApplyDeltaBundleFile(*fs_, dir_.Sub("base.otab"), dir_.Sub("base"), base_id_,
                                   dir_.Sub("out"));
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message.find("not a delta bundle"), std::string::npos);
}

TEST_F(DeltaTest, WrongRecipientIsRefused) {
  for (std::uint64_t seed : {21u, 22u}) {
    SeededRandom random(seed);
    keys_.push_back(*GenerateRecipientKey(random));
  }
  base_id_ = Version("base", "1.0.0", Model("b", TinySynthShape(), {}));
  SynthEdit edit;
  edit.changed_layers = {0};
  edit.nudge = 0.01f;
  target_id_ = Version("target", "1.1.0", Model("t", TinySynthShape(), edit));
  DeltaOptions options;
  options.form = DeltaForm::kContainer;
  options.base_id = base_id_;
  options.target_id = target_id_;
  options.container.recipients = {RecipientPublicKey{keys_[0].public_key, keys_[0].key_id}};
  ASSERT_OK(BuildDelta(*fs_, dir_.Sub("base"), dir_.Sub("target"), dir_.Sub("d.otab"), options));
  auto wrong = ApplyDeltaBundleFile(*fs_, dir_.Sub("d.otab"), dir_.Sub("base"), base_id_,
                                    dir_.Sub("out"), {}, keys_[1]);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kSecurity);
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("out")));
  ASSERT_OK(ApplyDeltaBundleFile(*fs_, dir_.Sub("d.otab"), dir_.Sub("base"), base_id_,
                                 dir_.Sub("out"), {}, keys_[0]));
  EXPECT_EQ(ReadTestFile(dir_.Sub("out/model.gguf")), ReadTestFile(dir_.Sub("target/model.gguf")));
  auto info = ReadBundleHeader(*fs_, dir_.Sub("d.otab"));
  ASSERT_OK(info);
  ASSERT_TRUE(info->delta.has_value());
  EXPECT_EQ(info->delta->base_id, base_id_);
  EXPECT_EQ(info->delta->target_id, target_id_);
  EXPECT_TRUE(info->encrypted);
}

}  // namespace
}  // namespace ota::bundle
