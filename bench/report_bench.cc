// Signed report ingestion benchmark: an in-process ota-server on loopback,
// devices enrolled with Ed25519 keys, and C client threads (one keep-alive
// connection each) posting pre-signed reports as fast as the server answers.
// Prints reports/s and latency percentiles. Then times one controller
// evaluation (stage targeting by cohort bucket and selectors, plus the stage
// decision) over a synthetic fleet, first as pure computation, then through
// ota-server (a fleet database of N enrolled devices with facts: start-up,
// GET /v1/rollouts/<id> and one controller pass).
//
// With --chained 1 every event carries its device's audit chain link (link
// version 2), which the server checks as it ingests (--chained 0: events
// without links, which the check skips). Then appends --audit-records
// records to the server audit log directly, with and without a signed
// checkpoint after each.
//
// The ingestion runs on each fleet store: SQLite on one node; PostgreSQL on
// one node; and PostgreSQL with two nodes sharing the database, the client
// connections split between them round robin (--postgres 0 leaves both
// out). The PostgreSQL cluster is a throwaway one the benchmark starts with
// durable settings (fsync on, synchronous commit), on a Unix socket.
//
// Usage: report_bench [--devices N] [--reports N] [--connections N[,N...]]
//                     [--threads N] [--fleet N] [--chained 0|1]
//                     [--audit-records N] [--postgres 0|1] [--enroll N]
//                     [--repeat N]
//
// --connections 8,64: the ingestion table once per count (server threads
// at least as many); the first count is also the enrollment's.
// --repeat N: N ingestion runs per store, each on a new database; the table
// shows the median run and the range (this machine's rates vary by tens of
// per cent from run to run).
// --enroll N: also enrolls N devices through POST /v1/devices (SQLite) and
// prints the rate.
#include <httplib.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "audit_log.h"
#include "events.h"
#include "ota/common/env.h"
#include "ota/common/postgres.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/manifest/canonical_json.h"
#include "ota/rollout/bucket.h"
#include "ota/rollout/controller.h"
#include "ota/rollout/evaluate.h"
#include "ota/server/server.h"
#include "ota/verifier/keys.h"
#ifdef OTA_BENCH_POSTGRES
#include "test_postgres.h"
#endif

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  int devices = 500;
  int reports = 20000;
  int connections = 8;
  int threads = 8;
  int fleet = 100000;
  bool chained = true;
  int audit_records = 20000;
  bool postgres = true;
  int enroll = 0;  // Devices to enroll through the API (EnrollBench); 0: none.
  int repeat = 1;  // Ingestion runs per store; the table shows the median.
  // The ingestion table's connection counts (--connections 8,64); the
  // first is also the enrollment's.
  std::vector<int> connection_counts = {8};
};

// "8,64" as {8, 64}; false unless every item is a positive integer.
bool ParseCounts(const std::string& text, std::vector<int>& out) {
  out.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    if (item.empty() || item.size() > 6 ||
        item.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    out.push_back(std::atoi(item.c_str()));
    if (out.back() <= 0) return false;
    start = comma + 1;
  }
  return !out.empty();
}

bool ParseArgs(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) return false;
    if (k == "--connections") {
      if (!ParseCounts(argv[++i], a.connection_counts)) return false;
      a.connections = a.connection_counts.front();
      continue;
    }
    int v = std::atoi(argv[++i]);
    if (k == "--chained" && (v == 0 || v == 1)) {
      a.chained = v == 1;
      continue;
    }
    if (k == "--postgres" && (v == 0 || v == 1)) {
      a.postgres = v == 1;
      continue;
    }
    if (v <= 0) return false;
    if (k == "--devices") {
      a.devices = v;
    } else if (k == "--reports") {
      a.reports = v;
    } else if (k == "--threads") {
      a.threads = v;
    } else if (k == "--fleet") {
      a.fleet = v;
    } else if (k == "--audit-records") {
      a.audit_records = v;
    } else if (k == "--enroll") {
      a.enroll = v;
    } else if (k == "--repeat") {
      a.repeat = v;
    } else {
      return false;
    }
  }
  return true;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

struct PostRun {
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int failures = 0;
};

