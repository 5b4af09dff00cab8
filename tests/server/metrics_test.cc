// GET /metrics: the Prometheus text format, counters that follow what the
// server did, the fleet's gauges, and no series made from request data.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fleet_fixture.h"
#include "metrics.h"

namespace ota::server {
namespace {

using nlohmann::json;

// Sample lines by their name-and-labels text, checking the format as it goes:
// every sample belongs to a family announced by HELP and TYPE lines before
// it, names and label sets are well formed, values are numbers.
std::map<std::string, double> ParseExposition(const std::string& text) {
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )"
      R"(([-+]?[0-9.eE+-]+|NaN|\+Inf|-Inf)$)");
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  std::map<std::string, double> out;
  std::set<std::string> helped, typed;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kHelp)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "two HELP lines for " << m[1];
      continue;
    }
    if (std::regex_match(line, m, kType)) {
      EXPECT_TRUE(helped.count(m[1])) << "TYPE before HELP: " << line;
      typed.insert(m[1]);
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (!typed.count(family) && family.ends_with(s)) family.resize(family.size() - s.size());
    }
    EXPECT_TRUE(typed.count(family)) << "sample of an unannounced family: " << line;
    const std::string key = line.substr(0, line.rfind(' '));
    EXPECT_FALSE(out.count(key)) << "duplicate series " << key;
    out[key] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

class FleetMetricsTest : public FleetTest {
 protected:
  std::map<std::string, double> Scrape() {
    auto r = Get("/metrics", token_);
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return ParseExposition(r->body);
  }
  // Requests are counted once their answers are written, so a scrape right
  // after the last answer may miss it by an instant: scrapes (no sleeping)
  // until every `key` reached its value, at most 100 times.
  std::map<std::string, double> ScrapeWhen(const std::map<std::string, double>& at_least) {
    std::map<std::string, double> m;
    for (int i = 0; i < 100; ++i) {
      m = Scrape();
      bool reached = true;
      for (const auto& [key, value] : at_least) reached = reached && m[key] >= value;
      if (reached) break;
    }
    return m;
  }
};

TEST_F(FleetMetricsTest, CountersAndGaugesFollowTheFleet) {
  auto created = Post("/v1/rollouts",
                      CreateBody({{"min_reporting", 1}, {"error_percent", 10}}, {10000}), true);
  ASSERT_EQ(created->status, 201) << created->body;
  TestDevice a = NewDevice("dev-a"), b = NewDevice("dev-b");
  ASSERT_EQ(Enroll(a), 201);
  ASSERT_EQ(Enroll(b), 201);
  ASSERT_EQ(Enroll(b), 200);
  ASSERT_EQ(Enroll(NewDevice("dev-c"), json::object(), ""), 401);
  ASSERT_EQ(Send(a, StateEvent("committed")), 200);
  ASSERT_EQ(Send(b, StateEvent("failed")), 200);
  --b.seq;  // The same sequence number again: a replay.
  ASSERT_EQ(Send(b, StateEvent("failed")), 409);
  clock_.Advance(std::chrono::minutes(11));
  ASSERT_OK(server_->RunControllerOnce());  // 1 error of 2: pause.
  EXPECT_EQ(Status()["state"], "paused");

  auto m = Scrape();
  EXPECT_EQ(m[R"(ota_reports_total{result="accepted"})"], 2);
  EXPECT_EQ(m[R"(ota_reports_total{result="replay"})"], 1);
  EXPECT_EQ(m[R"(ota_enrollments_total{result="created"})"], 2);
  EXPECT_EQ(m[R"(ota_enrollments_total{result="unchanged"})"], 1);
  EXPECT_EQ(m.count(R"(ota_enrollments_total{result="created"})"), 1u);
  EXPECT_GE(m[R"(ota_enrollments_total{result="unauthorized"})"] +
                m[R"(ota_enrollments_total{result="forbidden"})"],
            1);
  EXPECT_EQ(m[R"(ota_controller_decisions_total{decision="pause"})"], 1);
  EXPECT_EQ(m["ota_devices_enrolled"], 2);
  EXPECT_EQ(m[R"(ota_devices{model="chat",version="2.0.0",state="confirmed"})"], 1);
  EXPECT_EQ(
      m[R"(ota_rollout_info{rollout="chat-2",model="chat",target_version="2.0.0",state="paused"})"],
      1);
  EXPECT_EQ(m[R"(ota_rollout_stage_devices{rollout="chat-2",stage="0",phase="targeted"})"], 2);
  EXPECT_EQ(m[R"(ota_rollout_stage_devices{rollout="chat-2",stage="0",phase="confirmed"})"], 1);
  EXPECT_EQ(m[R"(ota_rollout_stage_devices{rollout="chat-2",stage="0",phase="failed"})"], 1);
  // Latency histograms: the buckets grow with le and end at the count.
  const std::string series = R"(route="/v1/reports",method="POST",code="200")";
  const double count = m["ota_http_request_duration_seconds_count{" + series + "}"];
  EXPECT_EQ(count, 2);
  double last = 0;
  for (double le : HistogramFamily::kBuckets) {
    std::ostringstream key;
    key << "ota_http_request_duration_seconds_bucket{" << series << ",le=\"" << le << "\"}";
    ASSERT_TRUE(m.count(key.str())) << key.str();
    EXPECT_GE(m[key.str()], last);
    last = m[key.str()];
  }
  EXPECT_EQ(m["ota_http_request_duration_seconds_bucket{" + series + ",le=\"+Inf\"}"], count);
  EXPECT_GE(m[R"(ota_database_operation_duration_seconds_count{operation="report-commit"})"], 2);
  EXPECT_EQ(m[R"(ota_database_operation_duration_seconds_count{operation="controller-pass"})"], 1);
}

