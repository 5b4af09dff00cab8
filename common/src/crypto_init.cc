// libsodium's initialisation, in an object of its own: programs that need
// only the secure random source (ota-agentd) link it without the hashing
// code and its libcrypto dependency.
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "ota/common/hash.h"

namespace ota {

void InitCrypto() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      // Without a working CSPRNG nothing in the product is safe to run.
      std::fputs("fatal: libsodium initialisation failed\n", stderr);
      std::abort();
    }
  });
}

}  // namespace ota
