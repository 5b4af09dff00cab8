#include "downloader.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "ota/common/env.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using ota::testing::ManualClock;
using ota::testing::ReadTestFile;
using ota::testing::TempDir;

// Serves one byte string, with scripted misbehaviour per request.
class ScriptedHttp : public HttpClient {
 public:
  enum class Mode { kNormal, kDropAfter, kIgnoreRange, kWrongRange, kOversend, kStatus };
  struct Step {
    Mode mode = Mode::kNormal;
    std::uint64_t n = 0;  // Bytes before a drop, or the status code.
  };

  explicit ScriptedHttp(std::string body) : body_(std::move(body)) {}
  void Script(std::vector<Step> steps) { steps_ = std::move(steps); }
  std::vector<std::optional<std::uint64_t>> ranges;

  Result<HttpResponse> Fetch(const HttpRequest& req, const HttpBodySink& sink) override {
    ranges.push_back(req.range_start);
    Step step = calls_ < steps_.size() ? steps_[calls_] : Step{};
    ++calls_;
    HttpResponse r;
    if (step.mode == Mode::kStatus) {
      r.status = static_cast<int>(step.n);
      return r;
    }
    std::uint64_t start = req.range_start.value_or(0);
    if (step.mode == Mode::kIgnoreRange) start = 0;
    if (step.mode == Mode::kWrongRange) start = start + 1;
    std::string part = body_.substr(std::min<std::uint64_t>(start, body_.size()));
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
  static Status Sink(const HttpBodySink& sink, const std::string& data) {
    return sink(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                              data.size()));
  }
  std::string body_;
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
  Result<DownloadStats> Download() {
    DownloadOptions o;
    o.max_attempts = 3;
    o.sync_every_bytes = 1000;
    return DownloadResumable(env_, "http://127.0.0.1/x", part_, Body().size(), o, nullptr);
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  ScriptedHttp http_;
  Env env_;
  std::string part_;
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

}  // namespace
}  // namespace ota::agent
