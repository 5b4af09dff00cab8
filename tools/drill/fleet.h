// The pieces a drill plays with: the signed repository and its two
// releases, the in-process server, the simulated clock and the devices.
#ifndef OTA_TOOLS_DRILL_FLEET_H_
#define OTA_TOOLS_DRILL_FLEET_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "drill.h"
#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/http.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"

namespace ota::drill {

// Simulated time: stays where it is set; SleepFor moves it on. Each device
// has its own (its check-in runs at its own time, perhaps beside another
// device's); the server has one of its own.
class SimClock : public Clock {
 public:
  explicit SimClock(std::chrono::system_clock::time_point start)
      : now_(start.time_since_epoch().count()) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(now_.load(std::memory_order_relaxed)));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(Now().time_since_epoch());
  }
  void SleepFor(std::chrono::milliseconds d) override {
    now_.fetch_add(std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count(),
                   std::memory_order_relaxed);
  }
  void Set(std::chrono::system_clock::time_point t) {
    now_.store(t.time_since_epoch().count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::chrono::system_clock::rep> now_;
};

// Reproducible randomness for a drill (device ids, keys, jitter): a drill
// is a simulation, and the same seed must give the same run.
class SeededRandom : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : gen_(seed) {}
  void Fill(std::span<std::uint8_t> out) override {
    for (std::uint8_t& b : out) b = static_cast<std::uint8_t>(gen_() & 0xff);
  }
  std::uint64_t Uniform(std::uint64_t bound) override {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(gen_);
  }

 private:
  std::mt19937_64 gen_;
};

// A device's own seed: the drill's, mixed with its index (SplitMix64).
std::uint64_t DeviceSeed(std::uint64_t seed, std::size_t index);

// An HTTP client for devices whose check-ins run on several threads: one
// libcurl client per thread, made on the thread's first fetch.
class PerThreadHttpClient : public HttpClient {
 public:
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override;

 private:
  std::mutex mu_;
  std::map<std::thread::id, std::unique_ptr<HttpClient>> clients_;
};

struct SimDevice {
  // Its own time and randomness (seeded from the drill's seed and its
  // index), so that its run does not depend on which devices ran before.
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<Random> random;
  Env env;
  bool confirming = false;  // Its new version awaits confirmation by the app.
  std::string state_dir;
  std::string group;
  bool shadow_fail = false, sessions_fail = false, crash = false, load_fail = false;
  bool power_loss = false;               // Its power is to be cut mid-update.
  std::optional<std::size_t> power_cut;  // Its entry in DrillReport::power_cuts.
  std::string dead;          // Why its agent did not start after its power cut ("" it did).
  std::uint32_t bucket = 0;  // In the drill rollout's cohort order.
  std::unique_ptr<agent::Agent> agent;
  agent::AgentOptions options;
  std::string device_id;
  bool in_canary = false;
  std::string version;  // Active version ("" none).
  bool exposed = false;
  std::optional<std::int64_t> back_at;
  std::uint64_t bytes = 0;
};

// Paths and artifacts of one drill's work folder.
struct DrillSite {
  std::string dir;
  std::string otactl;
  // Real llama.cpp models (DrillOptions::real_runtime): the new release is
  // then also published as the variants below, broken for real. Each
  // variant (the standard one included) requires an accelerator of its own
  // name, and each device's facts name the variants it may take, so that a
  // device a fault hits never falls back to the standard variant.
  bool real_runtime = false;
  std::vector<std::string> fault_variants;
  std::string Sub(const std::string& rel) const { return dir + "/" + rel; }
  std::string Key(const std::string& role) const { return Sub("keys/" + role + ".key"); }
};

// Runs otactl with `args`; its output goes to <dir>/setup.log. kInternal
// with the log's tail when it fails.
Status RunOtactl(const DrillSite& site, const std::vector<std::string>& args);

// Keys, repository (with the delegated rollouts role) and the two releases'
// bundles; publishes `from`. Returns the SHA-256 of each release's model
// file ({from, to}).
Result<std::pair<std::string, std::string>> PrepareRepository(DrillSite& site,
                                                              const manifest::DrillScenario& s);

// The variants of the new release that realise faults on the real runtime.
inline constexpr char kStandardVariant[] = "drill-standard";
inline constexpr char kShadowFailVariant[] = "drill-shadow-fail";
inline constexpr char kLoadFailVariant[] = "drill-load-fail";

// Signs a release into the repository; the new one with its fault variants
// when there are any.
Status PublishRelease(const DrillSite& site, const manifest::Version& version,
                      bool with_fault_variants = false);

// A device's facts file from its group.
nlohmann::json GroupFacts(const manifest::DrillGroup& group);

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_FLEET_H_
