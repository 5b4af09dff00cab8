// Slow and idle clients cannot hold the server's workers: connections wait
// for their whole request head without a worker (connection_gate.h), heads
// have a deadline and a size limit, and keep-alive and pipelined requests
// still work.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "server_fixture.h"

namespace ota::server {
namespace {

// A raw loopback connection, closed on destruction.
class RawSocket {
 public:
  explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  // Everything the server sends until it closes the connection.
  std::string ReadToClose() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd_, buf, sizeof(buf), 0)) > 0;) {
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class SlowClientTest : public ServerFixture {};

// The finding: eight sockets sending one header line every few seconds kept
// /v1/health from answering for as long as they stayed.
TEST_F(SlowClientTest, SlowHeadsDoNotHoldTheWorkers) {
  ServerOptions o;
  o.threads = 2;
  StartServer(o);
  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<RawSocket>(server_->port()));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
  }
  // Answered at once, while every slow client still holds its connection.
  auto client = Client();
  client->set_read_timeout(3, 0);
  client->set_connection_timeout(3, 0);
  for (int i = 0; i < 4; ++i) {
    auto res = client->Get("/v1/health");
    ASSERT_TRUE(res) << "health did not answer while slow clients wait";
    EXPECT_EQ(res->status, 200);
    auto meta = client->Get("/repo/timestamp.json");
    ASSERT_TRUE(meta);
    EXPECT_EQ(meta->status, 200);
  }
  // A slow client that finishes its head is then served.
  ASSERT_TRUE(slow[0]->Send("Connection: close\r\n\r\n"));
  const std::string answer = slow[0]->ReadToClose();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 ")) << answer;
}

TEST_F(SlowClientTest, AHeadNotFinishedInTimeIs408AndClosed) {
  ServerOptions o;
  o.request_head_timeout = std::chrono::milliseconds(300);
  StartServer(o);
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
  // Blocks until the server gives up on the head.
  const std::string answer = s.ReadToClose();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408 ")) << answer;
  EXPECT_NE(answer.find("request head not received in time"), std::string::npos) << answer;
}

TEST_F(SlowClientTest, AnOversizedHeadIs431WithoutBeingRead) {
  StartServer();
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("GET /v1/health HTTP/1.1\r\nX-Pad: " + std::string(20 * 1024, 'p')));
  const std::string answer = s.ReadToClose();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 431 ")) << answer.substr(0, 200);
}

TEST_F(SlowClientTest, AHeadCutShortByTheClientIsAnsweredAtOnce) {
  StartServer();  // Head timeout 10 s: the answer must not wait for it.
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
  s.ShutdownWrite();
  const std::string answer = s.ReadToClose();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 ")) << answer;
}

// A worker waiting for the rest of a body gives up when the server stops,
// instead of holding Stop() for the body deadline (30 s).
TEST_F(SlowClientTest, StopDoesNotWaitForAStalledBody) {
  StartServer();
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
  // The worker has the request once the health check behind it is answered
  // on another connection (the waiting room dispatched both).
  auto client = Client();
  ASSERT_TRUE(client->Get("/v1/health"));
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(SlowClientTest, OneClientCannotTakeEveryWaitingPlace) {
  ServerOptions o;
  o.max_waiting_per_client = 4;
  StartServer(o);
  std::vector<std::unique_ptr<RawSocket>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawSocket>(server_->port()));
    ASSERT_TRUE(held.back()->connected());
    ASSERT_TRUE(held.back()->Send("GET /"));
  }
  // The waiting room has taken them all in by the time it answers this one.
  RawSocket extra(server_->port());
  ASSERT_TRUE(extra.connected());
  const std::string answer = extra.ReadToClose();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
  EXPECT_NE(answer.find("too many open connections"), std::string::npos);
}

// An enrollment refused by the rate limit still has its body read: left
// unread, its bytes were parsed as the connection's next requests (400s).
TEST_F(SlowClientTest, ARateLimitedEnrollmentKeepsTheConnectionInStep) {
  ServerOptions o;
  o.enroll_burst = 1;
  o.enroll_per_second = 0.001;
  StartServer(o);
  const std::string body = R"({"device_id":"d1","public_key":")" + std::string(64, 'a') + "\"}";
  const std::string enroll =
      "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(
      s.Send(enroll + enroll + "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string answer = s.ReadToClose();
  EXPECT_NE(answer.find("HTTP/1.1 401 "), std::string::npos) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 429 "), std::string::npos) << answer;
  EXPECT_NE(answer.find("{\"status\":\"ok\"}"), std::string::npos) << answer;
  EXPECT_EQ(answer.find(" 400 "), std::string::npos) << answer;
}

TEST_F(SlowClientTest, KeepAliveAndPipelinedRequestsAreServed) {
  StartServer();
  auto client = Client();
  client->set_keep_alive(true);
  for (int i = 0; i < 5; ++i) {
    auto res = client->Get("/v1/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(
      s.Send("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /repo/timestamp.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string answer = s.ReadToClose();
  const auto first = answer.find("HTTP/1.1 200 ");
  ASSERT_NE(first, std::string::npos) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 200 ", first + 1), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"version\":3"), std::string::npos) << answer;
}

}  // namespace
}  // namespace ota::server
