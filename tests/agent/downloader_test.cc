#include "downloader.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include <random>

#include "ota/bundle/bundle.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "streamed_unpack.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using ota::testing::ManualClock;
using ota::testing::ReadTestFile;
using ota::testing::TempDir;

// Serves one byte string, with scripted misbehaviour per request.
class ScriptedHttp : public HttpClient {
 public:
  // kSwap: the answer's bytes come from `other` (same offsets), as from a
  // mirror that changed its copy between requests.
  enum class Mode { kNormal, kDropAfter, kIgnoreRange, kWrongRange, kOversend, kStatus, kSwap };
  struct Step {
    Step(Mode m = Mode::kNormal, std::uint64_t count = 0, std::string retry = "")
        : mode(m), n(count), retry_after(std::move(retry)) {}
    Mode mode;
    std::uint64_t n;          // Bytes before a drop, or the status code.
    std::string retry_after;  // kStatus: a Retry-After header, if not empty.
  };

  explicit ScriptedHttp(std::string body) : body_(std::move(body)) {}
  void SetBody(std::string body, std::string other = "") {
    body_ = std::move(body);
    other_ = std::move(other);
  }
  void Script(std::vector<Step> steps) { steps_ = std::move(steps); }
  std::vector<std::optional<std::uint64_t>> ranges;
  std::uint64_t body_bytes_sent = 0;

  Result<HttpResponse> Fetch(const HttpRequest& req, const HttpBodySink& sink) override {
    ranges.push_back(req.range_start);
    Step step = calls_ < steps_.size() ? steps_[calls_] : Step{};
    ++calls_;
    HttpResponse r;
    if (step.mode == Mode::kStatus) {
      r.status = static_cast<int>(step.n);
      if (!step.retry_after.empty()) r.headers.push_back({"retry-after", step.retry_after});
      return r;
    }
    std::uint64_t start = req.range_start.value_or(0);
    if (step.mode == Mode::kIgnoreRange) start = 0;
    if (step.mode == Mode::kWrongRange) start = start + 1;
    const std::string& source = step.mode == Mode::kSwap ? other_ : body_;
    std::string part = source.substr(std::min<std::uint64_t>(start, source.size()));
    if (step.mode == Mode::kOversend) part += "EXTRA";
    r.status = req.range_start && step.mode != Mode::kIgnoreRange ? 206 : 200;
    if (r.status == 206) {
      r.headers.push_back({"content-range", "bytes " + std::to_string(start) + "-" +
                                                std::to_string(body_.size() - 1) + "/" +
                                                std::to_string(body_.size())});
    }
    if (r.status == 200 && req.range_start) return r;  // Stopped before the body.
    std::uint64_t limit = part.size();
    if (step.mode == Mode::kDropAfter) limit = std::min<std::uint64_t>(limit, step.n);
    if (limit > req.max_body_bytes) {
      OTA_TRY(Sink(sink, part.substr(0, req.max_body_bytes)));
      return MakeError(ErrorCode::kIntegrity, "body exceeds cap");
    }
    OTA_TRY(Sink(sink, part.substr(0, limit)));
    r.body_bytes = limit;
    if (limit < part.size()) return MakeError(ErrorCode::kRetryLater, "connection reset");
    return r;
  }

 private:
  Status Sink(const HttpBodySink& sink, const std::string& data) {
    body_bytes_sent += data.size();
    return sink(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                              data.size()));
  }
  std::string body_;
  std::string other_;
  std::vector<Step> steps_;
  std::size_t calls_ = 0;
};

class DownloaderTest : public ::testing::Test {
 protected:
  DownloaderTest() : fs_(MakePosixFileSystem()), random_(MakeSecureRandom()), http_(Body()) {
    env_.clock = &clock_;
    env_.random = random_.get();
    env_.fs = fs_.get();
    env_.http = &http_;
    part_ = dir_.Sub("x.part");
  }
  static std::string Body() {
    std::string s;
    for (int i = 0; i < 5000; ++i) s.push_back(static_cast<char>(i * 7));
    return s;
  }
  static DownloadOptions Options() {
    DownloadOptions o;
    o.max_attempts = 3;
    o.sync_every_bytes = 1000;
    return o;
  }
  Result<DownloadStats> Download(const DownloadOptions& o = Options(),
                                 std::uint64_t length = Body().size()) {
    DownloadStats stats;
    Status s = DownloadResumable(env_, "http://127.0.0.1/x", part_, length, o, nullptr, stats);
    last_stats_ = stats;
    if (!s.ok()) return std::move(s).error();
    return stats;
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  ScriptedHttp http_;
  Env env_;
  std::string part_;
  DownloadStats last_stats_;
};

TEST_F(DownloaderTest, DownloadsWholeFile) {
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), Body());
  EXPECT_EQ(stats->fetched, Body().size());
  EXPECT_EQ(stats->resumed_from, 0u);
}

