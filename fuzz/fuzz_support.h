// Shared by the libFuzzer targets: a scratch folder per process and a way
// to report an invariant broken by an input (which libFuzzer then keeps).
#ifndef OTA_FUZZ_FUZZ_SUPPORT_H_
#define OTA_FUZZ_FUZZ_SUPPORT_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace ota::fuzz {

// A folder under $TMPDIR (or /tmp) private to this process, created on first
// use and removed at exit.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/ota-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    static struct Cleanup {
      std::string path;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    } cleanup{pattern};
    return pattern;
  }();
  return dir;
}

// Aborts with `what` when an invariant does not hold: libFuzzer records the
// input as a crash.
inline void Require(bool holds, std::string_view what) {
  if (holds) return;
  std::fprintf(stderr, "invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace ota::fuzz

#endif  // OTA_FUZZ_FUZZ_SUPPORT_H_
