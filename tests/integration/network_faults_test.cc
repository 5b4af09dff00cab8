// A bad network between a device and its server, end to end on loopback:
// the agent (in process, real libcurl) talks to ota-server through a
// fault-injecting proxy that breaks the bundle downloads in every way a
// network or a mirror does. Each case ends with the signed release active,
// verified, and with at most one chunk fetched beyond the file's size.
#include <algorithm>
#include <memory>

#include "fault_proxy.h"
#include "ota/agent/agent.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::UpdateOutcome;
using ota::testing::FaultProxy;
using ota::testing::ReadTestFile;
using ota::testing::WriteTestFile;

// The bundle is built with chunks of this many plaintext bytes: the most a
// fault may cost the device.
constexpr std::uint64_t kChunk = 64 << 10;

class NetworkFaultsTest : public ota::testing::RepoFixture {
 protected:
  void SetUp() override {
    RepoFixture::SetUp();
    // About a megabyte of weights: some fifteen chunks.
    synth_shape_ = {"--layers", "2", "--width", "128"};
    build_extra_ = {"--chunk-size", std::to_string(kChunk)};
    stall_timeout_ = std::chrono::seconds(1);
    model_ = Publish("1.0.0", 1);
    size_ = ReadTestFile(TargetFile("1.0.0")).size();
    ASSERT_GT(size_, 8 * kChunk);
    StartServer();
    proxy_ = std::make_unique<FaultProxy>(url_);
    url_ = proxy_->url();  // The device knows the server only through the proxy.
    Enroll();
  }
  void TearDown() override { proxy_.reset(); }

  // Runs update cycles (at most `cycles`) until one installs; sums the bytes
  // the device received.
  UpdateOutcome UpdateUntilInstalled(agent::Agent& a, int cycles) {
    UpdateOutcome o;
    for (int i = 0; i < cycles; ++i) {
      o = UpdateOnce(a);
      fetched_ += o.bytes_fetched;
      if (o.kind != UpdateOutcome::Kind::kDeferred) break;
    }
    return o;
  }

  // The signed release is active and verified, and the device received at
  // most `extra` bytes beyond the file's size.
  void ExpectInstalled(agent::Agent& a, const UpdateOutcome& o, std::uint64_t extra) {
    EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
    EXPECT_EQ(ActiveVersion(a), "1.0.0");
    EXPECT_EQ(ActiveModelBytes(), ReadTestFile(model_));
    EXPECT_GE(fetched_, size_);
    EXPECT_LE(fetched_, size_ + extra);
  }

  // A copy of the bundle whose bytes from `from` on differ: what a mirror
  // that changed its copy in the middle of a download serves.
  std::string ChangedCopy(std::uint64_t from) {
    std::string bytes = ReadTestFile(TargetFile("1.0.0"));
    for (std::uint64_t i = from; i < bytes.size(); i += 97) bytes[i] = static_cast<char>(~bytes[i]);
    const std::string path = dir_.Sub("changed.otab");
    WriteTestFile(path, bytes);
    return path;
  }

  std::unique_ptr<FaultProxy> proxy_;
  std::string model_;
  std::uint64_t size_ = 0;
  std::uint64_t fetched_ = 0;
};

constexpr char kBundles[] = "/targets/bundles/";

