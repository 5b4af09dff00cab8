#include "ota/server/server.h"

#include <arpa/inet.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "audit_export.h"
#include "connection_gate.h"
#include "console_assets.h"
#include "events.h"
#include "fleet_api.h"
#include "fleet_store.h"
#include "http_util.h"
#include "ota/common/filesystem.h"
#include "ota/common/postgres.h"
#include "ota/verifier/keys.h"
#include "rate_limit.h"
#include "repo_audit.h"
#include "repo_files.h"
#include "webhooks.h"

namespace ota::server {
namespace {

// Signed reports carry up to kMaxEventsPerBatch events; enrollment carries
// one device's facts (at most about 60 KiB as the agent validates them).
constexpr std::size_t kMaxReportBodyBytes = 1024 * 1024;
constexpr std::size_t kMaxTokenBodyBytes = 4096;
constexpr std::size_t kMaxEnrollBodyBytes = 128 * 1024;
constexpr std::uint64_t kMaxDrainedBodyBytes = 16 * 1024 * 1024;
// Connections the kernel queues before they are accepted (the kernel caps it
// at net.core.somaxconn).
constexpr int kListenBacklog = 1024;
constexpr std::string_view kRepoPrefix = "/repo/";

// httplib 0.11.4 applies its own parsing of Range to every response that
// passes through it: it slices content providers without clamping to the
// length (reading past the end of the data), keeps the handler's status, and
// even slices error bodies. We evaluate Range ourselves, so its parsed copy is
// dropped before it can act. The Request is a non-const local inside httplib;
// only its handler interface is const.
void DropLibraryRanges(const httplib::Request& req) {
  const_cast<httplib::Request&>(req).ranges.clear();
}

void BeginTrace() {
  RequestTrace& trace = CurrentTrace();
  trace.start = std::chrono::steady_clock::now();
  trace.body_bytes = 0;
  trace.active = true;
}

// Request paths are client-controlled: keep each log line one line of
// space-separated fields.
std::string LogSafe(std::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string DefaultErrorMessage(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 404:
      return "no such endpoint";
    case 413:
      return "request body larger than " + std::to_string(kMaxReportBodyBytes) + " bytes";
    case 414:
      return "request URI too long";
    case 416:
      return "range not satisfiable";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

bool IsIpLiteral(const std::string& address) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

// The audit key at `path`, created (mode 0600) when there is none.
Result<verifier::PrivateKey> LoadOrCreateAuditKey(const std::string& path) {
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(bool exists, fs->Exists(path));
  if (exists) return verifier::LoadPrivateKey(*fs, path);
  auto env = MakePosixEnv();
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey key, verifier::GenerateEd25519Key(*env->env().random));
  OTA_TRY(verifier::SavePrivateKey(*fs, path, key));
  return key;
}

std::string PublicKeyText(const verifier::PrivateKey& key) {
  return manifest::ToJson(key.public_key)
             .dump(1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

// The console's read-only endpoints (fleet_views.cc).
bool IsViewPath(std::string_view path) {
  return path == "/v1/devices" || path.starts_with("/v1/devices/") || path == "/v1/shadow" ||
         path == "/v1/drills" ||
         (path.starts_with("/v1/drills/") && path.size() > std::string_view("/v1/drills/").size());
}

Status CheckWebhookOptions(const ServerOptions& o) {
  for (const std::string& url : o.webhook_urls) {
    if (!(url.starts_with("http://") || url.starts_with("https://")) || url.size() > 2048 ||
        url.find_first_of(" \r\n") != std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "a webhook URL must be http:// or https://, without spaces: " + url);
    }
  }
  if (!o.webhook_urls.empty() && o.webhook_secret.size() < kWebhookMinSecretBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "webhooks need a secret of at least " +
                                                      std::to_string(kWebhookMinSecretBytes) +
                                                      " bytes (--webhook-secret-file)");
  }
  return Ok();
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        http(GateLimits{options.request_head_timeout, GateLimits{}.body_timeout,
                        GateLimits{}.idle_timeout, GateLimits{}.max_head_bytes,
                        options.max_waiting_per_client, GateLimits{}.max_waiting,
                        GateLimits{}.max_requests_per_connection}) {}

  void HandleGet(const httplib::Request& req, httplib::Response& res, bool ignore_range);
  void HandleListEvents(const httplib::Request& req, httplib::Response& res);
  // The console's read-only views: /v1/devices[/<id>], /v1/shadow,
  // /v1/drills[/<name>[/timeline.svg]] (operator already authenticated).
  void HandleViews(const httplib::Request& req, httplib::Response& res);
  void HandleEnroll(const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader);
  // Reads a body of at most `limit` bytes; false (with the answer set) when
  // it cannot.
  bool ReadBody(httplib::Response& res, const httplib::ContentReader& reader, std::size_t limit,
                std::string* body);
  void Send(httplib::Response& res, const ApiResponse& answer);
  // The operator's name, or false with the refusal sent.
  // The caller when its token is valid and its role holds `needed`;
  // otherwise sends the refusal and returns nullopt.
  std::optional<OperatorIdentity> Operator(const httplib::Request& req, httplib::Response& res,
                                           Permission needed);
  void HandleTokens(const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader* reader);
  void ControllerLoop();
  // One controller pass when this node leads: the rollouts it changed;
  // nullopt when another node leads.
  Result<std::optional<int>> RunControllerIfLeading();
  void MaintenanceLoop();
  void WebhookLoop();
  Status AuditMaintenance();
  // Signs a checkpoint of the server log if its head moved since the last.
  Status Checkpoint();
  void HandleAuditExport(const httplib::Request& req, httplib::Response& res);
  httplib::Server::HandlerResponse HandleError(const httplib::Request& req, httplib::Response& res);
  void LogRequest(const httplib::Request& req, const httplib::Response& res);
  void CountRequest(const httplib::Request& req, const httplib::Response& res,
                    const RequestTrace& trace);
  void HandleMetrics(const httplib::Request& req, httplib::Response& res);
  void Configure();

  ServerOptions options;
  std::unique_ptr<Clock> owned_clock;
  std::unique_ptr<RepoFiles> repo;
  std::unique_ptr<EventStore> events;
  std::unique_ptr<FleetStore> fleet;
  std::unique_ptr<FleetApi> api;
  std::unique_ptr<RateLimiter> enroll_limiter;
  ServerMetrics metrics;
  // Randomness for operator tokens created through the API.
  std::unique_ptr<OwnedEnv> random_env = MakePosixEnv();
  Clock* clock = nullptr;
  verifier::PrivateKey audit_key;
  std::string audit_key_json;
  std::unique_ptr<AuditExporter> exporter;
  std::unique_ptr<RepoAuditWatcher> repo_watch;
  std::mutex audit_mu;  // Guards last_checkpoint.
  std::chrono::system_clock::time_point last_checkpoint{};
  std::thread maintenance;
  std::unique_ptr<WebhookDispatcher> webhooks;
  std::thread webhook_thread;
  std::mutex webhook_mu;
  std::condition_variable webhook_cv;
  bool webhook_stop = false;
  std::thread controller;
  std::mutex controller_mu;
  std::condition_variable controller_cv;
  bool controller_stop = false;
  GatedHttpServer http;
  std::promise<void> serving;
  std::thread thread;
  int port = 0;
  bool started = false;
};

void Server::Impl::HandleGet(const httplib::Request& req, httplib::Response& res,
                             bool ignore_range) {
  const std::string& path = req.path;
  if (path.starts_with(kRepoPrefix)) {
    if (path.starts_with("/repo/metadata/")) {
      // New metadata versions appear in the audit log as soon as they are
      // served (a few stat calls when nothing changed).
      Status noted = repo_watch->Check(*fleet);
      if (!noted.ok()) {
        std::fprintf(stderr, "ota-server: audit: %s\n", noted.error().message.c_str());
      }
    }
    repo->Serve(req, std::string_view(path).substr(kRepoPrefix.size()), ignore_range, res);
  } else if (path == "/v1/health") {
    SetJson(res, 200, {{"status", "ok"}});
  } else if (path == "/v1/audit/key") {
    res.status = 200;
    res.set_content(audit_key_json, "application/json");
  } else if (path == "/v1/audit/export") {
    HandleAuditExport(req, res);
  } else if (path == "/v1/events") {
    if (Operator(req, res, Permission::kRead)) HandleListEvents(req, res);
  } else if (path == "/v1/openapi.yaml") {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(OpenApiDocument()), "application/yaml");
  } else if (path == "/metrics") {
    HandleMetrics(req, res);
  } else if (path == "/v1/whoami") {
    if (auto who = Operator(req, res, Permission::kRead)) Send(res, api->WhoAmI(*who));
  } else if (path == "/v1/tokens" || path.starts_with("/v1/tokens/")) {
    HandleTokens(req, res, nullptr);
  } else if (path == "/v1/rollouts" || path.starts_with("/v1/rollouts/") || path == "/v1/fleet") {
    if (!Operator(req, res, Permission::kRead)) return;
    if (path == "/v1/rollouts") {
      Send(res, api->ListRollouts());
    } else if (path == "/v1/fleet") {
      Send(res, api->FleetStatus());
    } else {
      const std::string id = path.substr(std::string_view("/v1/rollouts/").size());
      Send(res, api->RolloutStatus(id));
    }
  } else if (IsViewPath(path)) {
    if (Operator(req, res, Permission::kRead)) HandleViews(req, res);
  } else if (IsConsolePath(path)) {
    ServeConsole(path, res);
  } else {
    SetJsonError(res, 404, "no such endpoint: " + req.method + " " + path);
  }
}

void Server::Impl::HandleViews(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  const FleetApi::QueryParams params(req.params.begin(), req.params.end());
  constexpr std::string_view kDevice = "/v1/devices/", kDrill = "/v1/drills/";
  if (path == "/v1/devices") {
    Send(res, api->ListDevices(params));
  } else if (path.starts_with(kDevice)) {
    Send(res, api->GetDevice(path.substr(kDevice.size()), params));
  } else if (path == "/v1/shadow") {
    Send(res, api->ShadowSummary(params));
  } else if (path == "/v1/drills") {
    Send(res, api->ListDrills(options.drills_dir));
  } else if (constexpr std::string_view kSvg = "/timeline.svg";
             path.size() > kDrill.size() + kSvg.size() && path.ends_with(kSvg)) {
    std::string svg;
    const std::string name = path.substr(kDrill.size(), path.size() - kDrill.size() - kSvg.size());
    ApiResponse answer = api->DrillTimeline(options.drills_dir, name, &svg);
    if (answer.status != 200) return Send(res, answer);
    res.status = 200;
    res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(svg, "image/svg+xml");
  } else {
    Send(res, api->DrillReport(options.drills_dir, path.substr(kDrill.size())));
  }
}

void Server::Impl::Send(httplib::Response& res, const ApiResponse& answer) {
  SetJson(res, answer.status, answer.body);
  if (answer.status == 401) res.set_header("WWW-Authenticate", "Bearer");
}

std::optional<OperatorIdentity> Server::Impl::Operator(const httplib::Request& req,
                                                       httplib::Response& res, Permission needed) {
  ApiResponse refusal;
  auto who = api->Authorize(req.get_header_value("Authorization"), needed, &refusal);
  if (!who) Send(res, refusal);
  return who;
}

void Server::Impl::HandleMetrics(const httplib::Request& req, httplib::Response& res) {
  if (!Operator(req, res, Permission::kRead)) return;
  auto text = api->RenderMetrics(metrics);
  if (!text.ok()) {
    SetJsonError(res, 500, "cannot read the fleet's metrics: " + text.error().message);
    return;
  }
  res.status = 200;
  res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
}

// GET /v1/tokens, POST /v1/tokens (with `reader`), DELETE /v1/tokens/<name>.
void Server::Impl::HandleTokens(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader* reader) {
  std::string body;
  if (reader != nullptr && !ReadBody(res, *reader, kMaxTokenBodyBytes, &body)) return;
  auto who = Operator(req, res, Permission::kManageTokens);
  if (!who) return;
  const std::string& path = req.path;
  if (path == "/v1/tokens" && req.method == "GET") {
    Send(res, api->ListTokens());
  } else if (path == "/v1/tokens" && req.method == "POST") {
    Send(res, api->CreateToken(who->name, body, *random_env->env().random));
  } else if (path.starts_with("/v1/tokens/") && req.method == "DELETE") {
    Send(res, api->RevokeToken(who->name, path.substr(std::string_view("/v1/tokens/").size())));
  } else {
    SetJsonError(res, 404, "not-found", "no such endpoint: " + req.method + " " + path);
  }
}

bool Server::Impl::ReadBody(httplib::Response& res, const httplib::ContentReader& reader,
                            std::size_t limit, std::string* body) {
  // Reading through our own receiver bounds chunked bodies too, which the
  // library's payload limit does not cover. An oversize body is still read
  // (and dropped) up to a bound, so that the 413 reaches a client that is
  // still sending instead of a reset connection.
  std::uint64_t total = 0;
  bool read = reader([&](const char* data, std::size_t n) {
    total += n;
    if (total <= limit) body->append(data, n);
    return total <= kMaxDrainedBodyBytes;
  });
  if (total > limit || res.status == 413) {
    SetJsonError(res, 413, "request body larger than " + std::to_string(limit) + " bytes");
    return false;
  }
  if (!read) {
    SetJsonError(res, 400, "could not read the request body");
    return false;
  }
  return true;
}

void Server::Impl::ControllerLoop() {
  std::unique_lock lock(controller_mu);
  while (!controller_stop) {
    controller_cv.wait_for(lock, options.controller_interval);
    if (controller_stop) break;
    lock.unlock();
    // Every node tries; one runs the pass (FleetStore::LeadController).
    auto changed = RunControllerIfLeading();
    if (!changed.ok()) {
      std::fprintf(stderr, "ota-server: controller: %s\n", changed.error().message.c_str());
    }
    lock.lock();
  }
}

void Server::Impl::WebhookLoop() {
  std::unique_lock lock(webhook_mu);
  while (!webhook_stop) {
    webhook_cv.wait_for(lock, options.webhook_interval);
    if (webhook_stop) break;
    lock.unlock();
    auto drills = api->AnnounceNewDrills(options.drills_dir);
    if (!drills.ok()) {
      std::fprintf(stderr, "ota-server: webhooks: drills: %s\n", drills.error().message.c_str());
    }
    auto delivered = webhooks->DeliverDue();
    if (!delivered.ok()) {
      std::fprintf(stderr, "ota-server: webhooks: %s\n", delivered.error().message.c_str());
    }
    lock.lock();
  }
}

void Server::Impl::MaintenanceLoop() {
  std::unique_lock lock(controller_mu);
  while (!controller_stop) {
    controller_cv.wait_for(lock, options.audit_maintenance_interval);
    if (controller_stop) break;
    lock.unlock();
    Status s = AuditMaintenance();
    if (!s.ok()) std::fprintf(stderr, "ota-server: audit: %s\n", s.error().message.c_str());
    lock.lock();
  }
}

Status Server::Impl::Checkpoint() {
  OTA_ASSIGN_OR_RETURN(manifest::AuditCheckpoint c, fleet->CheckpointAuditLog(audit_key));
  (void)c;
  std::lock_guard lock(audit_mu);
  last_checkpoint = clock->Now();
  return Ok();
}

Status Server::Impl::AuditMaintenance() {
  OTA_TRY(repo_watch->Check(*fleet));
  if (options.event_retention.count() > 0) {
    const auto before = std::chrono::duration_cast<std::chrono::seconds>(
        (clock->Now() - options.event_retention).time_since_epoch());
    OTA_ASSIGN_OR_RETURN(std::int64_t pruned, fleet->PruneEvents(before.count()));
    (void)pruned;
  }
  {
    std::lock_guard lock(audit_mu);
    if (clock->Now() - last_checkpoint < options.audit_checkpoint_interval) return Ok();
  }
  return Checkpoint();
}

void Server::Impl::HandleAuditExport(const httplib::Request& req, httplib::Response& res) {
  auto who = Operator(req, res, Permission::kReadAudit);
  if (!who) return;
  std::multimap<std::string, std::string> params(req.params.begin(), req.params.end());
  auto filters = ParseAuditExportFilters(params);
  if (!filters.ok()) {
    SetJsonError(res, 400, filters.error().message);
    return;
  }
  // Reading the log is recorded in it, and the export ends at a checkpoint
  // that covers that record.
  ServerAuditRecord access;
  access.type = "audit-exported";
  access.actor = "operator:" + who->name;
  access.fields = {{"filters", filters->ToJson()}};
  auto recorded = fleet->AppendServerRecord(access);
  if (!recorded.ok()) {
    SetJsonError(res, 500, "cannot record the export: " + recorded.error().message);
    return;
  }
  auto fresh = fleet->CheckpointAuditLog(audit_key);
  if (!fresh.ok()) {
    SetJsonError(res, 500, "cannot sign a checkpoint: " + fresh.error().message);
    return;
  }
  const std::string time = manifest::FormatExpires(clock->Now());
  res.status = 200;
  res.set_chunked_content_provider(
      "application/x-ndjson",
      [this, f = *filters, c = *fresh, time](std::size_t, httplib::DataSink& sink) {
        manifest::AuditExportWriter writer(
            [&sink](std::string_view line) -> Status {
              if (!sink.write(line.data(), line.size())) {
                return MakeError(ErrorCode::kIo, "the client went away");
              }
              return Ok();
            },
            manifest::kAuditServerLog, time, f.ToJson());
        Status s = exporter->Write(f, c, audit_key, time, writer);
        if (!s.ok()) {
          // Without its signed end line the export reads as truncated.
          std::fprintf(stderr, "ota-server: audit export: %s\n", s.error().message.c_str());
          return false;
        }
        sink.done();
        return true;
      });
}

void Server::Impl::HandleEnroll(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
  // Checked before the body is parsed: a flood costs the server little more.
  std::int64_t retry_after = 0;
  if (!enroll_limiter->Allow(req.remote_addr, &retry_after)) {
    // The body is still read (and dropped, within the usual bounds): left
    // unread it would be taken for the connection's next request.
    std::string ignored;
    (void)ReadBody(res, reader, kMaxEnrollBodyBytes, &ignored);
    SetJsonError(res, 429,
                 "too many enrollment requests from " + req.remote_addr + "; retry in " +
                     std::to_string(retry_after) + " s");
    res.set_header("Retry-After", std::to_string(retry_after));
    return;
  }
  std::string body;
  if (ReadBody(res, reader, kMaxEnrollBodyBytes, &body)) {
    Send(res, api->Enroll(body, req.get_header_value("Authorization")));
  }
}

void Server::Impl::HandleListEvents(const httplib::Request& req, httplib::Response& res) {
  std::string device_id = req.get_param_value("device_id");
  if (!IsValidDeviceId(device_id)) {
    SetJsonError(res, 400,
                 "query parameter device_id must be 1 to 128 characters from [A-Za-z0-9._-]");
    return;
  }
  auto bodies = events->List(device_id);
  if (!bodies.ok()) {
    SetJsonError(res, 500, "cannot read events: " + bodies.error().message);
    return;
  }
  // The stored bodies are compact JSON we serialized ourselves: splice them.
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < bodies->size(); ++i) {
    if (i > 0) out += ",";
    out += (*bodies)[i];
  }
  out += "]}";
  res.status = 200;
  res.set_content(out, "application/json");
}

httplib::Server::HandlerResponse Server::Impl::HandleError(const httplib::Request& req,
                                                           httplib::Response& res) {
  DropLibraryRanges(req);
  if (!CurrentTrace().active) BeginTrace();
  if (!res.body.empty() || res.content_provider_) {
    return httplib::Server::HandlerResponse::Unhandled;  // One of our own answers.
  }
  if (res.status == 416 && (req.method == "GET" || req.method == "HEAD")) {
    // httplib rejects Range values it cannot parse (another unit, b < a)
    // before routing. RFC 9110 says to ignore such a header, so do that.
    HandleGet(req, res, /*ignore_range=*/true);
    return httplib::Server::HandlerResponse::Handled;
  }
  SetJsonError(res, res.status, DefaultErrorMessage(res.status));
  return httplib::Server::HandlerResponse::Handled;
}

// The request's latency, and reports and enrollments by result: "accepted",
// "created" or "unchanged", else the answer's error code.
void Server::Impl::CountRequest(const httplib::Request& req, const httplib::Response& res,
                                const RequestTrace& trace) {
  if (trace.active) {
    metrics.ObserveRequest(
        req.method, req.path, res.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - trace.start).count());
  }
  const bool report = req.path == "/v1/reports", enroll = req.path == "/v1/devices";
  if (req.method != "POST" || (!report && !enroll)) return;
  std::string result;
  if (res.status >= 200 && res.status < 300) {
    result = report ? "accepted" : res.status == 201 ? "created" : "unchanged";
  } else {
    const nlohmann::json body = nlohmann::json::parse(res.body, nullptr, false);
    result = body.is_object() && body.contains("code") && body["code"].is_string()
                 ? body["code"].get<std::string>()
                 : std::string(ErrorCodeForStatus(res.status));
  }
  if (report) {
    metrics.CountReport(result);
  } else {
    metrics.CountEnrollment(result);
  }
}

