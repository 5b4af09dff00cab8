// Test-time PKI and an HTTPS server on loopback, for the TLS tests: two
// unrelated CAs, server certificates for 127.0.0.1, one for another host
// name, made fresh for each test with the OpenSSL library (nothing stored in
// the tree, nothing that can expire between runs).
#ifndef OTA_TESTS_SUPPORT_TEST_TLS_H_
#define OTA_TESTS_SUPPORT_TEST_TLS_H_

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>

namespace ota::testing {

// A certificate and its private key, as PEM files, and the pin of its key.
struct TestCert {
  std::string cert_file;
  std::string key_file;
  // Base64 SHA-256 of the key's SubjectPublicKeyInfo (TlsSettings form).
  std::string pin_sha256;
};

struct TestPki {
  TestCert ca;        // The CA the client is told to trust.
  TestCert other_ca;  // An unrelated CA.
  // Signed by `ca`, subjectAltName IP:127.0.0.1: the right certificate.
  TestCert server;
  // Signed by `ca`, subjectAltName DNS:wrong.example: right CA, wrong host.
  TestCert wrong_host;
  // Signed by `other_ca`, subjectAltName IP:127.0.0.1: an impostor.
  TestCert impostor;
  // Signed by `ca`, IP:127.0.0.1, with a new key: the right server after a
  // key rotation.
  TestCert rotated;
};

// Writes a fresh PKI (P-256 keys, valid from an hour ago for a day) into
// `dir`, which must exist. Fails the current test on any OpenSSL error.
TestPki MakeTestPki(const std::string& dir);

// An httplib::SSLServer on 127.0.0.1 with an ephemeral port, serving from its
// own thread until destroyed. Start() returns once the accept loop runs.
class HttpsTestServer {
 public:
  explicit HttpsTestServer(const TestCert& cert);
  ~HttpsTestServer();
  HttpsTestServer(const HttpsTestServer&) = delete;
  HttpsTestServer& operator=(const HttpsTestServer&) = delete;

  httplib::Server& server() { return *server_; }
  // Serves `dir` below `mount` (GET and HEAD, with ranges).
  void Mount(const std::string& mount, const std::string& dir);
  // Starts serving on `port` (0: any free one); returns the port (<= 0 on
  // failure). A port of an earlier server can be taken over again.
  int Start(int port = 0);
  std::string Url(const std::string& path = "") const;

 private:
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_TEST_TLS_H_
