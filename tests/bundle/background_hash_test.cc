// Hashing on a second thread: digests equal to one-thread SHA-256 across
// file boundaries, at most two buffers in flight, and a file whose digest
// is wrong refused by the very write that completes it, before any later
// file is opened.
#include <set>
#include <string>
#include <vector>

#include "background_hasher.h"
#include "ota/common/hash.h"
#include "plain_file_writer.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;

std::vector<std::uint8_t> Bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    out[i] = static_cast<std::uint8_t>(seed >> 24);
  }
  return out;
}

std::string Text(const std::vector<std::uint8_t>& b) { return std::string(b.begin(), b.end()); }

TEST(BackgroundHasherTest, DigestsMatchAndAtMostTwoBuffersCirculate) {
  BackgroundHasher hasher;
  std::set<const std::uint8_t*> storages;
  std::vector<std::uint8_t> buffer;
  for (int file = 0; file < 3; ++file) {
    std::string whole;
    for (int piece = 0; piece < 5; ++piece) {
      // One size, so refilling a recycled buffer never reallocates it.
      const std::vector<std::uint8_t> bytes = Bytes(100000, file * 10 + piece);
      buffer.assign(bytes.begin(), bytes.end());
      storages.insert(buffer.data());
      whole += Text(bytes);
      hasher.Update(buffer);
      hasher.Recycle(buffer);
    }
    EXPECT_EQ(hasher.Finish(), Sha256Hex(whole)) << "file " << file;
  }
  // The first Recycle hands back an empty vector, every later one a buffer
  // given before: the caller never needed more than two allocations.
  EXPECT_LE(storages.size(), 2u);
  EXPECT_EQ(hasher.Finish(), Sha256Hex(""));
}

TEST(BackgroundHasherTest, DestroyedWithWorkQueued) {
  auto hasher = std::make_unique<BackgroundHasher>();
  std::vector<std::uint8_t> buffer = Bytes(1 << 20, 7);
  hasher->Update(buffer);
  hasher->Recycle(buffer);
  buffer = Bytes(1 << 20, 8);
  hasher->Update(buffer);
  hasher->Recycle(buffer);
  hasher.reset();  // Joins without hashing the rest; nothing dangles.
}

class PipelinedWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    contents_ = {Bytes(300000, 1), {}, Bytes(123457, 2), Bytes(50000, 3)};
    const char* names[] = {"model.gguf", "empty.txt", "sub/dir/b.bin", "c.bin"};
    for (std::size_t i = 0; i < contents_.size(); ++i) {
      files_.push_back({names[i], contents_[i].size(), Sha256Hex(Text(contents_[i])), "other"});
    }
  }

  // Writes the concatenated contents in pieces of `piece` bytes, which span
  // file boundaries. Returns the index of the call that failed, or -1.
  int WriteAll(PlainFileWriter& writer, std::size_t piece, Status& status) {
    std::string stream;
    for (const auto& c : contents_) stream += Text(c);
    std::vector<std::uint8_t> buffer;
    int call = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += piece, ++call) {
      const std::size_t n = std::min(piece, stream.size() - pos);
      buffer.assign(stream.begin() + static_cast<std::ptrdiff_t>(pos),
                    stream.begin() + static_cast<std::ptrdiff_t>(pos + n));
      status = writer.WriteAndRecycle(buffer);
      if (!status.ok()) return call;
    }
    status = writer.Finish();
    return status.ok() ? -1 : call;
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  std::vector<std::vector<std::uint8_t>> contents_;
  std::vector<manifest::BundleFile> files_;
};

TEST_F(PipelinedWriterTest, WritesEveryFileAcrossBufferBoundaries) {
  for (std::size_t piece : {std::size_t{1000}, std::size_t{65536}, std::size_t{1} << 20}) {
    SCOPED_TRACE(piece);
    const std::string out = dir_.Sub("out" + std::to_string(piece));
    PlainFileWriter writer(*fs_, out, files_);
    ASSERT_OK(writer.Start());
    Status status = Ok();
    EXPECT_EQ(WriteAll(writer, piece, status), -1) << status.error().ToString();
    for (std::size_t i = 0; i < files_.size(); ++i) {
      EXPECT_EQ(ReadTestFile(out + "/" + files_[i].path), Text(contents_[i])) << files_[i].path;
    }
  }
}

TEST_F(PipelinedWriterTest, WrongDigestIsRefusedByTheWriteThatCompletesTheFile) {
  files_[2].sha256 = std::string(64, 'c');
  PlainFileWriter writer(*fs_, dir_.Sub("out"), files_);
  ASSERT_OK(writer.Start());
  Status status = Ok();
  // Pieces of 1000 bytes: sub/dir/b.bin ends in the stream at byte
  // 300000 + 123457, inside call 423.
  EXPECT_EQ(WriteAll(writer, 1000, status), 423);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(status.error().message.find("file \"sub/dir/b.bin\" has SHA-256 " +
                                        Sha256Hex(Text(contents_[2]))),
            std::string::npos)
      << status.error().message;
  // The next file was never opened.
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("out/c.bin")));
}

}  // namespace
}  // namespace ota::bundle