// Posts the bodies of per_connection[c] over connection c (keep-alive, to
// 127.0.0.1:ports[c % ports.size()]), all connections at once, each waiting
// for its answer before the next; an answer other than `expect` is a
// failure. Times the whole run and each request.
PostRun PostAll(const std::vector<int>& ports, const std::string& path,
                const httplib::Headers& headers,
                const std::vector<std::vector<std::string>>& per_connection, int expect) {
  std::vector<std::vector<double>> latencies(per_connection.size());
  std::atomic<int> failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (std::size_t c = 0; c < per_connection.size(); ++c) {
    workers.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", ports[c % ports.size()]);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (const std::string& body : per_connection[c]) {
        const auto t0 = Clock::now();
        auto r = client.Post(path, headers, body, "application/json");
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!r || r->status != expect) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  PostRun run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  run.p50_ms = Percentile(all, 0.50);
  run.p99_ms = Percentile(all, 0.99);
  run.failures = failures.load();
  return run;
}

struct IngestResult {
  double reports_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int failures = 0;
};

// Enrolls a.devices devices through the first of `nodes` servers sharing
// database `db`, then posts a.reports pre-signed reports over a.connections
// keep-alive connections, connection c to node c % nodes.
ota::Result<IngestResult> IngestRun(const Args& a, const std::filesystem::path& dir,
                                    const std::string& db, int nodes) {
  std::filesystem::create_directories(dir / "repo");
  auto env = ota::MakePosixEnv();
  ota::server::ServerOptions o;
  o.repo_dir = (dir / "repo").string();
  o.db_path = db;
  o.audit_key_path = (dir / "audit.key").string();
  o.port = 0;
  o.quiet = true;
  o.threads = a.threads;
  o.enroll_burst = a.devices + 1;
  OTA_ASSIGN_OR_RETURN(std::string enroll_token,
                       ota::server::CreateEnrollmentToken(o.db_path, {"bench", 0, 0}));
  std::vector<std::unique_ptr<ota::server::Server>> servers;
  for (int n = 0; n < nodes; ++n) {
    servers.push_back(std::make_unique<ota::server::Server>(o));
    OTA_TRY(servers.back()->Start());
  }
  // Enroll devices and pre-sign every report, so the clock below measures
  // the server (verification + database) rather than client-side signing.
  httplib::Client setup("127.0.0.1", servers[0]->port());
  std::vector<std::vector<std::string>> bodies(static_cast<std::size_t>(a.connections));
  std::vector<ota::verifier::PrivateKey> keys;
  for (int d = 0; d < a.devices; ++d) {
    OTA_ASSIGN_OR_RETURN(ota::verifier::PrivateKey key,
                         ota::verifier::GenerateEd25519Key(*env->env().random));
    keys.push_back(key);
    json enroll = {{"device_id", "dev-" + std::to_string(d)},
                   {"public_key", key.public_key.public_value}};
    auto r = setup.Post("/v1/devices", {{"Authorization", "Bearer " + enroll_token}}, enroll.dump(),
                        "application/json");
    if (!r || r->status != 201) return ota::MakeError(ota::ErrorCode::kIo, "enrollment failed");
  }
  std::vector<std::int64_t> seq(static_cast<std::size_t>(a.devices), 0);
  std::vector<std::string> links(static_cast<std::size_t>(a.devices),
                                 std::string(ota::manifest::kAuditGenesis));
  for (int i = 0; i < a.reports; ++i) {
    // Each connection owns a disjoint set of devices so that its reports
    // arrive in seq order, as one agent's do.
    const int conn = i % a.connections;
    const int per_conn = std::max(1, a.devices / a.connections);
    const int d = conn * per_conn + (i / a.connections) % per_conn;
    const std::size_t di = static_cast<std::size_t>(d % a.devices);
    const std::int64_t s = ++seq[di];
    json event = {{"type", "state"},
                  {"state", "committed"},
                  {"model", "chat"},
                  {"version", "2.0.0"},
                  {"time", "2026-11-29T12:00:00Z"}};
    if (a.chained) {
      links[di] = ota::manifest::AuditLink(
          links[di], s, ota::manifest::AuditBodyDigest(*ota::manifest::AuditBody(event)));
      event["chain"] = links[di];
    }
    event["seq"] = s;
    json report = {
        {"device_id", "dev-" + std::to_string(di)}, {"seq", s}, {"events", json::array({event})}};
    auto canonical = ota::manifest::CanonicalJson(report);
    auto sig = ota::verifier::SignBytes(keys[di], *canonical);
    bodies[static_cast<std::size_t>(conn)].push_back(
        json{{"report", report}, {"signature", *sig}}.dump());
  }
  std::vector<int> ports;
  for (auto& server : servers) ports.push_back(server->port());
  const PostRun run = PostAll(ports, "/v1/reports", {}, bodies, 200);
  for (auto& server : servers) server->Stop();
  return IngestResult{static_cast<double>(a.reports) / run.seconds, run.p50_ms, run.p99_ms,
                      run.failures};
}

