// Private to the verifier: ECDSA P-256 and RSA-PSS signature verification.
// Every OpenSSL (libcrypto) call of the code base lives in openssl_verify.cc.
#ifndef OTA_VERIFIER_SRC_OPENSSL_VERIFY_H_
#define OTA_VERIFIER_SRC_OPENSSL_VERIFY_H_

#include <string_view>

#include "ota/common/result.h"

namespace ota::verifier::internal {

// Public keys are PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"),
// nothing but whitespace around the one block, at most kMaxPemBytes.
inline constexpr std::size_t kMaxPemBytes = 16 * 1024;
// RSA moduli accepted for verification, in bits.
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 16384;

// Checks that `pem` is an EC public key on NIST P-256. kSecurity naming the
// problem (malformed PEM, not an EC key, another curve).
Status CheckEcdsaP256Key(std::string_view pem);

// Checks that `pem` is an RSA public key of kMinRsaBits..kMaxRsaBits bits.
// kSecurity naming the problem.
Status CheckRsaKey(std::string_view pem);

// Verifies a DER-encoded ECDSA signature of SHA-256(message) by the P-256 key
// `pem`. kSecurity "bad ecdsa-sha2-nistp256 signature", or the key problem.
Status VerifyEcdsaP256Sha256(std::string_view pem, std::string_view der_signature,
                             std::string_view message);

// Verifies an RSASSA-PSS signature (SHA-256, MGF1 with SHA-256, any salt
// length the encoding allows, as securesystemslib verifies) by the RSA key
// `pem`. The signature must be exactly the modulus size. kSecurity
// "bad rsassa-pss-sha256 signature", a size mismatch, or the key problem.
Status VerifyRsaPssSha256(std::string_view pem, std::string_view signature,
                          std::string_view message);

}  // namespace ota::verifier::internal

#endif  // OTA_VERIFIER_SRC_OPENSSL_VERIFY_H_