void Server::Impl::LogRequest(const httplib::Request& req, const httplib::Response& res) {
  RequestTrace& trace = CurrentTrace();
  CountRequest(req, res, trace);
  if (!options.quiet) {
    std::uint64_t bytes = 0;
    if (req.method != "HEAD") bytes = res.body.empty() ? trace.body_bytes : res.body.size();
    double ms = trace.active ? std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - trace.start)
                                   .count()
                             : 0.0;
    // One fprintf per line: stdio locks the stream, so lines never interleave.
    std::fprintf(stderr, "%s %s %d %" PRIu64 " %.1fms\n", req.method.c_str(),
                 LogSafe(req.path).c_str(), res.status, bytes, ms);
  }
  trace.active = false;
  trace.body_bytes = 0;
}

void Server::Impl::Configure() {
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    DropLibraryRanges(req);
    BeginTrace();
    // Without a length httplib reads the body until the connection closes,
    // stalling for its read timeout; refuse at once instead.
    const bool has_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (has_body && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      SetJsonError(res, 411, "Content-Length or chunked Transfer-Encoding required");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    HandleGet(req, res, /*ignore_range=*/false);
  });
  // Events are written by signed reports only: an unsigned batch could
  // forge a device's history or take its sequence numbers.
  http.Post("/v1/events", [](const httplib::Request&, httplib::Response& res) {
    SetJsonError(res, 410,
                 "unsigned event batches are not accepted; devices send signed reports to POST "
                 "/v1/reports");
  });
  http.Post("/v1/devices",
            [this](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { HandleEnroll(req, res, reader); });
  http.Post("/v1/reports", [this](const httplib::Request&, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    std::string body;
    if (ReadBody(res, reader, kMaxReportBodyBytes, &body)) Send(res, api->Report(body));
  });
  http.Post(R"(/v1/rollouts(/.*)?)", [this](const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& reader) {
    std::string body;
    if (!ReadBody(res, reader, kMaxReportBodyBytes, &body)) return;
    auto who = Operator(req, res, Permission::kChangeRollouts);
    if (!who) return;
    const std::string& actor = who->name;
    const std::string& path = req.path;
    if (path == "/v1/rollouts") {
      Send(res, api->CreateRollout(actor, body));
      return;
    }
    const std::string rest = path.substr(std::string_view("/v1/rollouts/").size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) {
      SetJsonError(res, 404, "no such endpoint: POST " + path);
      return;
    }
    Send(res, api->RolloutAction(actor, rest.substr(0, slash), rest.substr(slash + 1), body));
  });
  http.Post("/v1/live-drills", [this](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) {
    std::string body;
    if (!ReadBody(res, reader, kMaxReportBodyBytes, &body)) return;
    if (auto who = Operator(req, res, Permission::kChangeRollouts)) {
      Send(res, api->RecordLiveDrill(who->name, body));
    }
  });
  http.Post("/v1/tokens",
            [this](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { HandleTokens(req, res, &reader); });
  http.Delete(R"(/v1/tokens/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    HandleTokens(req, res, nullptr);
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        return HandleError(req, res);
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        // Handlers return errors as values; this only catches library throws
        // (e.g. allocation) and keeps their text out of the response.
        SetJsonError(res, 500, "internal error");
      });
  http.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { LogRequest(req, res); });
  http.set_payload_max_length(kMaxReportBodyBytes);
  // Small JSON answers written in two parts otherwise wait for the client's
  // delayed ACK (Nagle), capping a keep-alive connection at ~25 requests/s.
  http.set_tcp_nodelay(true);
  // Connections wait for their whole request head without a worker
  // (connection_gate.h), so slow clients cannot starve the others.
  http.UseGate(static_cast<std::size_t>(options.threads), [this] {
    // httplib marks itself running before it creates its queue, so from here
    // on stop() is guaranteed to end the accept loop.
    serving.set_value();
  });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { Stop(); }