// A fleet that never had a rollout: its report groups still commit on the
// node's cached state, in one round trip (a node that had read no rollout
// once took every group for a changed fleet and read everything again).
TEST_F(FleetMetricsTest, ReportsOnAFleetWithoutRolloutsCommitOnTheCachedState) {
  TestDevice a = NewDevice("dev-a"), b = NewDevice("dev-b");
  ASSERT_EQ(Enroll(a), 201);
  ASSERT_EQ(Enroll(b), 201);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Send(a, StateEvent("committed")), 200);
    ASSERT_EQ(Send(b, StateEvent("committed")), 200);
  }
  auto m = Scrape();
  EXPECT_EQ(m[R"(ota_report_groups_total{try="cached"})"], 6);
  EXPECT_EQ(m[R"(ota_report_groups_total{try="after-miss"})"], 0);
  EXPECT_EQ(m[R"(ota_report_groups_total{try="stored"})"], 0);
  EXPECT_EQ(m[R"(ota_report_groups_total{try="failed"})"], 0);
}

TEST_F(FleetMetricsTest, RequestDataNeverBecomesALabel) {
  for (int i = 0; i < 20; ++i) {
    (void)Get("/v1/no-such-" + std::to_string(i), token_);
    (void)Get("/repo/targets/file-" + std::to_string(i), "");
  }
  auto m = ScrapeWhen(
      {{R"(ota_http_request_duration_seconds_count{route="other",method="GET",code="404"})", 20},
       {R"(ota_http_request_duration_seconds_count{route="/repo/targets/{file}",method="GET",code="404"})",
        20}});
  std::size_t latency_series = 0;
  for (const auto& [key, value] : m) {
    if (!key.starts_with("ota_http_request_duration_seconds_count")) continue;
    ++latency_series;
    EXPECT_EQ(key.find("no-such"), std::string::npos) << key;
    EXPECT_EQ(key.find("file-"), std::string::npos) << key;
  }
  EXPECT_EQ(m[R"(ota_http_request_duration_seconds_count{route="other",method="GET",code="404"})"],
            20);
  EXPECT_EQ(
      m[R"(ota_http_request_duration_seconds_count{route="/repo/targets/{file}",method="GET",code="404"})"],
      20);
  EXPECT_LE(latency_series, 4u);
}

TEST_F(FleetMetricsTest, MetricsNeedAnOperatorToken) {
  auto none = Get("/metrics", "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->body.find("ota_devices"), std::string::npos);
  auto wrong = Get("/metrics", "ota_not-a-token");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
}

TEST(MetricsTextTest, EscapesLabelValuesAndHelpText) {
  MetricsText t;
  t.Family("x_total", "counter", "a \\ help\nline");
  t.Sample("x_total", {{"v", "a\"b\\c\nd"}}, 3);
  t.Sample("x_total", {{"v", "big"}}, 1e20);
  t.Sample("x_total", {{"v", "frac"}}, 0.25);
  EXPECT_EQ(t.text(),
            "# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n"
            "x_total{v=\"a\\\"b\\\\c\\nd\"} 3\nx_total{v=\"big\"} 1e+20\n"
            "x_total{v=\"frac\"} 0.25\n");
}

TEST(MetricsTextTest, RouteTemplatesAreAFixedSet) {
  EXPECT_EQ(RouteTemplate("/v1/rollouts/chat-2"), "/v1/rollouts/{id}");
  EXPECT_EQ(RouteTemplate("/v1/rollouts/chat-2/pause"), "/v1/rollouts/{id}/{action}");
  EXPECT_EQ(RouteTemplate("/v1/rollouts"), "/v1/rollouts");
  EXPECT_EQ(RouteTemplate("/repo/metadata/1.root.json"), "/repo/metadata/{file}");
  EXPECT_EQ(RouteTemplate("/v1/fleetX"), "other");
  EXPECT_EQ(RouteTemplate("/"), "other");
}

}  // namespace
}  // namespace ota::server
