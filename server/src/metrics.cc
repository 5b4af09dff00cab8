#include "metrics.h"

#include <cmath>
#include <cstdio>

namespace ota::server {
namespace {

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  // HELP text escapes backslash and newline only.
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricsText::Sample(std::string_view name, const MetricLabels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += EscapeLabelValue(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

void CounterFamily::Add(const MetricLabels& labels, std::uint64_t n) {
  std::lock_guard lock(mu_);
  cells_[labels] += n;
}

void CounterFamily::Render(MetricsText& out) const {
  out.Family(name_, "counter", help_);
  std::lock_guard lock(mu_);
  for (const auto& [labels, n] : cells_) out.Sample(name_, labels, static_cast<double>(n));
}

void HistogramFamily::Observe(const MetricLabels& labels, double seconds) {
  std::lock_guard lock(mu_);
  Cell& c = cells_[labels];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++c.buckets[i];
  }
  ++c.count;
  c.sum += seconds;
}

void HistogramFamily::Render(MetricsText& out) const {
  out.Family(name_, "histogram", help_);
  std::lock_guard lock(mu_);
  const std::string bucket = name_ + "_bucket";
  for (const auto& [labels, c] : cells_) {
    MetricLabels with_le = labels;
    with_le.emplace_back("le", "");
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      with_le.back().second = FormatValue(kBuckets[i]);
      out.Sample(bucket, with_le, static_cast<double>(c.buckets[i]));
    }
    with_le.back().second = "+Inf";
    out.Sample(bucket, with_le, static_cast<double>(c.count));
    out.Sample(name_ + "_sum", labels, c.sum);
    out.Sample(name_ + "_count", labels, static_cast<double>(c.count));
  }
}

std::string_view RouteTemplate(std::string_view path) {
  struct Route {
    std::string_view prefix;
    bool exact;
    std::string_view name;
  };
  // Most specific first.
  static constexpr Route kRoutes[] = {
      {"/repo/metadata/", false, "/repo/metadata/{file}"},
      {"/repo/targets/", false, "/repo/targets/{file}"},
      {"/repo/rollouts/", false, "/repo/rollouts/{file}"},
      {"/repo/", false, "/repo/{file}"},
      {"/v1/reports", true, "/v1/reports"},
      {"/v1/devices", true, "/v1/devices"},
      {"/v1/devices/", false, "/v1/devices/{id}"},
      {"/v1/rollouts", true, "/v1/rollouts"},
      {"/v1/fleet", true, "/v1/fleet"},
      {"/v1/events", true, "/v1/events"},
      {"/v1/whoami", true, "/v1/whoami"},
      {"/v1/tokens", true, "/v1/tokens"},
      {"/v1/tokens/", false, "/v1/tokens/{name}"},
      {"/v1/audit/export", true, "/v1/audit/export"},
      {"/v1/audit/key", true, "/v1/audit/key"},
      {"/v1/health", true, "/v1/health"},
      {"/v1/shadow", true, "/v1/shadow"},
      {"/v1/drills", true, "/v1/drills"},
      {"/v1/live-drills", true, "/v1/live-drills"},
      {"/v1/drills/", false, "/v1/drills/{name}"},
      {"/v1/openapi.yaml", true, "/v1/openapi.yaml"},
      {"/metrics", true, "/metrics"},
      {"/console/", false, "/console/{asset}"},
  };
  if (path.starts_with("/v1/rollouts/")) {
    const std::string_view rest = path.substr(std::string_view("/v1/rollouts/").size());
    return rest.find('/') == std::string_view::npos ? "/v1/rollouts/{id}"
                                                    : "/v1/rollouts/{id}/{action}";
  }
  for (const Route& r : kRoutes) {
    if (r.exact ? path == r.prefix : path.starts_with(r.prefix)) return r.name;
  }
  return "other";
}

void ServerMetrics::ObserveRequest(std::string_view method, std::string_view path, int status,
                                   double seconds) {
  requests_.Observe({{"route", std::string(RouteTemplate(path))},
                     {"method", std::string(MethodLabel(method))},
                     {"code", std::to_string(status)}},
                    seconds);
}

void ServerMetrics::Render(MetricsText& out) const {
  reports_.Render(out);
  enrollments_.Render(out);
  decisions_.Render(out);
  webhooks_.Render(out);
  requests_.Render(out);
  database_.Render(out);
}

}  // namespace ota::server