int Server::port() const { return impl_->port; }

Status Server::Start() {
  Impl& s = *impl_;
  const ServerOptions& o = s.options;
  if (s.started) return MakeError(ErrorCode::kInvalidArgument, "server already started");
  if (o.port < 0 || o.port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument, "port out of range: " + std::to_string(o.port));
  }
  if (o.request_head_timeout.count() < 1 || o.max_waiting_per_client < 1 || o.enroll_burst < 1 ||
      !(o.enroll_per_second > 0)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "request_head_timeout, max_waiting_per_client, enroll_burst and "
                     "enroll_per_second must be positive");
  }
  if (o.threads < 1 || o.threads > 1024) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "threads must be 1 to 1024, not " + std::to_string(o.threads));
  }
  if (!IsIpLiteral(o.listen_address)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "listen address must be an IPv4 or IPv6 address: " + o.listen_address);
  }
  OTA_TRY(CheckWebhookOptions(o));
  OTA_ASSIGN_OR_RETURN(s.repo,
                       RepoFiles::Open(o.repo_dir, {o.fault_drop_after_bytes, o.fault_drop_count,
                                                    o.fault_extra_bytes, o.fault_extra_count}));
  Clock* clock = o.clock;
  if (clock == nullptr) {
    s.owned_clock = MakeSystemClock();
    clock = s.owned_clock.get();
  }
  if (IsPostgresUri(o.db_path) && o.audit_key_path.empty()) {
    // Every node of a shared database signs its audit log with one key.
    return MakeError(ErrorCode::kInvalidArgument,
                     "with a postgresql:// database the audit key file must be given "
                     "(--audit-key), the same on every node");
  }
  OTA_ASSIGN_OR_RETURN(s.events, EventStore::Open(o.db_path));
  OTA_ASSIGN_OR_RETURN(s.fleet, FleetStore::Open(o.db_path, *clock));
  if (!o.webhook_urls.empty()) {
    s.fleet->SetWebhookTargets(o.webhook_urls);
    s.webhooks = std::make_unique<WebhookDispatcher>(*s.fleet, *clock, o.webhook_secret, &s.metrics,
                                                     MakeCurlHttpClient());
  }
  if (o.audit_checkpoint_interval.count() < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "audit_checkpoint_interval must be positive");
  }
  s.clock = clock;
  OTA_ASSIGN_OR_RETURN(s.audit_key, LoadOrCreateAuditKey(AuditKeyPath(o)));
  s.audit_key_json = PublicKeyText(s.audit_key);
  OTA_ASSIGN_OR_RETURN(s.exporter, AuditExporter::Open(o.db_path));
  s.repo_watch = std::make_unique<RepoAuditWatcher>(o.repo_dir);
  OTA_TRY(s.repo_watch->Check(*s.fleet));
  OTA_TRY(s.Checkpoint());
  s.api = std::make_unique<FleetApi>(*s.fleet, *clock, o.publisher);
  s.api->AttachMetrics(&s.metrics);
  s.enroll_limiter = std::make_unique<RateLimiter>(
      *clock, RateLimits{o.enroll_burst, o.enroll_per_second, RateLimits{}.max_clients});
  s.Configure();
  if (o.port == 0) {
    s.port = s.http.bind_to_any_port(o.listen_address);
  } else {
    s.port = s.http.bind_to_port(o.listen_address, o.port) ? o.port : -1;
  }
  if (s.port <= 0) {
    s.port = 0;
    s.api.reset();
    s.fleet.reset();
    s.events.reset();
    return MakeError(ErrorCode::kIo,
                     "cannot listen on " + o.listen_address + " port " + std::to_string(o.port));
  }
  if (!s.http.SetBacklog(kListenBacklog)) {
    return MakeError(ErrorCode::kIo, "cannot set the listen queue of port " +
                                         std::to_string(s.port) + ": " + std::strerror(errno));
  }
  s.started = true;
  auto serving = s.serving.get_future();
  s.thread = std::thread([&s] { s.http.listen_after_bind(); });
  serving.wait();
  if (o.controller_interval.count() > 0) {
    s.controller = std::thread([&s] { s.ControllerLoop(); });
  }
  if (o.audit_maintenance_interval.count() > 0) {
    s.maintenance = std::thread([&s] { s.MaintenanceLoop(); });
  }
  if (s.webhooks && o.webhook_interval.count() > 0) {
    s.webhook_thread = std::thread([&s] { s.WebhookLoop(); });
  }
  return Ok();
}

