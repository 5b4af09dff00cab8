// The one seam between ModelOTA and the outside world (LevelDB's Env idea).
//
// Clock, randomness, filesystem, platform (locks, rename notices) and HTTP
// come in through these interfaces, passed to constructors. Production code
// uses MakePosixEnv(); tests substitute fakes (a manual clock, a filesystem that drops unsynced
// writes, ...).
#ifndef OTA_COMMON_ENV_H_
#define OTA_COMMON_ENV_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/common/platform.h"

namespace ota {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, used for metadata expiry and timestamps in reports.
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time, used for timeouts and measuring durations.
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
  // Blocks for `d` (or returns at once in a fake clock that advances itself).
  virtual void SleepFor(std::chrono::milliseconds d) = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with bytes from a cryptographically secure generator.
  virtual void Fill(std::span<std::uint8_t> out) = 0;
  // A uniformly distributed integer in [0, bound). Requires bound > 0.
  virtual std::uint64_t Uniform(std::uint64_t bound) = 0;
};

// Bundles the seams. Does not own them unless created by MakePosixEnv().
struct Env {
  Clock* clock = nullptr;
  Random* random = nullptr;
  FileSystem* fs = nullptr;
  HttpClient* http = nullptr;
  // nullptr: DefaultPlatform() (see PlatformOf).
  Platform* platform = nullptr;
};

// env.platform, or the process's DefaultPlatform() when it is unset.
inline Platform& PlatformOf(const Env& env) {
  return env.platform != nullptr ? *env.platform : DefaultPlatform();
}

// The real environment: system clocks, libsodium randombytes, POSIX files, and
// libcurl. The returned object owns its parts; its `env()` stays valid as long
// as it lives. MakePosixEnv is in library ota_common_http (it makes the curl
// client), MakeSecureRandom in ota_common_crypto (libsodium), MakeSystemClock
// in ota_common.
class OwnedEnv {
 public:
  virtual ~OwnedEnv() = default;
  virtual Env& env() = 0;
};
std::unique_ptr<OwnedEnv> MakePosixEnv();

std::unique_ptr<Clock> MakeSystemClock();
std::unique_ptr<Random> MakeSecureRandom();

}  // namespace ota

#endif  // OTA_COMMON_ENV_H_
