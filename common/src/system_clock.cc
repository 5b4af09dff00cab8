// The system clock: pure code in ota_common, so modules that only need time
// (runtime_adapter, shadow, the app-side agent code) link no outside library.
#include <chrono>
#include <memory>
#include <thread>

#include "ota/common/env.h"

namespace ota {
namespace {

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  void SleepFor(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

}  // namespace

std::unique_ptr<Clock> MakeSystemClock() { return std::make_unique<SystemClock>(); }

}  // namespace ota