TEST_F(DownloaderTest, DroppedConnectionResumesWithRange) {
  http_.Script({{ScriptedHttp::Mode::kDropAfter, 1234}});
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), Body());
  EXPECT_EQ(stats->fetched, Body().size());  // Nothing fetched twice.
  ASSERT_EQ(http_.ranges.size(), 2u);
  EXPECT_EQ(http_.ranges[1], std::optional<std::uint64_t>(1234));
  EXPECT_EQ(stats->attempts, 2);
}

TEST_F(DownloaderTest, ResumesFromBytesLeftByAnEarlierRun) {
  ota::testing::WriteTestFile(part_, Body().substr(0, 4000));
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->resumed_from, 4000u);
  EXPECT_EQ(stats->fetched, 1000u);
  EXPECT_EQ(ReadTestFile(part_), Body());
}

TEST_F(DownloaderTest, CompleteFileIsNotFetchedAgain) {
  ota::testing::WriteTestFile(part_, Body());
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_TRUE(http_.ranges.empty());
}

TEST_F(DownloaderTest, OversizedPartFileIsDiscarded) {
  ota::testing::WriteTestFile(part_, Body() + "junk");
  ASSERT_OK(Download());
  EXPECT_EQ(ReadTestFile(part_), Body());
  EXPECT_EQ(http_.ranges[0], std::nullopt);
}

TEST_F(DownloaderTest, ServerIgnoringRangeRestartsCleanly) {
  ota::testing::WriteTestFile(part_, Body().substr(0, 100));
  http_.Script({{ScriptedHttp::Mode::kIgnoreRange, 0}});
  ASSERT_OK(Download());
  EXPECT_EQ(ReadTestFile(part_), Body());
}

TEST_F(DownloaderTest, WrongContentRangeRestartsCleanly) {
  ota::testing::WriteTestFile(part_, Body().substr(0, 100));
  http_.Script({{ScriptedHttp::Mode::kWrongRange, 0}});
  ASSERT_OK(Download());
  EXPECT_EQ(ReadTestFile(part_), Body());
}

// More bytes than signed (a captive portal, a bad mirror) are the transport's
// fault, not the artifact's: discarded, then fetched again from byte 0.
TEST_F(DownloaderTest, OverlongAnswerIsDiscardedAndRetriedFromTheStart) {
  http_.Script({{ScriptedHttp::Mode::kOversend, 0}});
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), Body());
  ASSERT_EQ(http_.ranges.size(), 2u);
  EXPECT_EQ(http_.ranges[1], std::nullopt);  // A clean start, not a resume.
  EXPECT_TRUE(stats->clean_transfer);
}

TEST_F(DownloaderTest, OverlongAnswersEveryTimeAreRetryLaterAndNothingKept) {
  http_.Script({{ScriptedHttp::Mode::kOversend, 0},
                {ScriptedHttp::Mode::kOversend, 0},
                {ScriptedHttp::Mode::kOversend, 0}});
  auto stats = Download();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().code, ErrorCode::kRetryLater);
  auto exists = fs_->Exists(part_);
  ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
}

// A resumed range answered with too many bytes (a whole error page after
// the bytes already on disk): the partial file goes, the download restarts.
TEST_F(DownloaderTest, OverlongAnswerToARangeRestartsCleanly) {
  ota::testing::WriteTestFile(part_, Body().substr(0, 100));
  http_.Script({{ScriptedHttp::Mode::kOversend, 0}});
  auto stats = Download();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), Body());
  ASSERT_EQ(http_.ranges.size(), 2u);
  EXPECT_EQ(http_.ranges[0], std::optional<std::uint64_t>(100));
  EXPECT_EQ(http_.ranges[1], std::nullopt);
  EXPECT_TRUE(stats->clean_transfer);
}

