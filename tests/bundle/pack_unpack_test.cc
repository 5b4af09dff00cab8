#include <map>
#include <set>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::BaseManifest;
using testing::CompressibleBytes;
using testing::RandomBytes;
using testing::SplitBundle;
using testing::UnpackBytes;

constexpr std::uint64_t kChunk = kMinChunkSize;

class PackUnpackTest : public ::testing::Test {
 protected:
  // Writes each (archive path -> content) under src/ and returns the inputs.
  std::vector<InputFile> Inputs(const std::vector<std::pair<std::string, std::string>>& files,
                                const std::map<std::string, std::string>& roles = {}) {
    std::vector<InputFile> inputs;
    for (const auto& [path, content] : files) {
      WriteTestFile(dir_.Sub("src/" + path), content);
      auto role = roles.find(path);
      inputs.push_back(
          {path, dir_.Sub("src/" + path), role == roles.end() ? "other" : role->second});
    }
    return inputs;
  }

  // A bundle exercising every layout case: a model over three chunks of
  // random bytes, compressible text, an empty file, subfolders, and file
  // sizes that make chunks span file boundaries.
  std::vector<std::pair<std::string, std::string>> MixedFiles() {
    return {{"model.gguf", RandomBytes(3 * kChunk + 1234, 1)},
            {"prompts/system.txt", CompressibleBytes(kChunk + 77)},
            {"prompts/empty.txt", ""},
            {"tools/a/b/schema.json", "{\"type\":\"object\"}"},
            {"eval/eval.json", CompressibleBytes(70000)}};
  }

  Result<manifest::BundleManifest> PackMixed(const std::string& out) {
    PackOptions options;
    options.chunk_size = kChunk;
    return PackBundle(*fs_, BaseManifest(), Inputs(MixedFiles(), {{"model.gguf", "model"}}), out,
                      options);
  }

