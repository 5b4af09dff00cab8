// ota-server's own counters and histograms, and the Prometheus text
// exposition format (version 0.0.4) they are served in at GET /metrics
// (docs/operations.md, "Metrics"). Label values come from small fixed sets
// (route templates, methods, result codes), never from request data, so the
// number of series stays bounded whatever clients send.
#ifndef OTA_SERVER_METRICS_H_
#define OTA_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ota::server {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Writes families in the text format: one HELP and TYPE line per family,
// then its samples. Label values are escaped (\\, \", \n).
class MetricsText {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const MetricLabels& labels, double value);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// A monotonically growing count per label set.
class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}
  void Add(const MetricLabels& labels, std::uint64_t n = 1);
  void Render(MetricsText& out) const;

 private:
  std::string name_, help_;
  mutable std::mutex mu_;
  std::map<MetricLabels, std::uint64_t> cells_;
};

// Observations in fixed buckets (seconds), per label set.
class HistogramFamily {
 public:
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  HistogramFamily(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}
  void Observe(const MetricLabels& labels, double seconds);
  void Render(MetricsText& out) const;

 private:
  struct Cell {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::string name_, help_;
  mutable std::mutex mu_;
  std::map<MetricLabels, Cell> cells_;
};

// Everything one server process counts. Thread-safe.
class ServerMetrics {
 public:
  // `result`: "accepted" or the refusal's error code.
  void CountReport(std::string_view result) { reports_.Add({{"result", std::string(result)}}); }
  // `result`: "created", "unchanged" or the refusal's error code.
  void CountEnrollment(std::string_view result) {
    enrollments_.Add({{"result", std::string(result)}});
  }
  // `decision`: advance, pause, halt or refuse-advance.
  void CountControllerDecision(std::string_view decision) {
    decisions_.Add({{"decision", std::string(decision)}});
  }
  // `result`: delivered, retry or failed (attempts ran out).
  void CountWebhookDelivery(std::string_view result) {
    webhooks_.Add({{"result", std::string(result)}});
  }
  void ObserveRequest(std::string_view method, std::string_view path, int status, double seconds);
  // `operation`: report-commit, controller-pass, fleet-status.
  void ObserveDatabase(std::string_view operation, double seconds) {
    database_.Observe({{"operation", std::string(operation)}}, seconds);
  }
  void Render(MetricsText& out) const;

 private:
  CounterFamily reports_{
      "ota_reports_total",
      "Signed device reports received, by result (accepted or the refusal code)"};
  CounterFamily enrollments_{"ota_enrollments_total",
                             "Device enrollment requests, by result (created, unchanged or the "
                             "refusal code)"};
  CounterFamily decisions_{"ota_controller_decisions_total",
                           "Rollout controller decisions acted on or recorded, by decision"};
  CounterFamily webhooks_{"ota_webhook_deliveries_total",
                          "Webhook delivery attempts, by result (delivered, retry, failed)"};
  HistogramFamily requests_{"ota_http_request_duration_seconds",
                            "HTTP request time from the first byte read to the answer, by "
                            "route template, method and status code"};
  HistogramFamily database_{"ota_database_operation_duration_seconds",
                            "Time of database work, by operation"};
};

// The route template of a request path: one of a fixed set, "other" for
// anything else (so unknown paths cannot create series).
std::string_view RouteTemplate(std::string_view path);

}  // namespace ota::server

#endif  // OTA_SERVER_METRICS_H_