// Only a file that one response wrote from byte 0 is a clean transfer; its
// hash failure alone may count against the artifact.
TEST_F(DownloaderTest, CleanTransferOnlyWithoutAResume) {
  auto whole = Download();
  ASSERT_OK(whole);
  EXPECT_TRUE(whole->clean_transfer);
  ASSERT_OK(fs_->Remove(part_));
  http_.Script({{ScriptedHttp::Mode::kNormal, 0}, {ScriptedHttp::Mode::kDropAfter, 1234}});
  auto resumed = Download();
  ASSERT_OK(resumed);
  EXPECT_FALSE(resumed->clean_transfer);
  EXPECT_EQ(ReadTestFile(part_), Body());
  ota::testing::WriteTestFile(part_, Body());
  auto already = Download();  // Found complete on disk: nothing known about how.
  ASSERT_OK(already);
  EXPECT_FALSE(already->clean_transfer);
}

// Jitter at its top: every draw is the largest allowed, so each delay is the
// whole backoff. Records the bounds it was asked for.
class TopRandom : public Random {
 public:
  void Fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0xff); }
  std::uint64_t Uniform(std::uint64_t bound) override {
    bounds.push_back(bound);
    return bound - 1;
  }
  std::vector<std::uint64_t> bounds;
};

// Records every sleep.
class SleepLog : public ManualClock {
 public:
  void SleepFor(std::chrono::milliseconds d) override {
    sleeps.push_back(d);
    ManualClock::SleepFor(d);
  }
  std::vector<std::chrono::milliseconds> sleeps;
};

TEST_F(DownloaderTest, TransientStatusesRetryWithBackoffOnTheInjectedClock) {
  http_.Script({{ScriptedHttp::Mode::kStatus, 503}, {ScriptedHttp::Mode::kStatus, 429}});
  TopRandom random;
  SleepLog clock;
  env_.random = &random;
  env_.clock = &clock;
  const auto before = clock.Monotonic();
  ASSERT_OK(Download());
  EXPECT_EQ(ReadTestFile(part_), Body());
  // Full jitter over a doubling backoff from 500 ms: draws in [0, 500] and
  // [0, 1000], here at their top, so the agent waited 500 ms then 1000 ms.
  EXPECT_EQ(random.bounds, (std::vector<std::uint64_t>{501, 1001}));
  EXPECT_EQ(clock.sleeps, (std::vector<std::chrono::milliseconds>{
                              std::chrono::milliseconds(500), std::chrono::milliseconds(1000)}));
  EXPECT_EQ(clock.Monotonic() - before, std::chrono::milliseconds(500 + 1000));
}

TEST_F(DownloaderTest, GivesUpAfterAttemptsAsRetryLater) {
  http_.Script({{ScriptedHttp::Mode::kStatus, 500},
                {ScriptedHttp::Mode::kStatus, 500},
                {ScriptedHttp::Mode::kStatus, 500}});
  auto stats = Download();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().code, ErrorCode::kRetryLater);
  EXPECT_NE(stats.error().message.find("HTTP 500"), std::string::npos);
}

TEST_F(DownloaderTest, MissingTargetWaitsForTheNextCycle) {
  http_.Script({{ScriptedHttp::Mode::kStatus, 404}});
  auto stats = Download();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(http_.ranges.size(), 1u);  // Not hammered within the call.
}

// A Retry-After longer than the backoff is waited for instead.
TEST_F(DownloaderTest, RetryAfterIsAFloorForTheBackoff) {
  http_.Script({{ScriptedHttp::Mode::kStatus, 503, "7"}});
  TopRandom random;
  SleepLog clock;
  env_.random = &random;
  env_.clock = &clock;
  ASSERT_OK(Download());
  EXPECT_EQ(clock.sleeps, (std::vector<std::chrono::milliseconds>{std::chrono::seconds(7)}));
}

