// Every OpenSSL (libcrypto) call of the code base lives in this file. It is
// only used to verify signatures by keys that other TUF tools create.
#include "openssl_verify.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>

namespace ota::verifier::internal {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr std::string_view kPemBegin = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view kPemEnd = "-----END PUBLIC KEY-----";
// A DER ECDSA P-256 signature is a SEQUENCE of two INTEGERs of at most 33
// bytes each: at most 72 bytes, at least 8.
constexpr std::size_t kMinEcdsaDerBytes = 8;
constexpr std::size_t kMaxEcdsaDerBytes = 72;

Error SecurityError(const std::string& message) {
  // The thread's error queue must not carry this failure into unrelated code.
  ERR_clear_error();
  return MakeError(ErrorCode::kSecurity, message);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Exactly one PEM public key block, with nothing but whitespace around it:
// PEM readers skip text before a block and ignore what follows it, which
// would let two parsers disagree about what the key is.
Result<PkeyPtr> ParsePublicKeyPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return SecurityError("public key PEM is longer than " + std::to_string(kMaxPemBytes) +
                         " bytes");
  }
  std::size_t first = 0;
  while (first < pem.size() && IsSpace(pem[first])) ++first;
  std::size_t last = pem.size();
  while (last > first && IsSpace(pem[last - 1])) --last;
  const std::string_view body = pem.substr(first, last - first);
  if (!body.starts_with(kPemBegin) || !body.ends_with(kPemEnd) ||
      body.find("-----BEGIN", kPemBegin.size()) != std::string_view::npos ||
      body.find("-----END") != body.size() - kPemEnd.size() ||
      body.find('\0') != std::string_view::npos) {
    return SecurityError("public key is not one PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo) block");
  }
  BioPtr bio(BIO_new_mem_buf(body.data(), static_cast<int>(body.size())));
  if (!bio) return SecurityError("out of memory reading a public key");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return SecurityError("public key PEM does not decode to a public key");
  ERR_clear_error();
  return key;
}

Result<PkeyPtr> LoadEcdsaP256(std::string_view pem) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, ParsePublicKeyPem(pem));
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) {
    return SecurityError("public key of an ecdsa key is not an EC key");
  }
  char group[64] = {0};
  std::size_t group_len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &group_len) != 1) {
    return SecurityError("EC public key has no named curve (explicit parameters are refused)");
  }
  if (std::string_view(group, group_len) != SN_X9_62_prime256v1) {
    return SecurityError("EC public key is on curve " + std::string(group, group_len) +
                         ", not NIST P-256");
  }
  return key;
}

Result<PkeyPtr> LoadRsa(std::string_view pem) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, ParsePublicKeyPem(pem));
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return SecurityError("public key of an rsa key is not an RSA key");
  }
  const int bits = EVP_PKEY_get_bits(key.get());
  if (bits < kMinRsaBits) {
    return SecurityError("RSA public key has " + std::to_string(bits) + " bits, fewer than " +
                         std::to_string(kMinRsaBits));
  }
  if (bits > kMaxRsaBits) {
    return SecurityError("RSA public key has " + std::to_string(bits) + " bits, more than " +
                         std::to_string(kMaxRsaBits));
  }
  return key;
}

// EVP_DigestVerify over SHA-256 of `message`; `rsa_pss` sets the PSS
// parameters on the context first.
Status DigestVerify(EVP_PKEY* key, bool rsa_pss, std::string_view signature,
                    std::string_view message, const char* scheme) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return SecurityError("out of memory verifying a signature");
  EVP_PKEY_CTX* pctx = nullptr;  // Owned by ctx.
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) {
    return SecurityError(std::string("cannot set up ") + scheme + " verification");
  }
  if (rsa_pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
    return SecurityError("cannot set up rsassa-pss-sha256 verification");
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) return SecurityError(std::string("bad ") + scheme + " signature");
  return Ok();
}

}  // namespace

Status CheckEcdsaP256Key(std::string_view pem) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, LoadEcdsaP256(pem));
  return Ok();
}

Status CheckRsaKey(std::string_view pem) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, LoadRsa(pem));
  return Ok();
}

Status VerifyEcdsaP256Sha256(std::string_view pem, std::string_view der_signature,
                             std::string_view message) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, LoadEcdsaP256(pem));
  if (der_signature.size() < kMinEcdsaDerBytes || der_signature.size() > kMaxEcdsaDerBytes) {
    return SecurityError("ecdsa-sha2-nistp256 signature is " +
                         std::to_string(der_signature.size()) +
                         " bytes; a DER P-256 signature is 8 to 72 bytes");
  }
  return DigestVerify(key.get(), false, der_signature, message, "ecdsa-sha2-nistp256");
}

Status VerifyRsaPssSha256(std::string_view pem, std::string_view signature,
                          std::string_view message) {
  OTA_ASSIGN_OR_RETURN(PkeyPtr key, LoadRsa(pem));
  const int size = EVP_PKEY_get_size(key.get());
  if (size <= 0 || signature.size() != static_cast<std::size_t>(size)) {
    return SecurityError("rsassa-pss-sha256 signature is " + std::to_string(signature.size()) +
                         " bytes; the key's modulus is " + std::to_string(size));
  }
  return DigestVerify(key.get(), true, signature, message, "rsassa-pss-sha256");
}

}  // namespace ota::verifier::internal