// The database of run k of a store whose run 0 uses `db`: "_k" after the
// SQLite file's name or the PostgreSQL database's.
std::string RunDatabase(const std::string& db, int k) {
  if (k == 0) return db;
  const std::string suffix = "_" + std::to_string(k);
  const std::size_t query = db.find('?');
  if (query != std::string::npos) return db.substr(0, query) + suffix + db.substr(query);
  return db + suffix;
}

int IngestBench(const Args& a) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("report_bench_" + std::to_string(::getpid()));
  struct Row {
    std::string store;
    std::string db;
    int nodes;
  };
  std::filesystem::create_directories(dir);
  // `db` names the database of run 0; run k appends "_k" to it.
  std::vector<Row> rows = {{"SQLite", (dir / "server.db").string(), 1}};
  std::string pg_dir;
#ifdef OTA_BENCH_POSTGRES
  if (a.postgres) {
    // A short path: the cluster's Unix socket lives in it.
    char tmpl[] = "/tmp/otapgb-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    pg_dir = tmpl;
    auto admin = ota::testing::StartPostgresCluster(pg_dir, /*durable=*/true);
    if (!admin.ok()) {
      std::fprintf(stderr, "report_bench: %s\n", admin.error().ToString().c_str());
      return 1;
    }
    auto admin_db = ota::OpenPostgres(*admin, {});
    bool created = admin_db.ok();
    const int runs = a.repeat * static_cast<int>(a.connection_counts.size());
    for (int k = 0; k < runs && created; ++k) {
      const std::string suffix = k == 0 ? "" : "_" + std::to_string(k);
      created = (*admin_db)->Exec("CREATE DATABASE one" + suffix).ok() &&
                (*admin_db)->Exec("CREATE DATABASE two" + suffix).ok();
    }
    if (!created) {
      std::fprintf(stderr, "report_bench: cannot create the PostgreSQL databases\n");
      return 1;
    }
    const std::string base = admin->substr(0, admin->find("/postgres?"));
    const std::string query = admin->substr(admin->find('?'));
    rows.push_back({"PostgreSQL", base + "/one" + query, 1});
    rows.push_back({"PostgreSQL", base + "/two" + query, 2});
  }
#endif
  std::printf("signed report ingestion (ota-server on loopback, %u hardware threads, %s)\n",
              std::thread::hardware_concurrency(),
              a.chained ? "chained events, checked" : "events without chain links");
  std::printf("  %-12s %-6s %-8s %-8s %-12s %-10s %-10s %-15s %-10s %-10s %s\n", "store", "nodes",
              "devices", "reports", "connections", "threads", "reports/s", "runs (min-max)",
              "p50 ms", "p99 ms", "vs SQLite");
  int rc = 0;
  for (std::size_t ci = 0; ci < a.connection_counts.size(); ++ci) {
    // One connection per server thread, as the server serves a keep-alive
    // connection on one thread.
    Args run_args = a;
    run_args.connections = a.connection_counts[ci];
    run_args.threads = std::max(a.threads, run_args.connections);
    double sqlite_rate = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      // Each run on a fresh database; the median run (by rate) is shown.
      std::vector<IngestResult> runs;
      for (int k = 0; k < a.repeat; ++k) {
        const int run = static_cast<int>(ci) * a.repeat + k;
        auto r = IngestRun(run_args, dir / ("run" + std::to_string(i) + "-" + std::to_string(run)),
                           RunDatabase(rows[i].db, run), rows[i].nodes);
        if (!r.ok()) {
          std::fprintf(stderr, "report_bench: %s: %s\n", rows[i].store.c_str(),
                       r.error().ToString().c_str());
          rc = 1;
          break;
        }
        runs.push_back(*r);
      }
      if (runs.empty()) continue;
      std::sort(runs.begin(), runs.end(), [](const IngestResult& x, const IngestResult& y) {
        return x.reports_per_second < y.reports_per_second;
      });
      const IngestResult& r = runs[runs.size() / 2];
      int failures = 0;
      for (const IngestResult& one : runs) failures += one.failures;
      if (i == 0) sqlite_rate = r.reports_per_second;
      char range[32];
      std::snprintf(range, sizeof range, "%d %.0f-%.0f", static_cast<int>(runs.size()),
                    runs.front().reports_per_second, runs.back().reports_per_second);
      std::printf("  %-12s %-6d %-8d %-8d %-12d %-10d %-10.0f %-15s %-10.2f %-10.2f %.2fx%s\n",
                  rows[i].store.c_str(), rows[i].nodes, a.devices, a.reports, run_args.connections,
                  run_args.threads, r.reports_per_second, range, r.p50_ms, r.p99_ms,
                  sqlite_rate > 0 ? r.reports_per_second / sqlite_rate : 0.0,
                  failures == 0 ? "" : "  FAILURES");
      if (failures != 0) rc = 1;
    }
  }
