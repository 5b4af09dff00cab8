// TLS of the libcurl HttpClient against an httplib::SSLServer on loopback,
// with a PKI made at test time: what is trusted, what is refused, and how
// each refusal is reported.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/http.h"
#include "ota/common/tls.h"
#include "test_support.h"
#include "test_tls.h"

namespace ota {
namespace {

using testing::HttpsTestServer;
using testing::TestCert;
using testing::TestPki;

constexpr char kBody[] = "model bytes over TLS";

class TlsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::MakeTestPki(dir_.path());
    client_ = MakeCurlHttpClient();
    fs_ = MakePosixFileSystem();
  }

  // Starts an HTTPS server presenting `cert` that answers GET /file. It
  // lives as long as the fixture and outlives the client, whose keep-alive
  // connections would otherwise hold the server's shutdown up.
  HttpsTestServer* Serve(const TestCert& cert) {
    servers_.push_back(std::make_unique<HttpsTestServer>(cert));
    HttpsTestServer* server = servers_.back().get();
    server->server().Get("/file", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kBody, "application/octet-stream");
    });
    EXPECT_GT(server->Start(), 0);
    return server;
  }

  HttpRequest Get(const HttpsTestServer& server, const std::string& ca,
                  std::vector<std::string> pins = {}) {
    HttpRequest request;
    request.url = server.Url("/file");
    request.tls.ca_bundle_file = ca;
    request.tls.pinned_sha256 = std::move(pins);
    return request;
  }

  static void ExpectTrustRefusal(const Result<HttpResponse>& response, const std::string& words) {
    ASSERT_FALSE(response.ok()) << "status " << response->status;
    EXPECT_EQ(response.error().code, ErrorCode::kSecurity) << response.error().ToString();
    EXPECT_EQ(response.error().message.rfind("TLS: ", 0), 0u) << response.error().message;
    EXPECT_NE(response.error().message.find(words), std::string::npos) << response.error().message;
  }

  testing::TempDir dir_;
  TestPki pki_;
  std::vector<std::unique_ptr<HttpsTestServer>> servers_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(TlsClientTest, DownloadsFromAServerTheConfiguredCaSigned) {
  auto server = Serve(pki_.server);
  auto response = client_->Fetch(Get(*server, pki_.ca.cert_file));
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, kBody);
}

TEST_F(TlsClientTest, RefusesACertificateFromAnotherCa) {
  auto server = Serve(pki_.server);
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.other_ca.cert_file)), "not trusted");
}

TEST_F(TlsClientTest, RefusesAnImpostorForTheRightAddress) {
  // The right host name, signed by a CA the client was not told to trust.
  auto server = Serve(pki_.impostor);
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.ca.cert_file)), "not trusted");
}

TEST_F(TlsClientTest, RefusesACertificateForAnotherHost) {
  auto server = Serve(pki_.wrong_host);
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.ca.cert_file)), "not trusted");
}

TEST_F(TlsClientTest, WithoutABundleTheSystemStoreDoesNotTrustATestCa) {
  // No configured bundle is not "trust anything": the system store decides.
  auto server = Serve(pki_.server);
  ExpectTrustRefusal(client_->Fetch(Get(*server, "")), "not trusted");
}

TEST_F(TlsClientTest, RefusesAKeyMatchingNoPin) {
  auto server = Serve(pki_.server);
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.ca.cert_file, {pki_.rotated.pin_sha256})),
                     "matches none of the pins");
}

TEST_F(TlsClientTest, AcceptsTheRightPinAndEitherOfTwoDuringARotation) {
  auto server = Serve(pki_.server);
  auto pinned = client_->Fetch(Get(*server, pki_.ca.cert_file, {pki_.server.pin_sha256}));
  ASSERT_TRUE(pinned.ok()) << pinned.error().ToString();
  EXPECT_EQ(pinned->body, kBody);
  // Old and new key pinned together: the server may present either.
  const std::vector<std::string> both = {pki_.server.pin_sha256, pki_.rotated.pin_sha256};
  auto before = client_->Fetch(Get(*server, pki_.ca.cert_file, both));
  ASSERT_TRUE(before.ok()) << before.error().ToString();
  auto* rotated = Serve(pki_.rotated);
  auto after = client_->Fetch(Get(*rotated, pki_.ca.cert_file, both));
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(after->body, kBody);
}

