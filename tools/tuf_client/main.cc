// ota-tuf-client: a TUF 1.0 client for the public TUF conformance suite,
// built on the same verifier::Updater the device agent uses. Exit status is
// exactly 0 on success and 1 on any failure.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "client.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/common/log.h"
#include "ota/common/main_guard.h"
#include "ota/common/tls.h"

namespace ota::tuf_client {
namespace {

// Wall time read through libc's clock_gettime, so tools that fake the time
// of a dynamically linked process (libfaketime) move expiry checks too.
class LibcClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  void SleepFor(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

int Run(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv);
  if (!args.ok()) {
    std::fprintf(stderr, "ota-tuf-client: %s\n%s", args.error().message.c_str(), Usage());
    return 1;
  }
  if (args->command == Command::kHelp) {
    std::fputs(Usage(), stdout);
    return 0;
  }
  LibcClock clock;
  std::unique_ptr<Random> random = MakeSecureRandom();
  std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  std::unique_ptr<HttpClient> curl = MakeCurlHttpClient();
  // Every request carries the TLS settings (ignored for http:// URLs).
  auto http = MakeTlsHttpClient(*fs, *curl, TlsSettings{args->ca_bundle, args->pins});
  if (!http.ok()) {
    std::fprintf(stderr, "ota-tuf-client: %s\n", http.error().message.c_str());
    return 1;
  }
  Env env;
  env.clock = &clock;
  env.random = random.get();
  env.fs = fs.get();
  env.http = http->get();
  Status s = args->command == Command::kInit      ? Init(env, *args)
             : args->command == Command::kRefresh ? Refresh(env, *args)
                                                  : Download(env, *args);
  if (!s.ok()) {
    std::fprintf(stderr, "ota-tuf-client: %s\n", s.error().ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ota::tuf_client

int main(int argc, char** argv) {
  // The conformance protocol allows exit statuses 0 and 1 only: an internal
  // error is a failure like any other there.
  return ota::RunGuardedMain(
      "ota-tuf-client",
      [&] {
        std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + (argc > 0 ? argc : 0));
        return ota::tuf_client::Run(args) == 0 ? 0 : 1;
      },
      /*internal_error_exit=*/1);
}
