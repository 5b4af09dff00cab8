// ECDSA P-256 and RSA signing keys made with libcrypto, for tests of the
// verifier's ECDSA/RSA verification (the product only verifies these types,
// so signing them exists only here).
#ifndef OTA_TESTS_VERIFIER_OPENSSL_TEST_KEYS_H_
#define OTA_TESTS_VERIFIER_OPENSSL_TEST_KEYS_H_

#include <memory>
#include <string>
#include <string_view>

#include "ota/manifest/tuf_metadata.h"

namespace ota::testing {

class OpensslTestKey {
 public:
  // A new EC key on the named curve ("P-256", "P-384").
  static OpensslTestKey GenerateEc(const char* curve = "P-256");
  static OpensslTestKey GenerateRsa(unsigned bits);

  // PEM SubjectPublicKeyInfo of the public half.
  std::string PublicPem() const;
  // The TUF public key object with this key's PEM.
  manifest::Key PublicKey(const std::string& keytype, const std::string& scheme) const;

  // Hex of a DER ECDSA signature over SHA-256(message).
  std::string SignEcdsaHex(std::string_view message) const;
  // Hex of an RSASSA-PSS signature (SHA-256, MGF1-SHA-256) with the given
  // salt length (-1: digest length, -3: maximum).
  std::string SignRsaPssHex(std::string_view message, int salt_length = -1) const;

 private:
  std::shared_ptr<void> pkey_;  // EVP_PKEY.
};

}  // namespace ota::testing

#endif  // OTA_TESTS_VERIFIER_OPENSSL_TEST_KEYS_H_