TEST_F(NetworkFaultsTest, TruncatedBodyResumesWhereItStopped) {
  proxy_->Watch(kBundles, {FaultProxy::Truncate(300'000)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  const FaultProxy::Watched w = proxy_->watched();
  ASSERT_EQ(w.requests, 2);
  EXPECT_EQ(w.ranges[1], "bytes=300000-");
}

TEST_F(NetworkFaultsTest, ConnectionResetMidBodyResumes) {
  // Each reset counts the body bytes of its own response. The second one sits
  // where the resumed response always reaches (it starts at most 250,000
  // bytes in, and the bundle is over 524,288), whatever the first reset
  // dropped in flight: three requests, every run.
  proxy_->Watch(kBundles, {FaultProxy::Reset(250'000), FaultProxy::Reset(200'000)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  // A reset may drop bytes still in flight; nothing else is fetched twice.
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  EXPECT_EQ(proxy_->watched().requests, 3);
}

// The stream stops; the low-speed limit (1 s here) drops the transfer and
// the next attempt resumes from the bytes on disk.
TEST_F(NetworkFaultsTest, StalledTransferIsDroppedAndResumed) {
  proxy_->Watch(kBundles, {FaultProxy::Stall(400'000, std::chrono::seconds(20))});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  const FaultProxy::Watched w = proxy_->watched();
  ASSERT_EQ(w.requests, 2);
  EXPECT_EQ(w.ranges[1], "bytes=400000-");
}

// A Content-Length larger than the signed length is refused before any
// body byte is taken; the next request gets the file.
TEST_F(NetworkFaultsTest, ContentLengthLongerThanSignedIsRefusedUpFront) {
  proxy_->Watch(kBundles, {FaultProxy::LongerLength(5000)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  EXPECT_EQ(proxy_->watched().requests, 2);
}

// A Content-Length smaller than the body: the client stops early and the
// rest comes with a range request.
TEST_F(NetworkFaultsTest, ContentLengthShorterThanTheBody) {
  proxy_->Watch(kBundles, {FaultProxy::ShorterLength(30'000)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  const FaultProxy::Watched w = proxy_->watched();
  ASSERT_EQ(w.requests, 2);
  EXPECT_EQ(w.ranges[1], "bytes=" + std::to_string(size_ - 30'000) + "-");
}

// More bytes than signed (a captive portal appending its page): the checked
// chunks are kept, the last one fetched again.
TEST_F(NetworkFaultsTest, BodyLongerThanSignedKeepsItsCheckedChunks) {
  proxy_->Watch(kBundles, {FaultProxy::ExtraBytes(700)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), kChunk);
  EXPECT_EQ(proxy_->watched().requests, 2);
}

// The mirror's copy changes between two requests: the resumed range carries
// other bytes; the chunk they spoil is fetched again, nothing else.
TEST_F(NetworkFaultsTest, ContentSwappedBetweenRequestsCostsOneChunk) {
  const std::uint64_t cut = 5 * kChunk + 1234;
  proxy_->Watch(kBundles, {FaultProxy::Truncate(cut), FaultProxy::Swap(ChangedCopy(cut))});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), kChunk);
  EXPECT_EQ(proxy_->watched().requests, 3);
}

// A storm of 5xx within the retry budget: retried with backoff on the
// injected clock, installed in the same cycle.
TEST_F(NetworkFaultsTest, ServerErrorStormWithinTheRetryBudget) {
  proxy_->Watch(kBundles, {FaultProxy::Status(503), FaultProxy::Status(500),
                           FaultProxy::Status(502), FaultProxy::Status(503)});
  auto a = OpenAgent(/*attempts=*/6);
  ASSERT_NE(a, nullptr);
  const auto before = clock_.Monotonic();
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  EXPECT_EQ(proxy_->watched().requests, 5);
  // Four waits of full jitter over 500, 1000, 2000 and 4000 ms.
  EXPECT_LE(clock_.Monotonic() - before, std::chrono::milliseconds(7500));
}

// A storm longer than the budget: the cycle gives up after exactly its
// attempts and the next one installs.
TEST_F(NetworkFaultsTest, ServerErrorStormBeyondTheBudgetWaitsForTheNextCycle) {
  proxy_->Watch(kBundles, std::vector<FaultProxy::Fault>(3, FaultProxy::Status(503)));
  auto a = OpenAgent(/*attempts=*/3);
  ASSERT_NE(a, nullptr);
  UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kDeferred);
  EXPECT_EQ(first.error->code, ErrorCode::kRetryLater);
  EXPECT_EQ(proxy_->watched().requests, 3);
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
}

// 429 with a short Retry-After: waited for (on the injected clock), then
// downloaded in the same cycle.
TEST_F(NetworkFaultsTest, TooManyRequestsWithAShortRetryAfterIsWaitedFor) {
  proxy_->Watch(kBundles, {FaultProxy::Status(429, "20")});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  const auto before = clock_.Monotonic();
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
  EXPECT_GE(clock_.Monotonic() - before, std::chrono::seconds(20));
  EXPECT_EQ(proxy_->watched().requests, 2);
}

// 429 with a long Retry-After: the cycle ends, and no download is tried
// until the time has passed, even by a new process.
TEST_F(NetworkFaultsTest, TooManyRequestsWithALongRetryAfterIsHonouredAcrossRuns) {
  proxy_->Watch(kBundles, {FaultProxy::Status(429, "600")});
  {
    auto a = OpenAgent();
    ASSERT_NE(a, nullptr);
    UpdateOutcome first = UpdateOnce(*a);
    ASSERT_EQ(first.kind, UpdateOutcome::Kind::kDeferred);
    EXPECT_NE(first.error->message.find("asked to wait 600 s"), std::string::npos)
        << first.error->message;
  }
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  clock_.Advance(std::chrono::seconds(300));
  UpdateOutcome early = UpdateOnce(*a);
  ASSERT_EQ(early.kind, UpdateOutcome::Kind::kDeferred);
  EXPECT_NE(early.error->message.find("asked not to download before"), std::string::npos)
      << early.error->message;
  EXPECT_EQ(proxy_->watched().requests, 1);
  clock_.Advance(std::chrono::seconds(301));
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
}

// A target the server does not have: one request per cycle, no loop, the
// release not refused; installed once the mirror has it.
TEST_F(NetworkFaultsTest, PermanentNotFoundIsAskedOncePerCycle) {
  proxy_->Watch(kBundles, {});
  proxy_->SetDefault(FaultProxy::Status(404));
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  for (int cycle = 1; cycle <= 3; ++cycle) {
    UpdateOutcome o = UpdateOnce(*a);
    ASSERT_EQ(o.kind, UpdateOutcome::Kind::kDeferred) << cycle;
    EXPECT_EQ(o.error->code, ErrorCode::kRetryLater);
    EXPECT_EQ(proxy_->watched().requests, cycle);
  }
  proxy_->SetDefault(FaultProxy::Pass());
  ExpectInstalled(*a, UpdateUntilInstalled(*a, 1), 0);
}

}  // namespace
}  // namespace ota