#ifdef OTA_BENCH_POSTGRES
  if (!pg_dir.empty()) {
    ota::testing::StopPostgresCluster(pg_dir);
    std::filesystem::remove_all(pg_dir);
  }
#endif
  std::filesystem::remove_all(dir);
  return rc;
}

// The rollout both controller measurements evaluate: four stages (1%, 10%,
// 50%, 100%) selecting the eu and us regions.
ota::manifest::RolloutManifest BenchRollout() {
  ota::manifest::RolloutManifest m;
  m.rollout_id = "chat-2";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *ota::manifest::ParseVersion("2.0.0");
  for (std::uint32_t p : {100u, 1000u, 5000u, 10000u}) {
    ota::manifest::RolloutStage stage;
    stage.percent_hundredths = p;
    stage.selectors.regions = {"eu", "us"};
    m.stages.push_back(stage);
  }
  return m;
}

void ControllerBench(const Args& a) {
  const ota::manifest::RolloutManifest m = BenchRollout();
  std::vector<ota::rollout::DeviceFacts> fleet(static_cast<std::size_t>(a.fleet));
  for (int i = 0; i < a.fleet; ++i) {
    auto& f = fleet[static_cast<std::size_t>(i)];
    f.device_id = "device-" + std::to_string(i);
    f.region = i % 3 == 0 ? "apac" : (i % 3 == 1 ? "eu" : "us");
  }
  ota::rollout::ControllerPolicy policy;
  const auto t0 = Clock::now();
  std::vector<ota::rollout::StageCounts> counts(m.stages.size());
  for (const auto& f : fleet) {
    if (auto stage = ota::rollout::FirstStageOf(m, f)) {
      ++counts[*stage].targeted;
      counts[*stage].At(ota::rollout::DevicePhase::kConfirmed) += 1;
    }
  }
  auto d = ota::rollout::EvaluateStage(m, policy, counts[0], std::chrono::system_clock::now());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("\ncontroller evaluation (stage targeting + decision)\n");
  std::printf("  %-12s %-10s %-12s %s\n", "devices", "stages", "time ms", "decision");
  std::printf("  %-12d %-10zu %-12.1f %s\n", a.fleet, m.stages.size(), ms,
              std::string(ota::rollout::ControllerActionName(d.action)).c_str());
}

