// DownloadChecker: a bundle's head and chunks checked piece by piece as a
// download appends them.
#include <gtest/gtest.h>

#include "bundle_test_util.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"

namespace ota::bundle {
namespace {

using testing::BaseManifest;
using testing::RandomBytes;

class DownloadCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    const std::string model = dir_.Sub("model.gguf");
    // Incompressible: five 64 KiB chunks of about their plain size.
    ota::testing::WriteTestFile(model, RandomBytes(5 * (64 << 10) - 1000, 7));
    PackOptions options;
    options.chunk_size = 64 << 10;
    const std::string out = dir_.Sub("b.otab");
    ASSERT_OK(PackBundle(*fs_, BaseManifest(), {{"model.gguf", model, "model"}}, out, options));
    bytes_ = ota::testing::ReadTestFile(out);
    auto info = ReadBundleHeader(*fs_, out);
    ASSERT_OK(info);
    info_ = *info;
  }

  // Feeds bytes [from, to) in pieces of at most `step`, never across a piece.
  Status FeedRange(DownloadChecker& c, std::uint64_t to, std::size_t step = 4096) {
    while (c.fed() < to) {
      const std::uint64_t n =
          std::min<std::uint64_t>({to - c.fed(), c.piece_end() - c.fed(), step});
      OTA_TRY(c.Feed(Span(c.fed(), n)));
    }
    return Ok();
  }
  std::span<const std::uint8_t> Span(std::uint64_t at, std::uint64_t n) {
    return {reinterpret_cast<const std::uint8_t*>(bytes_.data()) + at, static_cast<std::size_t>(n)};
  }
  // File offsets at which the chunks start.
  std::vector<std::uint64_t> ChunkStarts() {
    DownloadChecker c(bytes_.size(), info_.head);
    EXPECT_OK(FeedRange(c, info_.head.length));
    std::vector<std::uint64_t> starts;
    while (c.fed() < bytes_.size()) {
      starts.push_back(c.fed());
      EXPECT_OK(FeedRange(c, c.piece_end()));
    }
    return starts;
  }

  ota::testing::TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  std::string bytes_;
  BundleInfo info_;
};

TEST_F(DownloadCheckerTest, AcceptsTheWholeFileInAnySplit) {
  for (std::size_t step : {1u << 20, 4096u, 977u}) {
    for (const std::optional<ContainerHead>& head :
         {std::optional<ContainerHead>(info_.head), std::optional<ContainerHead>()}) {
      DownloadChecker c(bytes_.size(), head);
      ASSERT_OK(FeedRange(c, bytes_.size(), step));
      EXPECT_EQ(c.checked(), bytes_.size());
      EXPECT_FALSE(c.failure().has_value());
    }
  }
  EXPECT_EQ(info_.head.length, 56 + testing::SplitBundle(bytes_).header_len);
  EXPECT_EQ(info_.head.sha256, Sha256Hex(bytes_.substr(0, info_.head.length)));
  EXPECT_EQ(ChunkStarts().size(), 5u);
}

TEST_F(DownloadCheckerTest, ABadChunkRewindsToItsStart) {
  const std::vector<std::uint64_t> starts = ChunkStarts();
  bytes_[starts[2] + 100] ^= 1;
  DownloadChecker c(bytes_.size(), info_.head);
  Status s = FeedRange(c, bytes_.size());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(s.error().message.find("chunk 2"), std::string::npos) << s.error().message;
  EXPECT_EQ(c.fed(), starts[2]);
  EXPECT_EQ(c.checked(), starts[2]);
  ASSERT_TRUE(c.failure().has_value());
  const DownloadChecker::Failure first = *c.failure();
  EXPECT_EQ(first.start, starts[2]);
  // The same bytes again fail the same way; the right ones pass.
  EXPECT_FALSE(FeedRange(c, bytes_.size()).ok());
  EXPECT_EQ(*c.failure(), first);
  bytes_[starts[2] + 100] ^= 1;
  ASSERT_OK(FeedRange(c, bytes_.size()));
  EXPECT_EQ(c.checked(), bytes_.size());
}

TEST_F(DownloadCheckerTest, AHeadThatIsNotTheSignedOneIsRefused) {
  ContainerHead other = info_.head;
  other.sha256 = std::string(64, 'a');
  DownloadChecker c(bytes_.size(), other);
  Status s = FeedRange(c, bytes_.size());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("does not match the signed"), std::string::npos);
  EXPECT_EQ(c.fed(), 0u);
  EXPECT_EQ(c.failure()->start, 0u);
  EXPECT_EQ(c.failure()->sha256, info_.head.sha256);
}

// Without a signed head the header's own digest and the signed file length
// are still checked.
TEST_F(DownloadCheckerTest, AnUnsignedHeadMustDescribeTheSignedLength) {
  DownloadChecker shorter(bytes_.size() - 1, std::nullopt);
  Status s = FeedRange(shorter, bytes_.size() - 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("the signed length is"), std::string::npos) << s.error().message;
  std::string damaged = bytes_;
  damaged[60] ^= 1;  // Inside the header: its digest in the preamble fails.
  bytes_.swap(damaged);
  DownloadChecker c(bytes_.size(), std::nullopt);
  EXPECT_FALSE(FeedRange(c, bytes_.size()).ok());
  EXPECT_EQ(c.fed(), 0u);
}

TEST_F(DownloadCheckerTest, ResumesAfterSkippingCheckedChunks) {
  const std::vector<std::uint64_t> starts = ChunkStarts();
  DownloadChecker c(bytes_.size(), info_.head);
  EXPECT_FALSE(c.ChunkStartOf(starts[3] + 5).has_value());  // Head not read yet.
  ASSERT_OK(FeedRange(c, info_.head.length));
  EXPECT_EQ(c.ChunkStartOf(starts[3] + 5), starts[3]);
  EXPECT_EQ(c.ChunkStartOf(starts[3]), starts[3]);
  EXPECT_EQ(c.ChunkStartOf(3), starts[0]);
  EXPECT_FALSE(c.SkipCheckedTo(starts[3] + 5).ok());  // Not a chunk start.
  ASSERT_OK(c.SkipCheckedTo(starts[3]));
  EXPECT_FALSE(c.SkipCheckedTo(starts[1]).ok());  // Backwards.
  ASSERT_OK(FeedRange(c, bytes_.size()));
  EXPECT_EQ(c.checked(), bytes_.size());
}

TEST_F(DownloadCheckerTest, FeedingAcrossAPieceIsRefused) {
  DownloadChecker c(bytes_.size(), std::nullopt);
  EXPECT_EQ(c.piece_end(), 56u);
  Status s = c.Feed(Span(0, 57));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.fed(), 0u);
}

}  // namespace
}  // namespace ota::bundle
