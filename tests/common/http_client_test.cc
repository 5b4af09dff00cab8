// Tests of the libcurl HttpClient against a cpp-httplib server on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ota/common/http.h"
#include "test_support.h"

namespace ota {
namespace {

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

// An httplib server on 127.0.0.1 with an ephemeral port, serving from its own
// thread. Start() returns once the accept loop runs, so Stop() never races it.
class LoopbackServer {
 public:
  httplib::Server& server() { return server_; }
  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  void Start() {
    std::promise<void> serving;
    auto serving_future = serving.get_future();
    // httplib marks itself running before it asks for its task queue, so this
    // hook is a precise "accept loop started" signal.
    server_.new_task_queue = [&serving] {
      serving.set_value();
      return new httplib::ThreadPool(4);
    };
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    serving_future.wait();
  }

  ~LoopbackServer() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = MakeCurlHttpClient(); }

  HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.url = server_.Url(path);
    return r;
  }

  LoopbackServer server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, PlainGetReturnsStatusBodyAndCount) {
  const std::string body = Pattern(100'000);
  server_.server().Get("/file", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  auto r = client_->Fetch(Get("/file"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(r->body_bytes, body.size());
  EXPECT_EQ(r->Header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(r->Header("content-type"), "application/octet-stream");
}

TEST_F(HttpClientTest, HeaderNamesAreLowerCasedAndLastValueWins) {
  server_.server().Get("/h", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Mixed-Case", "first");
    res.set_header("X-Mixed-Case", "second");
    res.set_header("ETag", "\"abc\"");
    res.set_content("ok", "text/plain");
  });
  server_.Start();
  auto r = client_->Fetch(Get("/h"));
  ASSERT_OK(r);
  EXPECT_EQ(r->Header("x-mixed-case"), "second");
  EXPECT_EQ(r->Header("etag"), "\"abc\"");
  EXPECT_EQ(r->Header("ETag"), std::nullopt);
  int seen = 0;
  for (const auto& [name, value] : r->headers) {
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
    if (name == "x-mixed-case") ++seen;
  }
  EXPECT_EQ(seen, 1);
}

TEST_F(HttpClientTest, RangeStartSendsRangeHeaderAndGets206Tail) {
  const std::string body = Pattern(5000);
  std::string range_seen;
  server_.server().Get("/file", [&](const httplib::Request& req, httplib::Response& res) {
    range_seen = req.get_header_value("Range");
    res.set_content(body, "application/octet-stream");  // httplib slices it.
  });
  server_.Start();
  HttpRequest req = Get("/file");
  req.range_start = 1234;
  auto r = client_->Fetch(req);
  ASSERT_OK(r);
  EXPECT_EQ(range_seen, "bytes=1234-");
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, body.substr(1234));
  EXPECT_EQ(r->Header("content-range"), "bytes 1234-4999/5000");
}

TEST_F(HttpClientTest, BodyAtTheCapIsAccepted) {
  const std::string body = Pattern(4096);
  server_.server().Get("/file", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  HttpRequest req = Get("/file");
  req.max_body_bytes = body.size();
  auto r = client_->Fetch(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->body, body);
}

TEST_F(HttpClientTest, ContentLengthOverCapIsRejectedBeforeTheBody) {
  const std::string body = Pattern(4097);
  server_.server().Get("/file", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  HttpRequest req = Get("/file");
  req.max_body_bytes = 4096;
  std::uint64_t sunk = 0;
  auto r = client_->Fetch(req, [&](std::span<const std::uint8_t> d) {
    sunk += d.size();
    return Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("Content-Length 4097 exceeds the cap of 4096 bytes"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(sunk, 0u);
}

TEST_F(HttpClientTest, ChunkedBodyOverCapIsIntegrityError) {
  server_.server().Get("/endless", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream",
                                     [](size_t offset, httplib::DataSink& sink) {
                                       if (offset >= 1'000'000) {
                                         sink.done();
                                         return true;
                                       }
                                       std::string chunk(1000, 'x');
                                       return sink.write(chunk.data(), chunk.size());
                                     });
  });
  server_.Start();
  HttpRequest req = Get("/endless");
  req.max_body_bytes = 10'000;
  std::uint64_t sunk = 0;
  auto r = client_->Fetch(req, [&](std::span<const std::uint8_t> d) {
    sunk += d.size();
    return Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("cap of 10000 bytes"), std::string::npos) << r.error().message;
  EXPECT_LE(sunk, 10'000u);
}

TEST_F(HttpClientTest, HeadIgnoresCapAndHasNoBody) {
  const std::string body = Pattern(50'000);
  server_.server().Get("/file", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  HttpRequest req = Get("/file");
  req.method = "HEAD";
  req.max_body_bytes = 10;  // HEAD learns sizes: the announced length is not a body.
  auto r = client_->Fetch(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "50000");
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->body_bytes, 0u);
}

TEST_F(HttpClientTest, ConnectionRefusedIsRetryLater) {
  // Reserve an ephemeral port, then free it so nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";
  auto r = client_->Fetch(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRetryLater);
  EXPECT_NE(r.error().message.find(req.url), std::string::npos) << r.error().message;
}

TEST_F(HttpClientTest, ServerClosingMidBodyIsRetryLater) {
  server_.server().Get("/cut", [](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(10'000, "application/octet-stream",
                             [](size_t offset, size_t, httplib::DataSink& sink) {
                               if (offset >= 3000) return false;  // Drops the connection.
                               std::string chunk(1000, 'y');
                               return sink.write(chunk.data(), chunk.size());
                             });
  });
  server_.Start();
  auto r = client_->Fetch(Get("/cut"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRetryLater);
  EXPECT_NE(r.error().message.find("/cut"), std::string::npos) << r.error().message;
}

TEST_F(HttpClientTest, TotalTimeoutIsRetryLater) {
  // Shared with the handler, which may still be unlocking it after this
  // test body has returned (the server stops in TearDown).
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
  };
  auto gate = std::make_shared<Gate>();
  server_.server().Get("/hang", [gate](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(gate->mu);
    gate->cv.wait(lock, [&] { return gate->release; });
    res.set_content("late", "text/plain");
  });
  server_.Start();
  HttpRequest req = Get("/hang");
  req.total_timeout = std::chrono::milliseconds(200);
  auto r = client_->Fetch(req);
  {
    std::lock_guard lock(gate->mu);
    gate->release = true;
  }
  gate->cv.notify_all();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRetryLater);
}

TEST_F(HttpClientTest, SinkReceivesEveryByteAndBodyStaysEmpty) {
  const std::string body = Pattern(300'000);
  server_.server().Get("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  std::string sunk;
  auto r = client_->Fetch(Get("/big"), [&](std::span<const std::uint8_t> d) {
    sunk.append(reinterpret_cast<const char*>(d.data()), d.size());
    return Ok();
  });
  ASSERT_OK(r);
  EXPECT_EQ(sunk, body);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->body_bytes, body.size());
}

TEST_F(HttpClientTest, SinkErrorAbortsAndIsReturnedVerbatim) {
  const std::string body = Pattern(2'000'000);
  server_.server().Get("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server_.Start();
  int calls = 0;
  std::uint64_t sunk = 0;
  auto r = client_->Fetch(Get("/big"), [&](std::span<const std::uint8_t> d) -> Status {
    ++calls;
    sunk += d.size();
    if (calls == 2) return MakeError(ErrorCode::kIo, "disk full at chunk 2");
    return Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_EQ(r.error().message, "disk full at chunk 2");
  EXPECT_EQ(calls, 2);
  EXPECT_LT(sunk, body.size());
}

TEST_F(HttpClientTest, NotFoundBodyIsBufferedNotSunk) {
  server_.server().Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("{\"error\":\"no such file\"}", "application/json");
  });
  server_.Start();
  bool sink_called = false;
  auto r = client_->Fetch(Get("/missing"), [&](std::span<const std::uint8_t>) {
    sink_called = true;
    return Ok();
  });
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{\"error\":\"no such file\"}");
  EXPECT_FALSE(sink_called);
}

TEST_F(HttpClientTest, ErrorBodyIsKeptToSixtyFourKiB) {
  const std::string body = Pattern(200'000);
  server_.server().Get("/err", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content(body, "text/plain");
  });
  server_.Start();
  auto r = client_->Fetch(Get("/err"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, body.substr(0, 64 * 1024));
  EXPECT_EQ(r->body_bytes, body.size());
}

TEST_F(HttpClientTest, RedirectIsReturnedNotFollowed) {
  bool target_hit = false;
  server_.server().Get(
      "/old", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/new"); });
  server_.server().Get("/new", [&](const httplib::Request&, httplib::Response& res) {
    target_hit = true;
    res.set_content("new", "text/plain");
  });
  server_.Start();
  auto r = client_->Fetch(Get("/old"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->Header("location"), "/new");
  EXPECT_FALSE(target_hit);
}

TEST_F(HttpClientTest, PostSendsBodyAndHeaders) {
  server_.server().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Seen-Token", req.get_header_value("X-Token"));
    res.set_content(req.body, req.get_header_value("Content-Type"));
  });
  server_.Start();
  HttpRequest req = Get("/echo");
  req.method = "POST";
  req.body = "{\"device_id\":\"d1\",\"payload\":\"" + Pattern(5000) + "\"}";
  req.headers = {{"Content-Type", "application/json"}, {"X-Token", "t-123"}};
  auto r = client_->Fetch(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, req.body);
  EXPECT_EQ(r->Header("x-seen-token"), "t-123");
  EXPECT_EQ(r->Header("content-type"), "application/json");
}

// Serves one connection with a fixed byte string, for answers httplib cannot
// produce (an interim 1xx block carrying headers).
class RawOneShotServer {
 public:
  explicit RawOneShotServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 1) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(conn, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      (void)!write(conn, answer_.data(), answer_.size());
      close(conn);
    });
  }
  ~RawOneShotServer() {
    thread_.join();
    close(fd_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }

 private:
  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientRawTest, InterimBlockHeadersAreDropped) {
  RawOneShotServer server(
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  auto client = MakeCurlHttpClient();
  HttpRequest req;
  req.url = server.Url();
  auto r = client->Fetch(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->Header("x-final"), "yes");
  EXPECT_EQ(r->Header("x-interim"), std::nullopt);
}

TEST(HttpClientRawTest, BodyShorterThanContentLengthIsRetryLater) {
  RawOneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part");
  auto client = MakeCurlHttpClient();
  HttpRequest req;
  req.url = server.Url();
  auto r = client->Fetch(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRetryLater);
}

TEST_F(HttpClientTest, RejectsUnsupportedMethodAndHeaderInjection) {
  HttpRequest req;
  req.url = "http://127.0.0.1:1/x";
  req.method = "PUT";
  auto r = client_->Fetch(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  req.method = "GET";
  req.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  r = client_->Fetch(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpClientTest, ConnectionIsReusedAcrossFetches) {
  server_.server().Get("/who", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(req.remote_port), "text/plain");
  });
  server_.Start();
  auto first = client_->Fetch(Get("/who"));
  auto second = client_->Fetch(Get("/who"));
  ASSERT_OK(first);
  ASSERT_OK(second);
  EXPECT_EQ(first->body, second->body);  // Same client port: the same socket.
}

TEST(HttpHeadersTest, ContentRangeStart) {
  EXPECT_EQ(ContentRangeStart("bytes 100-199/200"), std::optional<std::uint64_t>(100));
  EXPECT_EQ(ContentRangeStart("bytes 0-0/*"), std::optional<std::uint64_t>(0));
  for (const char* bad : {"", "bytes ", "bytes 5-4/10", "bytes -5/10", "bytes 1-2", "items 1-2/3",
                          "bytes 1-2/x", "bytes +1-2/3", "bytes 99999999999999999999-1/2"}) {
    EXPECT_EQ(ContentRangeStart(bad), std::nullopt) << bad;
  }
}

TEST(HttpHeadersTest, RetryAfterInSecondsOrAsADate) {
  const auto now = std::chrono::system_clock::from_time_t(784111777 - 10);  // 10 s before.
  auto with = [](std::string value) {
    HttpResponse r;
    r.status = 429;
    r.headers.push_back({"retry-after", std::move(value)});
    return r;
  };
  EXPECT_EQ(RetryAfter(with("120"), now), std::optional<std::chrono::seconds>(120));
  EXPECT_EQ(RetryAfter(with("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            std::optional<std::chrono::seconds>(10));
  EXPECT_EQ(RetryAfter(with("Sun, 06 Nov 1994 08:49:37 GMT"), now + std::chrono::hours(1)),
            std::optional<std::chrono::seconds>(0));  // In the past: no wait.
  EXPECT_EQ(RetryAfter(with("soon"), now), std::nullopt);
  EXPECT_EQ(RetryAfter(with("-5"), now), std::nullopt);
  EXPECT_EQ(RetryAfter(HttpResponse{}, now), std::nullopt);
  EXPECT_EQ(RetryAfter(with("99999999999999999999999"), now), std::nullopt);
}

}  // namespace
}  // namespace ota