class NullPublisher : public ota::server::RolloutPublisher {
 public:
  ota::Status Publish(const ota::manifest::RolloutManifest&) override { return ota::Ok(); }
};

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The server's path: targeting reads every device's enrollment facts.
int ServerControllerBench(const Args& a) {
  auto dir =
      std::filesystem::temp_directory_path() / ("report_bench_ctl_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "repo");
  const std::string db_path = (dir / "server.db").string();
  auto token = ota::server::CreateOperatorToken(db_path, "bench");
  if (!token.ok()) {
    std::fprintf(stderr, "report_bench: %s\n", token.error().ToString().c_str());
    return 1;
  }
  // Enrolled devices written straight into the fleet database, in one
  // transaction (enrolling 100,000 devices over HTTP would dominate the run).
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return 1;
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO devices (device_id, public_key, facts, enrolled_at) "
                     "VALUES (?, ?, ?, 0)",
                     -1, &ins, nullptr);
  const std::string key(64, '0');
  for (int i = 0; i < a.fleet; ++i) {
    const std::string id = "device-" + std::to_string(i);
    const std::string facts = json{{"app_version", i % 2 == 0 ? "3.1.0" : "3.2.0"},
                                   {"region", i % 3 == 0 ? "apac" : (i % 3 == 1 ? "eu" : "us")},
                                   {"tags", i % 10 == 0 ? json::array({"beta"}) : json::array()}}
                                  .dump();
    sqlite3_bind_text(ins, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 3, facts.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins) != SQLITE_DONE) return 1;
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);

  NullPublisher publisher;
  ota::server::ServerOptions o;
  o.repo_dir = (dir / "repo").string();
  o.db_path = db_path;
  o.port = 0;
  o.quiet = true;
  o.threads = 2;
  o.publisher = &publisher;
  auto t0 = Clock::now();
  ota::server::Server server(o);
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "report_bench: %s\n", s.error().ToString().c_str());
    return 1;
  }
  const double start_ms = MsSince(t0);
  const ota::manifest::RolloutManifest m = BenchRollout();
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  httplib::Headers auth = {{"Authorization", "Bearer " + *token}};
  auto created =
      client.Post("/v1/rollouts", auth, json{{"manifest", ota::manifest::ToJson(m)}}.dump(),
                  "application/json");
  if (!created || created->status != 201) {
    std::fprintf(stderr, "report_bench: cannot create the rollout\n");
    return 1;
  }
  std::vector<double> status_ms;
  std::uint64_t targeted = 0;
  for (int i = 0; i < 5; ++i) {
    t0 = Clock::now();
    auto r = client.Get("/v1/rollouts/chat-2", auth);
    status_ms.push_back(MsSince(t0));
    if (!r || r->status != 200) return 1;
    targeted = 0;
    const json status = json::parse(r->body, nullptr, false);
    if (!status.is_object() || !status.contains("stages")) return 1;
    for (const json& st : status["stages"]) targeted += st.value("targeted", std::uint64_t{0});
  }
  t0 = Clock::now();
  auto pass = server.RunControllerOnce();
  const double controller_ms = MsSince(t0);
  server.Stop();
  std::filesystem::remove_all(dir);
  if (!pass.ok()) return 1;
  std::printf("\ncontroller through ota-server (%d enrolled devices with facts)\n", a.fleet);
  // The first status call counts the fleet for the rollout's targeting once;
  // later ones read the kept counts.
  const double first_ms = status_ms.front();
  std::printf("  %-14s %-16s %-22s %-20s %s\n", "start ms", "first GET ms", "GET rollout ms (p50)",
              "controller pass ms", "targeted");
  std::printf("  %-14.1f %-16.1f %-22.1f %-20.1f %llu\n", start_ms, first_ms,
              Percentile(status_ms, 0.5), controller_ms, static_cast<unsigned long long>(targeted));
  return 0;
}

}  // namespace

