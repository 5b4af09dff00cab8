#include "test_tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace ota::testing {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;

struct Issued {
  Key key;
  Cert cert;
};

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << "extension " << value;
  ASSERT_EQ(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

// A certificate for a new key: self-signed when `issuer` is null.
Issued Issue(const std::string& common_name, const Issued* issuer, const std::string& san) {
  static long serial = 1;
  Issued out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  if (!out.key || x == nullptr) {
    ADD_FAILURE() << "OpenSSL could not make a key or certificate";
    return out;
  }
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* signer_cert = issuer != nullptr ? issuer->cert.get() : x;
  EVP_PKEY* signer_key = issuer != nullptr ? issuer->key.get() : out.key.get();
  X509_set_issuer_name(x, X509_get_subject_name(signer_cert));
  AddExtension(x, signer_cert, NID_subject_key_identifier, "hash");
  if (issuer == nullptr) {
    AddExtension(x, signer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(x, signer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(x, signer_cert, NID_authority_key_identifier, "keyid:always");
    AddExtension(x, signer_cert, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(x, signer_cert, NID_key_usage, "critical,digitalSignature");
    AddExtension(x, signer_cert, NID_ext_key_usage, "serverAuth");
    AddExtension(x, signer_cert, NID_subject_alt_name, san);
  }
  if (X509_sign(x, signer_key, EVP_sha256()) <= 0) ADD_FAILURE() << "X509_sign failed";
  return out;
}

std::string PinOf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key, &der);
  if (n <= 0) {
    ADD_FAILURE() << "i2d_PUBKEY failed";
    return "";
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(n), digest);
  OPENSSL_free(der);
  unsigned char b64[64] = {};
  EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
  return reinterpret_cast<char*>(b64);
}

TestCert Save(const Issued& issued, const std::string& dir, const std::string& name) {
  TestCert out{dir + "/" + name + ".pem", dir + "/" + name + ".key", PinOf(issued.key.get())};
  FILE* cert = std::fopen(out.cert_file.c_str(), "w");
  FILE* key = std::fopen(out.key_file.c_str(), "w");
  EXPECT_TRUE(cert != nullptr && key != nullptr) << "cannot write into " << dir;
  if (cert != nullptr) {
    EXPECT_EQ(PEM_write_X509(cert, issued.cert.get()), 1);
    std::fclose(cert);
  }
  if (key != nullptr) {
    EXPECT_EQ(PEM_write_PrivateKey(key, issued.key.get(), nullptr, nullptr, 0, nullptr, nullptr),
              1);
    std::fclose(key);
  }
  return out;
}

}  // namespace

TestPki MakeTestPki(const std::string& dir) {
  const Issued ca = Issue("ModelOTA Test CA", nullptr, "");
  const Issued other_ca = Issue("Unrelated Test CA", nullptr, "");
  TestPki pki;
  pki.ca = Save(ca, dir, "ca");
  pki.other_ca = Save(other_ca, dir, "other-ca");
  pki.server = Save(Issue("127.0.0.1", &ca, "IP:127.0.0.1"), dir, "server");
  pki.wrong_host = Save(Issue("wrong.example", &ca, "DNS:wrong.example"), dir, "wrong-host");
  pki.impostor = Save(Issue("127.0.0.1", &other_ca, "IP:127.0.0.1"), dir, "impostor");
  pki.rotated = Save(Issue("127.0.0.1", &ca, "IP:127.0.0.1"), dir, "rotated");
  return pki;
}

HttpsTestServer::HttpsTestServer(const TestCert& cert)
    : server_(std::make_unique<httplib::SSLServer>(cert.cert_file.c_str(), cert.key_file.c_str())) {
}

HttpsTestServer::~HttpsTestServer() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

void HttpsTestServer::Mount(const std::string& mount, const std::string& dir) {
  EXPECT_TRUE(server_->set_mount_point(mount, dir)) << dir;
}

int HttpsTestServer::Start(int port) {
  if (!server_->is_valid()) {
    ADD_FAILURE() << "SSLServer could not load its certificate";
    return -1;
  }
  auto serving = std::make_shared<std::promise<void>>();
  auto serving_future = serving->get_future();
  // httplib marks itself running before it asks for its task queue: a
  // precise "accept loop started" signal, with no polling.
  server_->new_task_queue = [serving] {
    serving->set_value();
    return new httplib::ThreadPool(4);
  };
  port_ = port == 0 ? server_->bind_to_any_port("127.0.0.1")
                    : (server_->bind_to_port("127.0.0.1", port) ? port : -1);
  if (port_ <= 0) return port_;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  serving_future.wait();
  return port_;
}

std::string HttpsTestServer::Url(const std::string& path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace ota::testing
