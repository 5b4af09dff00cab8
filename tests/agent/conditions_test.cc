// Download conditions: the policy against host facts with an injected clock,
// and the governor a download runs under (cap, cancellation, conditions
// re-read mid-transfer).
#include "ota/agent/conditions.h"

#include <gtest/gtest.h>
#include <atomic>

#include "download_governor.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using manifest::DefaultDownloadPolicy;
using manifest::DownloadPolicy;
using manifest::HostConditions;
using manifest::NetworkKind;
using manifest::TimeWindow;
using std::chrono::system_clock;

constexpr std::uint64_t kMiB = 1024 * 1024;

// 2026-12-07 14:05:00 UTC.
const system_clock::time_point kAfternoon =
    system_clock::time_point(std::chrono::seconds(1796652300));

std::string Blocked(const DownloadPolicy& p, const HostConditions& c, std::uint64_t bytes,
                    system_clock::time_point now = kAfternoon, std::uint64_t space = 0) {
  return DownloadBlocked(p, c, bytes, space, now).value_or("");
}

TEST(ConditionsTest, DefaultPolicyWantsUnmeteredAbove50MiBAndChargingAbove500MiB) {
  const DownloadPolicy p = DefaultDownloadPolicy();
  HostConditions metered;
  metered.network = NetworkKind::kMetered;
  EXPECT_EQ(Blocked(p, metered, 50 * kMiB), "");  // At the threshold: allowed.
  EXPECT_EQ(Blocked(p, metered, 50 * kMiB + 1),
            "needs an unmetered network (download 50.0 MiB, above 50.0 MiB)");
  HostConditions unplugged;
  unplugged.charging = false;
  EXPECT_EQ(Blocked(p, unplugged, 400 * kMiB), "");
  EXPECT_EQ(Blocked(p, unplugged, 600 * kMiB),
            "needs the device charging (download 600.0 MiB, above 500.0 MiB)");
  // Nothing reported: all met (a Linux box on mains).
  EXPECT_EQ(Blocked(p, HostConditions{}, 5000 * kMiB), "");
  HostConditions offline;
  offline.network = NetworkKind::kNone;
  EXPECT_EQ(Blocked(p, offline, 1), "no network");
}

TEST(ConditionsTest, BatteryIdleAndFreeStorage) {
  DownloadPolicy p;
  manifest::DownloadRule rule;
  rule.min_battery_percent = 30;
  rule.idle = true;
  p.rules = std::vector<manifest::DownloadRule>{rule};
  HostConditions c;
  c.battery_percent = 20;
  EXPECT_EQ(Blocked(p, c, 10), "needs the battery at 30% or more (now 20%) (download 0.0 MiB)");
  c.battery_percent = 30;
  EXPECT_EQ(Blocked(p, c, 10), "");
  c.idle = false;
  EXPECT_EQ(Blocked(p, c, 10), "needs the device idle (download 0.0 MiB)");
  c.idle = true;
  c.free_storage_bytes = 100 * kMiB;
  EXPECT_EQ(Blocked(p, c, 10, kAfternoon, 200 * kMiB),
            "needs 200.0 MiB of free storage (the host reports 100.0 MiB)");
  EXPECT_EQ(Blocked(p, c, 10, kAfternoon, 100 * kMiB), "");
}

TEST(ConditionsTest, WindowsUseTheHostsLocalTimeAndWrapPastMidnight) {
  DownloadPolicy p;
  p.windows = std::vector<TimeWindow>{{22 * 60, 6 * 60}};
  HostConditions utc;
  utc.utc_offset_minutes = 0;
  EXPECT_EQ(Blocked(p, utc, 1),
            "outside the download windows (local time 14:05; windows 22:00-06:00)");
  HostConditions tokyo = utc;
  tokyo.utc_offset_minutes = 9 * 60;  // 23:05 there.
  EXPECT_EQ(Blocked(p, tokyo, 1), "");
  // 06:00 is the end (exclusive); 05:59 is inside.
  const auto at = [](int h, int m) {
    return system_clock::time_point(std::chrono::seconds(1796601600 + h * 3600 + m * 60));
  };
  EXPECT_EQ(Blocked(p, utc, 1, at(5, 59)), "");
  EXPECT_NE(Blocked(p, utc, 1, at(6, 0)), "");
  EXPECT_EQ(Blocked(p, utc, 1, at(22, 0)), "");
  EXPECT_EQ(LocalMinuteOfDay(at(0, 30), -60), 23u * 60 + 30);
  // An empty list: any time.
  p.windows = std::vector<TimeWindow>{};
  EXPECT_EQ(Blocked(p, utc, 1), "");
}

// Serves `size` bytes in 16 KiB pieces to the sink, counting requests.
class PieceServer : public HttpClient {
 public:
  explicit PieceServer(std::size_t size) : size_(size) {}
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest&, const HttpBodySink& sink) override {
    ++requests;
    HttpResponse r;
    r.status = 200;
    std::vector<std::uint8_t> piece(16 * 1024, 7);
    for (std::size_t sent = 0; sent < size_; sent += piece.size()) {
      const std::size_t n = std::min(piece.size(), size_ - sent);
      r.body_bytes += n;
      if (on_piece) on_piece();
      OTA_TRY(sink(std::span<const std::uint8_t>(piece.data(), n)));
    }
    return r;
  }
  int requests = 0;
  std::function<void()> on_piece;

 private:
  std::size_t size_;
};