// One longer than a call waits ends the call at once and is reported, so the
// agent does not ask again before it has passed.
TEST_F(DownloaderTest, ALongRetryAfterEndsTheCallAndIsReported) {
  http_.Script({{ScriptedHttp::Mode::kStatus, 429, "3600"}});
  SleepLog clock;
  env_.clock = &clock;
  auto stats = Download();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(http_.ranges.size(), 1u);
  EXPECT_TRUE(clock.sleeps.empty());
  EXPECT_EQ(last_stats_.retry_after, std::optional<std::chrono::seconds>(3600));
}

// A bundle container of five 64 KiB chunks, checked piece by piece.
class ContainerDownloadTest : public DownloaderTest {
 protected:
  void SetUp() override {
    const std::string model = dir_.Sub("model.gguf");
    std::mt19937_64 rng(11);
    std::string weights(5 * (64 << 10) - 1000, '\0');
    for (char& c : weights) c = static_cast<char>(rng() & 0xff);
    ota::testing::WriteTestFile(model, weights);
    manifest::BundleManifest m;
    m.name = "chat";
    m.version = *manifest::ParseVersion("1.0.0");
    m.model = {"model.gguf", "gguf"};
    weights_ = weights;
    bundle::PackOptions o;
    o.chunk_size = 64 << 10;
    const std::string out = dir_.Sub("b.otab");
    ASSERT_OK(bundle::PackBundle(*fs_, m, {{"model.gguf", model, "model"}}, out, o));
    bundle_ = ReadTestFile(out);
    auto info = bundle::ReadBundleHeader(*fs_, out);
    ASSERT_OK(info);
    head_ = info->head;
    bundle::DownloadChecker c(bundle_.size(), head_);
    while (c.fed() < bundle_.size()) {
      if (c.checked() > 0) starts_.push_back(c.fed());
      const std::uint64_t n = c.piece_end() - c.fed();
      ASSERT_OK(c.Feed({reinterpret_cast<const std::uint8_t*>(bundle_.data()) + c.fed(),
                        static_cast<std::size_t>(n)}));
    }
    ASSERT_EQ(starts_.size(), 5u);
    // Another copy whose chunk 2 differs.
    changed_ = bundle_;
    changed_[starts_[2] + 2000] ^= 0x40;
    http_.SetBody(bundle_, changed_);
  }
  DownloadOptions ContainerOptions() {
    DownloadOptions o = Options();
    o.max_attempts = 6;
    o.container = true;
    o.signed_head = head_;
    return o;
  }
  Result<DownloadStats> Get() { return Download(ContainerOptions(), bundle_.size()); }
  std::uint64_t ChunkSize(std::size_t i) {
    return (i + 1 < starts_.size() ? starts_[i + 1] : bundle_.size()) - starts_[i];
  }

  std::string weights_;
  std::string bundle_;
  std::string changed_;
  manifest::ContainerHead head_;
  std::vector<std::uint64_t> starts_;
};

// A resumed range answered from another copy: only the chunk it spoiled is
// fetched again.
TEST_F(ContainerDownloadTest, ASwappedRangeCostsOnlyThePieceItHit) {
  http_.Script({{ScriptedHttp::Mode::kDropAfter, starts_[2] + 1000},
                {ScriptedHttp::Mode::kSwap, 0},
                {ScriptedHttp::Mode::kNormal, 0}});
  auto stats = Get();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), bundle_);
  EXPECT_EQ(http_.ranges, (std::vector<std::optional<std::uint64_t>>{
                              std::nullopt, starts_[2] + 1000, starts_[2]}));
  EXPECT_EQ(stats->discarded, ChunkSize(2));
  EXPECT_EQ(stats->fetched, bundle_.size() + ChunkSize(2));
  EXPECT_FALSE(stats->clean_transfer);
}

// The server sends the same wrong bytes every time: after the second
// failure the download starts over cleanly without piece checks, so that the
// signed hash (checked by the caller) decides about the artifact.
TEST_F(ContainerDownloadTest, TheSameBadBytesTwiceStartOverCleanly) {
  http_.SetBody(changed_);
  auto stats = Get();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), changed_);
  EXPECT_EQ(http_.ranges,
            (std::vector<std::optional<std::uint64_t>>{std::nullopt, starts_[2], std::nullopt}));
  EXPECT_TRUE(stats->clean_transfer);
}