// Appends to the server audit log, one transaction per record as operator
// actions do, without and with a signed checkpoint after every record.
int AuditAppendBench(const Args& a) {
  auto dir =
      std::filesystem::temp_directory_path() / ("report_bench_audit_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto db = ota::Database::Open((dir / "server.db").string(), ota::server::ServerMigrations());
  auto env = ota::MakePosixEnv();
  auto key = ota::verifier::GenerateEd25519Key(*env->env().random);
  if (!db.ok() || !key.ok() || !(*db)->Exec("PRAGMA synchronous=NORMAL;").ok()) {
    std::fprintf(stderr, "report_bench: cannot open the audit database\n");
    return 1;
  }
  std::printf("\nserver audit log appends (one transaction each, %d records)\n", a.audit_records);
  std::printf("  %-28s %-12s\n", "mode", "records/s");
  for (bool checkpoint : {false, true}) {
    const auto start = Clock::now();
    for (int i = 0; i < a.audit_records; ++i) {
      ota::server::ServerAuditRecord r{"rollout-action",
                                       "operator:bench",
                                       "chat-2",
                                       "chat",
                                       "",
                                       json{{"action", "pause"}, {"reason", "bench"}, {"i", i}}};
      ota::Status s = ota::InTransaction(**db, [&]() -> ota::Status {
        OTA_TRY(ota::server::AppendServerAuditStatus(**db, r, 1'800'000'000 + i));
        if (!checkpoint) return ota::Ok();
        auto c = ota::server::CheckpointServerLog(**db, *key, "2027-01-01T00:00:00Z");
        if (!c.ok()) return std::move(c).error();
        return ota::Ok();
      });
      if (!s.ok()) {
        std::fprintf(stderr, "report_bench: %s\n", s.error().ToString().c_str());
        return 1;
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("  %-28s %-12.0f\n", checkpoint ? "with a checkpoint each" : "without checkpoints",
                static_cast<double>(a.audit_records) / seconds);
  }
  db->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

// Enrolls a.enroll devices through POST /v1/devices (SQLite, one node) over
// a.connections keep-alive connections: what bringing a fleet of that size
// onto a server costs. Keys are made before the clock starts.
int EnrollBench(const Args& a) {
  if (a.enroll <= 0) return 0;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("report_bench_enroll_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "repo");
  ota::server::ServerOptions o;
  o.repo_dir = (dir / "repo").string();
  o.db_path = (dir / "server.db").string();
  o.port = 0;
  o.quiet = true;
  o.threads = a.threads;
  o.enroll_burst = a.enroll + 1.0;
  auto token = ota::server::CreateEnrollmentToken(o.db_path, {"bench", 0, 0});
  if (!token.ok()) return 1;
  const std::size_t n = static_cast<std::size_t>(a.enroll);
  std::vector<std::string> bodies(n);
  {
    std::vector<std::thread> makers;
    const unsigned parts = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned p = 0; p < parts; ++p) {
      makers.emplace_back([&, p] {
        auto env = ota::MakePosixEnv();
        for (std::size_t i = p; i < n; i += parts) {
          auto key = ota::verifier::GenerateEd25519Key(*env->env().random);
          if (!key.ok()) continue;
          bodies[i] = json{{"device_id", "dev-" + std::to_string(i)},
                           {"public_key", key->public_key.public_value}}
                          .dump();
        }
      });
    }
    for (auto& m : makers) m.join();
  }
  ota::server::Server server(o);
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "report_bench: %s\n", s.error().ToString().c_str());
    return 1;
  }
  std::vector<std::vector<std::string>> per_connection(static_cast<std::size_t>(a.connections));
  for (std::size_t i = 0; i < n; ++i) {
    per_connection[i % per_connection.size()].push_back(std::move(bodies[i]));
  }
  const PostRun run = PostAll({server.port()}, "/v1/devices",
                              {{"Authorization", "Bearer " + *token}}, per_connection, 201);
  server.Stop();
  std::error_code ec;
  const auto db_bytes = std::filesystem::file_size(dir / "server.db", ec);
  std::filesystem::remove_all(dir);
  std::printf("\nenrollment through ota-server (SQLite, %d connections)\n", a.connections);
  std::printf("  %-10s %-12s %-14s %-10s %-10s %-12s %s\n", "devices", "seconds", "enrollments/s",
              "p50 ms", "p99 ms", "db MiB", "failures");
  std::printf("  %-10d %-12.1f %-14.0f %-10.2f %-10.2f %-12.1f %d\n", a.enroll, run.seconds,
              static_cast<double>(a.enroll) / run.seconds, run.p50_ms, run.p99_ms,
              ec ? 0.0 : static_cast<double>(db_bytes) / (1 << 20), run.failures);
  return run.failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: report_bench [--devices N] [--reports N] [--connections N[,N...]] "
                 "[--threads N] [--fleet N] [--chained 0|1] [--audit-records N] "
                 "[--postgres 0|1] [--enroll N] [--repeat N]\n");
    return 2;
  }
  int rc = IngestBench(a);
  if (AuditAppendBench(a) != 0) rc = 1;
  ControllerBench(a);
  if (ServerControllerBench(a) != 0) rc = 1;
  if (EnrollBench(a) != 0) rc = 1;
  return rc;
}