  void ExpectUnpacked(const std::string& out_dir,
                      const std::vector<std::pair<std::string, std::string>>& files) {
    for (const auto& [path, content] : files) {
      EXPECT_EQ(ReadTestFile(out_dir + "/" + path), content) << path;
    }
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_ = MakePosixFileSystem();
};

TEST_F(PackUnpackTest, RoundTripMixedFiles) {
  const std::string out = dir_.Sub("b.otab");
  Result<manifest::BundleManifest> packed = PackMixed(out);
  ASSERT_OK(packed);
  const auto files = MixedFiles();
  ASSERT_EQ(packed->files.size(), files.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(packed->files[i].path, files[i].first);
    EXPECT_EQ(packed->files[i].size, files[i].second.size());
    EXPECT_EQ(packed->files[i].sha256, Sha256Hex(files[i].second));
    total += files[i].second.size();
  }
  EXPECT_EQ(packed->files[0].role, "model");
  EXPECT_EQ(packed->files[1].role, "other");
  // The first file ends inside chunk 3, so chunk 3 spans two files.
  ASSERT_NE(files[0].second.size() % kChunk, 0u);

  const std::string bytes = ReadTestFile(out);
  testing::RawBundle raw = SplitBundle(bytes);
  EXPECT_EQ(raw.magic, "MOTABNDL");
  EXPECT_EQ(raw.format, kBundleFormatVersion);
  EXPECT_EQ(raw.flags, 0u);
  EXPECT_EQ(raw.header["total_plain"], total);
  EXPECT_EQ(raw.header["chunk_size"], kChunk);
  EXPECT_EQ(raw.header["bundle"], manifest::BundleManifestToJson(*packed));
  EXPECT_EQ(raw.header.dump(), raw.header_text);  // Compact, sorted keys.
  const auto& chunks = raw.header["chunks"];
  ASSERT_EQ(chunks.size(), (total + kChunk - 1) / kChunk);
  std::set<std::string> codecs;
  std::uint64_t stored = 0;
  for (const auto& c : chunks) {
    codecs.insert(c["codec"].get<std::string>());
    EXPECT_EQ(c["sha256"], Sha256Hex(raw.chunks.substr(stored, c["stored"].get<std::size_t>())));
    stored += c["stored"].get<std::uint64_t>();
  }
  EXPECT_EQ(stored, raw.chunks.size());
  EXPECT_EQ(codecs, (std::set<std::string>{"raw", "zstd"}));  // Random data is stored raw.

  const std::string out_dir = dir_.Sub("unpacked");
  Result<manifest::BundleManifest> unpacked = UnpackBundleFile(*fs_, out, out_dir);
  ASSERT_OK(unpacked);
  EXPECT_EQ(manifest::SerializeBundleManifest(*unpacked),
            manifest::SerializeBundleManifest(*packed));
  ExpectUnpacked(out_dir, files);
  EXPECT_EQ(ReadTestFile(out_dir + "/bundle.json"), manifest::SerializeBundleManifest(*packed));
  // Only the bundle and the scratch-free output remain.
  EXPECT_EQ(*fs_->ListDir(dir_.path()), (std::vector<std::string>{"b.otab", "src", "unpacked"}));
  EXPECT_EQ(*fs_->ListDir(out_dir),
            (std::vector<std::string>{"bundle.json", "eval", "model.gguf", "prompts", "tools"}));
}

TEST_F(PackUnpackTest, ReadBundleHeaderDescribesTheBundle) {
  const std::string out = dir_.Sub("b.otab");
  Result<manifest::BundleManifest> packed = PackMixed(out);
  ASSERT_OK(packed);
  Result<BundleInfo> info = ReadBundleHeader(*fs_, out);
  ASSERT_OK(info);
  const testing::RawBundle raw = SplitBundle(ReadTestFile(out));
  EXPECT_EQ(manifest::SerializeBundleManifest(info->manifest),
            manifest::SerializeBundleManifest(*packed));
  EXPECT_EQ(info->format_version, kBundleFormatVersion);
  EXPECT_FALSE(info->encrypted);
  EXPECT_EQ(info->flags, 0u);
  EXPECT_EQ(info->chunk_size, kChunk);
  EXPECT_EQ(info->chunk_count, raw.header["chunks"].size());
  EXPECT_EQ(info->total_plain, raw.header["total_plain"].get<std::uint64_t>());
  EXPECT_EQ(info->total_stored, raw.chunks.size());
  EXPECT_EQ(info->file_size, *fs_->FileSize(out));
}

TEST_F(PackUnpackTest, ByteAtATimeAndRandomSplitsEqualOneShot) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackMixed(out));
  const std::string bytes = ReadTestFile(out);
  Result<manifest::BundleManifest> one_shot = UnpackBytes(*fs_, bytes, dir_.Sub("one"));
  ASSERT_OK(one_shot);

  StreamingUnpacker unpacker(*fs_, dir_.Sub("bytes"));
  for (char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    ASSERT_OK(unpacker.Feed(std::span<const std::uint8_t>(&b, 1)));
  }
  EXPECT_EQ(unpacker.bytes_fed(), bytes.size());
  Result<manifest::BundleManifest> by_byte = unpacker.Finish();
  ASSERT_OK(by_byte);

  for (std::size_t piece : {7u, 4096u, 65537u}) {
    const std::string dir = dir_.Sub("piece" + std::to_string(piece));
    ASSERT_OK(UnpackBytes(*fs_, bytes, dir, piece));
    ExpectUnpacked(dir, MixedFiles());
  }
  EXPECT_EQ(manifest::SerializeBundleManifest(*by_byte),
            manifest::SerializeBundleManifest(*one_shot));
  ExpectUnpacked(dir_.Sub("one"), MixedFiles());
  ExpectUnpacked(dir_.Sub("bytes"), MixedFiles());
  EXPECT_EQ(ReadTestFile(dir_.Sub("one/bundle.json")), ReadTestFile(dir_.Sub("bytes/bundle.json")));
}

TEST_F(PackUnpackTest, PackingIsDeterministic) {
  ASSERT_OK(PackMixed(dir_.Sub("a.otab")));
  ASSERT_OK(PackMixed(dir_.Sub("b.otab")));
  EXPECT_EQ(ReadTestFile(dir_.Sub("a.otab")), ReadTestFile(dir_.Sub("b.otab")));
}

