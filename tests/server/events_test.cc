// Event batch parsing, GET /v1/events, request limits, /v1/health and
// unknown endpoints.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "events.h"
#include "ota/common/sqlite.h"
#include "server_fixture.h"

namespace ota::server {
namespace {

using nlohmann::json;

class EventsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    auto token = CreateOperatorToken(db_, "ops");
    ASSERT_OK(token);
    token_ = *token;
  }
  httplib::Result Get(const std::string& path) {
    return Client()->Get(path.c_str(), {{"Authorization", "Bearer " + token_}});
  }
  std::string token_;
};

TEST_F(EventsTest, HealthIsOk) {
  StartServer();
  auto res = Client()->Get("/v1/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body), json({{"status", "ok"}}));
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
}

// Unsigned batches could forge a device's history: only signed reports
// (POST /v1/reports, fleet_test) write events.
TEST_F(EventsTest, UnsignedBatchesAreGoneAndStoreNothing) {
  StartServer();
  const std::string batch = R"({"device_id":"d1","events":[{"seq":7,"type":"t","x":1}]})";
  auto res = Client()->Post("/v1/events", batch, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 410);
  EXPECT_NE(json::parse(res->body)["error"].get<std::string>().find("POST /v1/reports"),
            std::string::npos);
  auto listed = Get("/v1/events?device_id=d1");
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body), json({{"events", json::array()}}));
}

struct BadBatch {
  std::string body;
  std::string message_part;
};

class BadEventsTest : public ::testing::TestWithParam<BadBatch> {};

TEST_P(BadEventsTest, IsRejectedWithAPreciseMessage) {
  auto batch = ParseEventBatch(GetParam().body);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(batch.error().message.find(GetParam().message_part), std::string::npos)
      << batch.error().message;
}

std::string ManyEvents(int n) {
  json events = json::array();
  for (int i = 1; i <= n; ++i) events.push_back({{"seq", i}, {"type", "t"}});
  return json({{"device_id", "d1"}, {"events", events}}).dump();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BadEventsTest,
    ::testing::Values(
        BadBatch{"{\"device_id\":\"d1\",", "invalid JSON"},
        BadBatch{"[1,2]", "body must be a JSON object"}, BadBatch{R"({"events":[]})", "device_id"},
        BadBatch{R"({"device_id":"","events":[]})", "device_id"},
        BadBatch{R"({"device_id":"a/b","events":[]})", "device_id"},
        BadBatch{R"({"device_id":7,"events":[]})", "device_id"},
        BadBatch{"{\"device_id\":\"" + std::string(129, 'a') + "\",\"events\":[]}", "device_id"},
        BadBatch{R"({"device_id":"d1"})", "events must be an array"},
        BadBatch{R"({"device_id":"d1","events":{}})", "events must be an array"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1,"type":"t"},5]})",
                 "events[1] must be an object"},
        BadBatch{R"({"device_id":"d1","events":[{"type":"t"}]})", "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":0,"type":"t"}]})", "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":-3,"type":"t"}]})", "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1.5,"type":"t"}]})", "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":"1","type":"t"}]})", "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":18446744073709551615,"type":"t"}]})",
                 "events[0].seq"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1}]})", "events[0].type"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1,"type":""}]})", "events[0].type"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1,"type":3}]})", "events[0].type"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1,"type":"t","chain":"ABC"}]})",
                 "events[0].chain must be 64 lower-case hex digits"},
        BadBatch{R"({"device_id":"d1","events":[{"seq":1,"type":"t","chain":7}]})",
                 "events[0].chain must be 64 lower-case hex digits"},
        BadBatch{std::string(100, '[') + std::string(100, ']'), "nesting"},
        BadBatch{ManyEvents(1001), "at most 1000"}));

TEST(EventBatchTest, ThousandEventsParseWithTheirPhaseModelAndVersion) {
  auto batch = ParseEventBatch(ManyEvents(1000));
  ASSERT_OK(batch);
  EXPECT_EQ(batch->events.size(), 1000u);
  auto one =
      ParseEventBatch(R"({"device_id":"d1","events":[{"seq":2,"type":"state","state":"committed",)"
                      R"("model":"chat","version":"2.0.0"}]})");
  ASSERT_OK(one);
  ASSERT_EQ(one->events.size(), 1u);
  EXPECT_EQ(one->events[0].model, "chat");
  EXPECT_EQ(one->events[0].version, "2.0.0");
  EXPECT_EQ(one->events[0].phase, rollout::DevicePhase::kConfirmed);
}

TEST_F(EventsTest, OversizeBodyIs413) {
  StartServer();
  std::string body = R"({"report":{"device_id":"d1","events":[{"seq":1,"type":"t","pad":")" +
                     std::string(1024 * 1024, 'p') + "\"}]}}";
  auto res = Client()->Post("/v1/reports", body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(json::parse(res->body).contains("error"));
}

TEST_F(EventsTest, ChunkedOversizeBodyIs413) {
  StartServer();
  auto client = Client();
  std::size_t sent = 0;
  auto res = client->Post(
      "/v1/reports",
      [&](size_t, httplib::DataSink& sink) {
        if (sent >= 2 * 1024 * 1024) {
          sink.done();
          return true;
        }
        std::string chunk(64 * 1024, ' ');
        sent += chunk.size();
        return sink.write(chunk.data(), chunk.size());
      },
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
}

// Sends bytes as written and returns everything the server answers.
std::string RawExchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, request.data(), request.size());
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
    answer.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return answer;
}

TEST_F(EventsTest, PostWithoutLengthIs411AtOnce) {
  StartServer();
  // httplib's client always frames bodies, so this request is written by hand.
  std::string answer = RawExchange(
      server_->port(), "POST /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 411 ")) << answer;
  EXPECT_NE(answer.find("Content-Length or chunked"), std::string::npos) << answer;
}

TEST_F(EventsTest, ListNeedsAValidDeviceId) {
  StartServer();
  for (const char* path : {"/v1/events", "/v1/events?device_id=", "/v1/events?device_id=a%20b"}) {
    SCOPED_TRACE(path);
    auto res = Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_TRUE(json::parse(res->body).contains("error"));
  }
}

TEST_F(EventsTest, UnknownEndpointsAre404Json) {
  StartServer();
  auto get = Client()->Get("/v2/anything");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
  EXPECT_TRUE(json::parse(get->body).contains("error"));
  auto post = Client()->Post("/v1/health", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
  EXPECT_TRUE(json::parse(post->body).contains("error"));
}

}  // namespace
}  // namespace ota::server
