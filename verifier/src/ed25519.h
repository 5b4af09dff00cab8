// Private to the verifier: key construction shared by key generation and key
// file loading.
#ifndef OTA_VERIFIER_SRC_ED25519_H_
#define OTA_VERIFIER_SRC_ED25519_H_

#include <string_view>

#include "ota/verifier/keys.h"

namespace ota::verifier::internal {

// The full key pair for a 32-byte seed. Errors: kInvalidArgument (size).
Result<PrivateKey> Ed25519KeyFromSeed(std::string_view seed);

}  // namespace ota::verifier::internal

#endif  // OTA_VERIFIER_SRC_ED25519_H_