TEST_F(PackUnpackTest, OnlyEmptyFilesGiveABundleWithoutChunks) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackBundle(*fs_, BaseManifest(),
                       Inputs({{"model.gguf", ""}, {"x/empty", ""}}, {{"model.gguf", "model"}}),
                       out));
  const testing::RawBundle raw = SplitBundle(ReadTestFile(out));
  EXPECT_EQ(raw.header["chunks"].size(), 0u);
  EXPECT_EQ(raw.header["total_plain"], 0);
  EXPECT_EQ(raw.chunks, "");
  ASSERT_OK(UnpackBundleFile(*fs_, out, dir_.Sub("u")));
  EXPECT_EQ(*fs_->FileSize(dir_.Sub("u/model.gguf")), 0u);
  EXPECT_EQ(*fs_->FileSize(dir_.Sub("u/x/empty")), 0u);
}

TEST_F(PackUnpackTest, ExactMultipleOfTheChunkSize) {
  const std::string out = dir_.Sub("b.otab");
  PackOptions options;
  options.chunk_size = kChunk;
  const auto files = std::vector<std::pair<std::string, std::string>>{
      {"model.gguf", RandomBytes(kChunk, 2)}, {"b", CompressibleBytes(kChunk)}};
  ASSERT_OK(
      PackBundle(*fs_, BaseManifest(), Inputs(files, {{"model.gguf", "model"}}), out, options));
  EXPECT_EQ(SplitBundle(ReadTestFile(out)).header["chunks"].size(), 2u);
  ASSERT_OK(UnpackBundleFile(*fs_, out, dir_.Sub("u")));
  ExpectUnpacked(dir_.Sub("u"), files);
}

TEST_F(PackUnpackTest, PackKeepsTheBaseFieldsAndReplacesTheFileList) {
  manifest::BundleManifest base = BaseManifest();
  base.runtime = manifest::BundleRuntime{"llama.cpp", ">=0.5.0"};
  base.app_compat = ">=1.0.0 <2.0.0";
  base.description = "demo";
  base.extra["shadow"] = {{"gate", "kl"}};
  base.files.push_back({"stale", 1, std::string(64, 'f'), "other"});
  const std::string out = dir_.Sub("b.otab");
  Result<manifest::BundleManifest> packed =
      PackBundle(*fs_, base, Inputs({{"model.gguf", "weights"}}, {{"model.gguf", "model"}}), out);
  ASSERT_OK(packed);
  ASSERT_EQ(packed->files.size(), 1u);
  Result<manifest::BundleManifest> unpacked = UnpackBundleFile(*fs_, out, dir_.Sub("u"));
  ASSERT_OK(unpacked);
  EXPECT_EQ(unpacked->runtime->version, ">=0.5.0");
  EXPECT_EQ(unpacked->app_compat, ">=1.0.0 <2.0.0");
  EXPECT_EQ(unpacked->description, "demo");
  EXPECT_EQ(unpacked->extra["shadow"]["gate"], "kl");
}

TEST_F(PackUnpackTest, PackRejectsBadOptionsAndManifestsBeforeReadingInputs) {
  const std::string out = dir_.Sub("b.otab");
  // The sources do not exist: a rejection that is not kNotFound proves the
  // check came first.
  const std::vector<InputFile> missing = {{"model.gguf", dir_.Sub("nope"), "model"}};
  PackOptions options;
  options.chunk_size = kMinChunkSize - 1;
  Result<manifest::BundleManifest> r = PackBundle(*fs_, BaseManifest(), missing, out, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("chunk size 65535 is outside"), std::string::npos);
  options.chunk_size = kMaxChunkSize + 1;
  EXPECT_EQ(PackBundle(*fs_, BaseManifest(), missing, out, options).error().code,
            ErrorCode::kInvalidArgument);
  options = PackOptions{};
  options.zstd_level = 23;
  r = PackBundle(*fs_, BaseManifest(), missing, out, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("zstd level 23 is outside 1..22"), std::string::npos);

  r = PackBundle(*fs_, BaseManifest(), {{"../model.gguf", dir_.Sub("nope"), "model"}}, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("files[0].path \"../model.gguf\""), std::string::npos);
  r = PackBundle(*fs_, BaseManifest(), {{"model.gguf", dir_.Sub("nope"), "weights"}}, out);
  EXPECT_NE(r.error().message.find("files[0].role \"weights\""), std::string::npos);
  r = PackBundle(*fs_, BaseManifest(), {}, out);
  EXPECT_NE(r.error().message.find("files must list at least one file"), std::string::npos);
  r = PackBundle(*fs_, BaseManifest("other.gguf"), missing, out);
  EXPECT_NE(r.error().message.find("model.file \"other.gguf\" is not in files"), std::string::npos);
  EXPECT_FALSE(*fs_->Exists(out));
}