TEST_F(TlsClientTest, AReusedConnectionIsCheckedAgainstEachRequestsSettings) {
  // One client, one server: a connection trusted under one CA bundle must
  // not carry a request that names another.
  auto server = Serve(pki_.server);
  ASSERT_TRUE(client_->Fetch(Get(*server, pki_.ca.cert_file)).ok());
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.other_ca.cert_file)), "not trusted");
  ExpectTrustRefusal(client_->Fetch(Get(*server, pki_.ca.cert_file, {pki_.rotated.pin_sha256})),
                     "matches none of the pins");
  auto again = client_->Fetch(Get(*server, pki_.ca.cert_file));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
}

TEST_F(TlsClientTest, TheTlsClientAppliesItsSettingsToEveryRequest) {
  auto server = Serve(pki_.server);
  auto wrong = MakeTlsHttpClient(*fs_, *client_, {pki_.other_ca.cert_file, {}});
  ASSERT_TRUE(wrong.ok()) << wrong.error().ToString();
  // The request's own (empty) settings are replaced.
  HttpRequest plain;
  plain.url = server->Url("/file");
  ExpectTrustRefusal((*wrong)->Fetch(plain), "not trusted");
  auto right = MakeTlsHttpClient(*fs_, *client_, {pki_.ca.cert_file, {pki_.server.pin_sha256}});
  ASSERT_TRUE(right.ok()) << right.error().ToString();
  auto response = (*right)->Fetch(plain);
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->body, kBody);
}

TEST_F(TlsClientTest, PlainHttpIgnoresTlsSettings) {
  httplib::Server plain;
  plain.Get("/file", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kBody, "text/plain");
  });
  const int port = plain.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { plain.listen_after_bind(); });
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/file";
  request.tls = {pki_.ca.cert_file, {pki_.server.pin_sha256}};
  auto response = client_->Fetch(request);
  client_.reset();  // Closes the keep-alive connection the server waits on.
  plain.stop();
  thread.join();
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->body, kBody);
}

struct BadSettings {
  const char* name;
  TlsSettings settings;
  const char* words;
};

TEST_F(TlsClientTest, MalformedSettingsAreRefusedBeforeAnyConnection) {
  const std::string good_pin = pki_.server.pin_sha256;
  const std::string not_pem = dir_.Sub("not-a-bundle.pem");
  testing::WriteTestFile(not_pem, "just text\n");
  const std::vector<BadSettings> cases = {
      {"missing bundle", {dir_.Sub("absent.pem"), {}}, "cannot be read"},
      {"bundle without certificates", {not_pem, {}}, "holds no PEM certificate"},
      {"pin with prefix", {"", {"sha256//" + good_pin}}, "without the \"sha256//\" prefix"},
      {"short pin", {"", {good_pin.substr(0, 40)}}, "44 characters"},
      {"pin not base64", {"", {"!" + good_pin.substr(1)}}, "not base64 at position 1"},
      {"pin twice", {"", {good_pin, good_pin}}, "given twice"},
  };
  for (const BadSettings& c : cases) {
    SCOPED_TRACE(c.name);
    Status valid = ValidateTlsSettings(*fs_, c.settings);
    ASSERT_FALSE(valid.ok());
    EXPECT_EQ(valid.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(valid.error().message.find(c.words), std::string::npos) << valid.error().message;
    auto client = MakeTlsHttpClient(*fs_, *client_, c.settings);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ValidateTlsSettings(*fs_, {pki_.ca.cert_file, {good_pin}}).ok());
}

TEST_F(TlsClientTest, TheCurlClientRefusesAMalformedPinOrBundleItself) {
  auto server = Serve(pki_.server);
  auto bad_pin = client_->Fetch(Get(*server, pki_.ca.cert_file, {"not-a-pin"}));
  ASSERT_FALSE(bad_pin.ok());
  EXPECT_EQ(bad_pin.error().code, ErrorCode::kInvalidArgument) << bad_pin.error().ToString();
  auto no_bundle = client_->Fetch(Get(*server, dir_.Sub("absent.pem")));
  ASSERT_FALSE(no_bundle.ok());
  EXPECT_EQ(no_bundle.error().code, ErrorCode::kInvalidArgument) << no_bundle.error().ToString();
}

}  // namespace
}  // namespace ota