// Without checks an over-long answer is thrown away whole; checked, its
// pieces are kept and the file is complete.
TEST_F(ContainerDownloadTest, AnOverlongAnswerKeepsItsCheckedPieces) {
  http_.Script({{ScriptedHttp::Mode::kOversend, 0}});
  auto stats = Get();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), bundle_);
  EXPECT_EQ(http_.ranges.size(), 1u);
  EXPECT_EQ(stats->fetched, bundle_.size());
  EXPECT_FALSE(stats->clean_transfer);
}

// A part file left by a run that died after writing a chunk and before
// checking it: that chunk is hashed again, found bad and cut off; the chunks
// before it are not read again.
TEST_F(ContainerDownloadTest, APartFilesUncheckedLastChunkIsCheckedAgain) {
  ota::testing::WriteTestFile(part_, changed_.substr(0, starts_[3]));
  auto stats = Get();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), bundle_);
  ASSERT_FALSE(http_.ranges.empty());
  EXPECT_EQ(http_.ranges[0], std::optional<std::uint64_t>(starts_[2]));
  EXPECT_EQ(stats->resumed_from, starts_[2]);
  EXPECT_EQ(stats->discarded, ChunkSize(2));
}

// A head that is not the signed one (another file's) is fetched again.
TEST_F(ContainerDownloadTest, AWrongHeadIsFetchedAgain) {
  std::string other = bundle_;
  other[10] ^= 1;  // The preamble's flags: not the signed head.
  http_.SetBody(bundle_, other);
  http_.Script({{ScriptedHttp::Mode::kSwap, 0}, {ScriptedHttp::Mode::kNormal, 0}});
  auto stats = Get();
  ASSERT_OK(stats);
  EXPECT_EQ(ReadTestFile(part_), bundle_);
  EXPECT_EQ(http_.ranges, (std::vector<std::optional<std::uint64_t>>{std::nullopt, std::nullopt}));
  EXPECT_EQ(stats->discarded, head_.length);
  EXPECT_TRUE(stats->clean_transfer);
}

// Records what a download hands to its checked sink.
class RecordingSink : public CheckedSink {
 public:
  void Take(std::vector<std::uint8_t> bytes) override {
    sizes.push_back(bytes.size());
    taken.append(bytes.begin(), bytes.end());
  }
  void Abandon() override { abandoned = true; }
  std::string taken;
  std::vector<std::size_t> sizes;
  bool abandoned = false;
};

// A clean transfer from byte 0 hands over every piece, whole and in order,
// once checked.
TEST_F(ContainerDownloadTest, ACleanTransferHandsEveryCheckedPieceToTheStream) {
  RecordingSink sink;
  DownloadOptions o = ContainerOptions();
  o.checked_sink = &sink;
  ASSERT_OK(Download(o, bundle_.size()));
  EXPECT_FALSE(sink.abandoned);
  EXPECT_TRUE(sink.taken == bundle_);
  ASSERT_EQ(sink.sizes.size(), 1 + starts_.size());  // The head, then each chunk.
  EXPECT_EQ(sink.sizes[0], head_.length);
  for (std::size_t i = 0; i < starts_.size(); ++i) EXPECT_EQ(sink.sizes[i + 1], ChunkSize(i));
}

// Only checked pieces are ever handed over: a piece that fails its check
// ends the stream before it.
TEST_F(ContainerDownloadTest, ABadPieceAbandonsTheStreamBeforeIt) {
  http_.SetBody(changed_);
  RecordingSink sink;
  DownloadOptions o = ContainerOptions();
  o.checked_sink = &sink;
  ASSERT_OK(Download(o, bundle_.size()));
  EXPECT_TRUE(sink.abandoned);
  EXPECT_EQ(sink.taken.size(), starts_[2]);
  EXPECT_TRUE(sink.taken == bundle_.substr(0, starts_[2]));
}

// A dropped connection ends the stream after the last checked piece; the
// download itself resumes and completes.
TEST_F(ContainerDownloadTest, ADroppedTransferAbandonsTheStream) {
  http_.Script(
      {{ScriptedHttp::Mode::kDropAfter, starts_[3] + 1000}, {ScriptedHttp::Mode::kNormal, 0}});
  RecordingSink sink;
  DownloadOptions o = ContainerOptions();
  o.checked_sink = &sink;
  ASSERT_OK(Download(o, bundle_.size()));
  EXPECT_TRUE(sink.abandoned);
  EXPECT_EQ(sink.taken.size(), starts_[3]);
  EXPECT_TRUE(sink.taken == bundle_.substr(0, starts_[3]));
  EXPECT_TRUE(ReadTestFile(part_) == bundle_);
}

