#include "openssl_test_keys.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>
#include <vector>

#include "ota/common/hash.h"

namespace ota::testing {
namespace {

EVP_PKEY* Raw(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("libcrypto failed: ") + what);
}

std::string Sign(EVP_PKEY* key, std::string_view message, bool pss, int salt_length) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  Check(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) == 1, "sign init");
  if (pss) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1, "pss padding");
    Check(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1, "mgf1");
    Check(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_length) == 1, "salt length");
  }
  std::size_t len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(message.data());
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, msg, message.size()) == 1, "sign size");
  std::vector<unsigned char> sig(len);
  Check(EVP_DigestSign(ctx.get(), sig.data(), &len, msg, message.size()) == 1, "sign");
  return HexEncode(std::string_view(reinterpret_cast<const char*>(sig.data()), len));
}

}  // namespace

OpensslTestKey OpensslTestKey::GenerateEc(const char* curve) {
  OpensslTestKey k;
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  Check(p != nullptr, "EC keygen");
  k.pkey_ = std::shared_ptr<void>(p, [](void* q) { EVP_PKEY_free(static_cast<EVP_PKEY*>(q)); });
  return k;
}

OpensslTestKey OpensslTestKey::GenerateRsa(unsigned bits) {
  OpensslTestKey k;
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  Check(p != nullptr, "RSA keygen");
  k.pkey_ = std::shared_ptr<void>(p, [](void* q) { EVP_PKEY_free(static_cast<EVP_PKEY*>(q)); });
  return k;
}

std::string OpensslTestKey::PublicPem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  Check(PEM_write_bio_PUBKEY(bio.get(), Raw(pkey_)) == 1, "PEM write");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

manifest::Key OpensslTestKey::PublicKey(const std::string& keytype,
                                        const std::string& scheme) const {
  manifest::Key key;
  key.keytype = keytype;
  key.scheme = scheme;
  key.public_value = PublicPem();
  key.raw = manifest::ToJson(key);
  return key;
}

std::string OpensslTestKey::SignEcdsaHex(std::string_view message) const {
  return Sign(Raw(pkey_), message, false, 0);
}

std::string OpensslTestKey::SignRsaPssHex(std::string_view message, int salt_length) const {
  return Sign(Raw(pkey_), message, true, salt_length);
}

}  // namespace ota::testing