TEST(ConditionsTest, TheCapHoldsTheTransferToItsRateOnTheInjectedClock) {
  testing::ManualClock clock;
  PieceServer server(1 * kMiB);
  DownloadRules rules;
  rules.max_bytes_per_second = 256 * 1024;
  GovernedHttpClient governed(server, clock, rules);
  const auto start = clock.Monotonic();
  std::uint64_t got = 0;
  auto r = governed.Fetch(HttpRequest{}, [&](std::span<const std::uint8_t> b) {
    got += b.size();
    return Ok();
  });
  ASSERT_OK(r);
  EXPECT_EQ(got, 1 * kMiB);
  // 1 MiB at 256 KiB/s: four seconds, slept through the clock.
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(clock.Monotonic() - start),
            std::chrono::milliseconds(4000));
  EXPECT_EQ(governed.throttled(), std::chrono::milliseconds(4000));
  // No cap: no waiting.
  GovernedHttpClient free(server, clock, DownloadRules{});
  const auto before = clock.Monotonic();
  ASSERT_OK(free.Fetch(HttpRequest{}, [](std::span<const std::uint8_t>) { return Ok(); }));
  EXPECT_EQ(clock.Monotonic(), before);
}

TEST(ConditionsTest, ACancelOrAConditionChangeStopsATransferMidway) {
  testing::ManualClock clock;
  PieceServer server(1 * kMiB);
  std::atomic<bool> cancel{false};
  DownloadRules rules;
  rules.cancel = &cancel;
  GovernedHttpClient governed(server, clock, rules);
  std::uint64_t got = 0;
  server.on_piece = [&] {
    if (got >= 64 * 1024) cancel.store(true);
  };
  auto sink = [&](std::span<const std::uint8_t> b) {
    got += b.size();
    return Ok();
  };
  auto r = governed.Fetch(HttpRequest{}, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(got, 80u * 1024);  // The piece in hand, then it stops.
  // Refused before any byte once cancelled.
  const int before = server.requests;
  EXPECT_EQ(governed.Fetch(HttpRequest{}, sink).error().code, ErrorCode::kCancelled);
  EXPECT_EQ(server.requests, before);

  // The phone leaves Wi-Fi halfway: the next re-check (a second later) pauses.
  HostConditions now;
  DownloadRules watched;
  watched.policy = DefaultDownloadPolicy();
  watched.bytes = 100 * kMiB;
  watched.conditions = [&]() -> Result<HostConditions> { return now; };
  watched.max_bytes_per_second = 1 * kMiB;  // So that the clock moves.
  PieceServer big(4 * kMiB);
  GovernedHttpClient phone(big, clock, watched);
  got = 0;
  big.on_piece = [&] {
    if (got >= 512 * 1024) now.network = NetworkKind::kMetered;
  };
  auto paused = phone.Fetch(HttpRequest{}, sink);
  ASSERT_FALSE(paused.ok());
  EXPECT_EQ(paused.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(paused.error().message,
            "download paused: needs an unmetered network (download 100.0 MiB, above 50.0 MiB)");
  // Within about a second of transfer after the change (1 MiB at the cap).
  EXPECT_GE(got, 512u * 1024);
  EXPECT_LE(got, 1536u * 1024 + 16 * 1024);
  // And before a transfer starts.
  Status gate = DownloadMayStart(watched, clock);
  ASSERT_FALSE(gate.ok());
  EXPECT_EQ(gate.error().message,
            "waiting to download: needs an unmetered network (download 100.0 MiB, above 50.0 "
            "MiB)");
  // A host that cannot say makes downloads wait, saying why.
  watched.conditions = []() -> Result<HostConditions> {
    return MakeError(ErrorCode::kRetryLater, "conditions file /x: not found");
  };
  EXPECT_EQ(DownloadMayStart(watched, clock).error().message,
            "waiting to download: conditions file /x: not found");
}

TEST(ConditionsTest, ConditionsFileIsReadEachTime) {
  testing::TempDir dir;
  auto fs = MakePosixFileSystem();
  const std::string path = dir.Sub("conditions.json");
  ConditionsSource source = ConditionsFromFile(*fs, path);
  auto missing = source();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("conditions file " + path + ": "), std::string::npos);
  testing::WriteTestFile(path, R"({"network": "metered", "charging": false})");
  auto read = source();
  ASSERT_OK(read);
  EXPECT_EQ(read->network, NetworkKind::kMetered);
  testing::WriteTestFile(path, R"({"network": "lte"})");
  auto bad = source();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "conditions file " + path +
                ": device conditions: \"network\" must be \"none\", \"metered\" or "
                "\"unmetered\", not \"lte\"");
}

}  // namespace
}  // namespace ota::agent