// Nothing is streamed without a signed head, nor for a resumed download.
TEST_F(ContainerDownloadTest, NoStreamWithoutASignedHeadOrFromAPartFile) {
  RecordingSink unsigned_head;
  DownloadOptions o = ContainerOptions();
  o.signed_head.reset();
  o.checked_sink = &unsigned_head;
  ASSERT_OK(Download(o, bundle_.size()));
  EXPECT_TRUE(unsigned_head.abandoned);
  EXPECT_TRUE(unsigned_head.taken.empty());

  ota::testing::WriteTestFile(part_, bundle_.substr(0, starts_[1]));
  RecordingSink resumed;
  o = ContainerOptions();
  o.checked_sink = &resumed;
  ASSERT_OK(Download(o, bundle_.size()));
  EXPECT_TRUE(resumed.abandoned);
  EXPECT_TRUE(resumed.taken.empty());
}

// The streamed unpack: the bundle unpacked and both digests of the whole
// file computed while it downloads.
// On its worker thread, and inline as under crash points.
TEST_F(ContainerDownloadTest, AStreamedUnpackUnpacksAndHashesTheBundleAsItArrives) {
  for (const bool threaded : {true, false}) {
    SCOPED_TRACE(threaded ? "threaded" : "inline");
    const std::string staging = dir_.Sub(threaded ? "staging-threaded" : "staging-inline");
    std::filesystem::remove(part_);
    StreamedUnpack stream(*fs_, staging, std::nullopt, true, true, threaded);
    DownloadOptions o = ContainerOptions();
    o.checked_sink = &stream;
    ASSERT_OK(Download(o, bundle_.size()));
    auto done = stream.Finish(bundle_.size());
    ASSERT_OK(done);
    EXPECT_EQ(done->manifest.name, "chat");
    EXPECT_EQ(done->length, bundle_.size());
    EXPECT_EQ(done->sha256, Sha256Hex(bundle_));
    EXPECT_EQ(done->sha512, Sha512Hex(bundle_));
    EXPECT_TRUE(ReadTestFile(staging + "/model.gguf") == weights_);
    EXPECT_TRUE(fs_->Exists(staging + "/bundle.json").value());
  }
}

// A stream that was abandoned or ended short leaves no staging folder.
TEST_F(ContainerDownloadTest, AnUnfinishedStreamedUnpackLeavesNothing) {
  const std::string staging = dir_.Sub("staging");
  {
    StreamedUnpack stream(*fs_, staging, std::nullopt, true, false);
    http_.Script(
        {{ScriptedHttp::Mode::kDropAfter, starts_[3] + 1000}, {ScriptedHttp::Mode::kNormal, 0}});
    DownloadOptions o = ContainerOptions();
    o.checked_sink = &stream;
    ASSERT_OK(Download(o, bundle_.size()));
    auto done = stream.Finish(bundle_.size());
    ASSERT_FALSE(done.ok());
    EXPECT_EQ(done.error().code, ErrorCode::kCancelled);
    EXPECT_FALSE(fs_->Exists(staging).value());
  }
  {
    StreamedUnpack stream(*fs_, staging, std::nullopt, true, false);
    stream.Take(std::vector<std::uint8_t>(bundle_.begin(), bundle_.begin() + starts_[2]));
    auto done = stream.Finish(bundle_.size());
    ASSERT_FALSE(done.ok());
    EXPECT_EQ(done.error().code, ErrorCode::kIntegrity);
    EXPECT_FALSE(fs_->Exists(staging).value());
  }
  {
    // Destroyed before Finish (the deployment failed its download).
    auto stream = std::make_unique<StreamedUnpack>(*fs_, staging, std::nullopt, true, false);
    stream->Take(std::vector<std::uint8_t>(bundle_.begin(), bundle_.begin() + starts_[2]));
    stream.reset();
    EXPECT_FALSE(fs_->Exists(staging).value());
  }
}

}  // namespace
}  // namespace ota::agent