TEST_F(PackUnpackTest, PackFailureLeavesNoFiles) {
  const std::string out = dir_.Sub("b.otab");
  auto inputs = Inputs({{"model.gguf", "weights"}}, {{"model.gguf", "model"}});
  inputs.push_back({"missing.txt", dir_.Sub("src/missing.txt"), "other"});
  Result<manifest::BundleManifest> r = PackBundle(*fs_, BaseManifest(), inputs, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("input missing.txt"), std::string::npos);

  testing::RecordingFileSystem failing(*fs_);
  failing.fail_appends_after = 1;
  PackOptions options;
  options.chunk_size = kChunk;
  options.zstd_level = 3;
  r = PackBundle(failing, BaseManifest(),
                 Inputs({{"model.gguf", RandomBytes(200000, 3)}}, {{"model.gguf", "model"}}), out,
                 options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_EQ(*fs_->ListDir(dir_.path()), std::vector<std::string>{"src"});
}

TEST_F(PackUnpackTest, DiskErrorsDuringUnpackAreIo) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackMixed(out));
  testing::RecordingFileSystem failing(*fs_);
  failing.fail_appends_after = 2;
  Result<manifest::BundleManifest> r = UnpackBundleFile(failing, out, dir_.Sub("u"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("injected write failure"), std::string::npos);
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("u/bundle.json")));
}

TEST_F(PackUnpackTest, UnpackWritesOnlyInsideOutDir) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackMixed(out));
  testing::RecordingFileSystem recording(*fs_);
  const std::string out_dir = dir_.Sub("u");
  ASSERT_OK(UnpackBundleFile(recording, out, out_dir));
  ASSERT_FALSE(recording.mutations.empty());
  for (const std::string& path : recording.mutations) {
    EXPECT_TRUE(path == out_dir || path.rfind(out_dir + "/", 0) == 0) << path;
  }
}

TEST_F(PackUnpackTest, UnpackRefusesANonEmptyOutDir) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackMixed(out));
  WriteTestFile(dir_.Sub("u/keep.txt"), "mine");
  Result<manifest::BundleManifest> r = UnpackBundleFile(*fs_, out, dir_.Sub("u"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("is not an empty folder"), std::string::npos);
  EXPECT_EQ(*fs_->ListDir(dir_.Sub("u")), std::vector<std::string>{"keep.txt"});
  // An existing empty folder is fine.
  ASSERT_OK(fs_->CreateDirs(dir_.Sub("empty")));
  EXPECT_OK(UnpackBundleFile(*fs_, out, dir_.Sub("empty")));
}

TEST_F(PackUnpackTest, FeedAfterFinishAndErrorsAreSticky) {
  const std::string out = dir_.Sub("b.otab");
  ASSERT_OK(PackMixed(out));
  const std::string bytes = ReadTestFile(out);
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  StreamingUnpacker ok(*fs_, dir_.Sub("u"));
  ASSERT_OK(ok.Feed(std::span<const std::uint8_t>(data, bytes.size())));
  ASSERT_OK(ok.Finish());
  EXPECT_EQ(ok.Feed(std::span<const std::uint8_t>(data, 1)).error().code,
            ErrorCode::kInvalidArgument);

  StreamingUnpacker bad(*fs_, dir_.Sub("v"));
  const std::uint8_t junk[8] = {'N', 'O', 'T', 'A', 'B', 'N', 'D', 'L'};
  std::vector<std::uint8_t> preamble(junk, junk + 8);
  preamble.resize(56);
  const Status first = bad.Feed(preamble);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(bad.Feed(std::span<const std::uint8_t>(data, bytes.size())).error().message,
            first.error().message);
  EXPECT_EQ(bad.Finish().error().message, first.error().message);
}

}  // namespace
}  // namespace ota::bundle