Result<int> Server::DeliverWebhooksOnce() {
  if (!impl_->fleet) return MakeError(ErrorCode::kInvalidArgument, "server not started");
  if (!impl_->webhooks) return 0;
  OTA_ASSIGN_OR_RETURN(int drills, impl_->api->AnnounceNewDrills(impl_->options.drills_dir));
  (void)drills;
  return impl_->webhooks->DeliverDue();
}

Status Server::RunAuditMaintenance() {
  if (!impl_->fleet) return MakeError(ErrorCode::kInvalidArgument, "server not started");
  return impl_->AuditMaintenance();
}

std::string AuditKeyPath(const ServerOptions& options) {
  return options.audit_key_path.empty() ? options.db_path + ".audit-key" : options.audit_key_path;
}

Result<std::string> AuditPublicKeyJson(const std::string& key_path) {
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey key, verifier::LoadPrivateKey(*fs, key_path));
  return PublicKeyText(key);
}

Result<std::optional<int>> Server::Impl::RunControllerIfLeading() {
  OTA_ASSIGN_OR_RETURN(bool leading, fleet->LeadController());
  if (!leading) return std::optional<int>();
  OTA_ASSIGN_OR_RETURN(int changed, api->RunController());
  return std::optional<int>(changed);
}

Result<int> Server::RunControllerOnce() {
  if (!impl_->api) return MakeError(ErrorCode::kInvalidArgument, "server not started");
  OTA_ASSIGN_OR_RETURN(std::optional<int> changed, impl_->RunControllerIfLeading());
  if (!changed) {
    return MakeError(ErrorCode::kRetryLater, "another server node runs the rollout controller");
  }
  return *changed;
}

void Server::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.controller_mu);
    s.controller_stop = true;
  }
  s.controller_cv.notify_all();
  if (s.controller.joinable()) s.controller.join();
  if (s.maintenance.joinable()) s.maintenance.join();
  {
    std::lock_guard lock(s.webhook_mu);
    s.webhook_stop = true;
  }
  s.webhook_cv.notify_all();
  if (s.webhook_thread.joinable()) s.webhook_thread.join();
  if (s.thread.joinable()) {
    s.http.stop();
    s.thread.join();
  }
  if (s.fleet && s.started) {
    // The log's last records are signed before the server goes away.
    Status signed_head = s.Checkpoint();
    if (!signed_head.ok()) {
      std::fprintf(stderr, "ota-server: audit: %s\n", signed_head.error().message.c_str());
    }
  }
  s.exporter.reset();
  s.webhooks.reset();
  s.api.reset();
  s.fleet.reset();
  s.events.reset();
}

}  // namespace ota::server
