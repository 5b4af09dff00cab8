// POST/GET /v1/events, /v1/health and unknown endpoints.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "events.h"
#include "ota/common/sqlite.h"
#include "server_fixture.h"

namespace ota::server_stub {
namespace {

using nlohmann::json;

class EventsTest : public ServerFixture {
 protected:
  httplib::Result Post(const std::string& body) {
    return Client()->Post("/v1/events", body, "application/json");
  }
  json ListEvents(const std::string& device_id) {
    auto res = Client()->Get("/v1/events?device_id=" + device_id);
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, 200);
    return json::parse(res->body);
  }
};

TEST_F(EventsTest, HealthIsOk) {
  StartServer();
  auto res = Client()->Get("/v1/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body), json({{"status", "ok"}}));
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
}

TEST_F(EventsTest, StoresEventsAndIgnoresRedelivery) {
  StartServer();
  json batch = {{"device_id", "dev-1.a_B"},
                {"events",
                 {{{"seq", 2}, {"type", "download_started"}, {"bundle", "m@1.2"}},
                  {{"seq", 1}, {"type", "check"}, {"extra", {{"nested", true}}}}}}};
  auto res = Post(batch.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body), json({{"accepted", 2}, {"duplicates", 0}}));

  // The same batch again (answer lost), then an overlapping one.
  res = Post(batch.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body), json({{"accepted", 0}, {"duplicates", 2}}));
  json overlap = {{"device_id", "dev-1.a_B"},
                  {"events",
                   {{{"seq", 2}, {"type", "changed"}},
                    {{"seq", 3}, {"type", "done"}},
                    {{"seq", 3}, {"type", "done-again"}}}}};
  res = Post(overlap.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body), json({{"accepted", 1}, {"duplicates", 2}}));

  json listed = ListEvents("dev-1.a_B");
  json expected = {{"events", {batch["events"][1], batch["events"][0], overlap["events"][1]}}};
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(ListEvents("other-device"), json({{"events", json::array()}}));
}

TEST_F(EventsTest, RowsCarryReceiveTimeTypeAndBody) {
  StartServer();
  auto res = Post(R"({"device_id":"d1","events":[{"seq":7,"type":"t","x":1}]})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  server_->Stop();
  auto db = Database::Open(tmp_.Sub("server.db"), ServerMigrations());
  ASSERT_OK(db);
  auto stmt = (*db)->Prepare("SELECT device_id, seq, received_at, type, body FROM events");
  ASSERT_OK(stmt);
  auto row = stmt->Step();
  ASSERT_OK(row);
  ASSERT_TRUE(*row);
  EXPECT_EQ(stmt->ColumnText(0), "d1");
  EXPECT_EQ(stmt->ColumnInt(1), 7);
  EXPECT_EQ(stmt->ColumnInt(2), 1'800'000'000);  // The injected clock.
  EXPECT_EQ(stmt->ColumnText(3), "t");
  EXPECT_EQ(json::parse(stmt->ColumnText(4)), json({{"seq", 7}, {"type", "t"}, {"x", 1}}));
}

struct BadBatch {
  std::string body;
  std::string message_part;
};

class BadEventsTest : public EventsTest, public ::testing::WithParamInterface<BadBatch> {};

TEST_P(BadEventsTest, IsRejectedWith400AndAPreciseMessage) {
  StartServer();
  auto res = Post(GetParam().body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  json error = json::parse(res->body);
  ASSERT_TRUE(error.contains("error"));
  EXPECT_NE(error["error"].get<std::string>().find(GetParam().message_part), std::string::npos)
      << error["error"];
  EXPECT_EQ(ListEvents("d1"), json({{"events", json::array()}}));
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
        BadBatch{std::string(100, '[') + std::string(100, ']'), "nesting"},
        BadBatch{ManyEvents(1001), "at most 1000"}));

TEST_F(EventsTest, ThousandEventsAreAccepted) {
  StartServer();
  auto res = Post(ManyEvents(1000));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body), json({{"accepted", 1000}, {"duplicates", 0}}));
}

TEST_F(EventsTest, OversizeBodyIs413) {
  StartServer();
  std::string body = R"({"device_id":"d1","events":[{"seq":1,"type":"t","pad":")" +
                     std::string(1024 * 1024, 'p') + "\"}]}";
  auto res = Post(body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(json::parse(res->body).contains("error"));
  EXPECT_EQ(ListEvents("d1"), json({{"events", json::array()}}));
}

TEST_F(EventsTest, ChunkedOversizeBodyIs413) {
  StartServer();
  auto client = Client();
  std::size_t sent = 0;
  auto res = client->Post(
      "/v1/events",
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
      server_->port(), "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 411 ")) << answer;
  EXPECT_NE(answer.find("Content-Length or chunked"), std::string::npos) << answer;
}

TEST_F(EventsTest, ListNeedsAValidDeviceId) {
  StartServer();
  for (const char* path : {"/v1/events", "/v1/events?device_id=", "/v1/events?device_id=a%20b"}) {
    SCOPED_TRACE(path);
    auto res = Client()->Get(path);
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
}  // namespace ota::server_stub
