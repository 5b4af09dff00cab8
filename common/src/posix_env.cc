// The real environment: system clock, secure random, POSIX files, libcurl.
#include "ota/common/env.h"

namespace ota {
namespace {

class PosixOwnedEnv : public OwnedEnv {
 public:
  PosixOwnedEnv()
      : clock_(MakeSystemClock()),
        random_(MakeSecureRandom()),
        fs_(MakePosixFileSystem()),
        http_(MakeCurlHttpClient()) {
    env_.clock = clock_.get();
    env_.random = random_.get();
    env_.fs = fs_.get();
    env_.http = http_.get();
    env_.platform = &DefaultPlatform();
  }
  Env& env() override { return env_; }

 private:
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<Random> random_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<HttpClient> http_;
  Env env_;
};

}  // namespace

std::unique_ptr<OwnedEnv> MakePosixEnv() { return std::make_unique<PosixOwnedEnv>(); }

}  // namespace ota
