// ota-server: command line entry point of the reference server.
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a runtime
// error, 2 on a usage error, 70 on an internal error (ota/common/main_guard.h).
#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "ota/common/main_guard.h"
#include "ota/common/postgres.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/server/server.h"
#include "webhooks.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ota-server: %s\n", message.c_str());
  return code;
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsIpLiteral(const std::string& address) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

// CLI11 2.1 wraps "-5" into a huge unsigned value, so byte counts are read
// as text and checked here.
bool ParseCount(const std::string& text, std::uint64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

std::string UrlHost(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

// ota-server token create|revoke|list --db FILE [--name NAME --role ROLE
// --expires-in-days N]
int RunTokenCommand(int argc, char** argv) {
  std::string db_path = "ota-server.db";
  ota::server::OperatorTokenOptions options;
  options.role = "administrator";
  std::int64_t days = 90;
  CLI::App app{"ota-server token: manage operator bearer tokens"};
  app.require_subcommand(1);
  auto* create = app.add_subcommand("create", "Create a token and print it once");
  auto* revoke = app.add_subcommand("revoke", "Revoke the token with this name");
  auto* list = app.add_subcommand("list", "List operator tokens (never their secrets)");
  for (auto* cmd : {create, revoke, list}) {
    cmd->add_option("--db", db_path, "Fleet database: an SQLite file, or a postgresql:// URI")
        ->capture_default_str();
  }
  for (auto* cmd : {create, revoke}) {
    cmd->add_option("--name", options.name, "Token name (who holds it), [A-Za-z0-9._-]{1,64}")
        ->required();
  }
  create
      ->add_option("--role", options.role,
                   "viewer, release-manager, auditor or administrator (docs/security.md)")
      ->check(CLI::IsMember({"viewer", "release-manager", "auditor", "administrator"}))
      ->capture_default_str();
  create->add_option("--expires-in-days", days, "Days until the token stops working")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3650}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fail(kExitUsage, e.what());
  }
  if (create->parsed()) {
    options.expires_at = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() +
                         days * 86400;
    auto token = ota::server::CreateOperatorToken(db_path, options);
    if (!token.ok()) return Fail(kExitRuntime, token.error().message);
    std::printf("%s\n", token->c_str());
    return 0;
  }
  if (list->parsed()) {
    auto lines = ota::server::DescribeOperatorTokens(db_path);
    if (!lines.ok()) return Fail(kExitRuntime, lines.error().message);
    for (const std::string& line : *lines) std::printf("%s\n", line.c_str());
    return 0;
  }
  ota::Status s = ota::server::RevokeOperatorToken(db_path, options.name);
  if (!s.ok()) return Fail(kExitRuntime, s.error().message);
  std::printf("revoked token %s\n", options.name.c_str());
  return 0;
}

// ota-server enrollment-token create|revoke|list --db FILE [--name NAME ...]
int RunEnrollmentTokenCommand(int argc, char** argv) {
  std::string db_path = "ota-server.db";
  ota::server::EnrollmentTokenOptions options;
  std::string max_devices_text;
  std::string expires_days_text;
  CLI::App app{"ota-server enrollment-token: manage the tokens new devices enroll with"};
  app.require_subcommand(1);
  auto* create = app.add_subcommand("create", "Create an enrollment token and print it once");
  auto* revoke = app.add_subcommand("revoke", "Revoke the enrollment token with this name");
  auto* list = app.add_subcommand("list", "List enrollment tokens (never their secrets)");
  for (auto* cmd : {create, revoke, list}) {
    cmd->add_option("--db", db_path, "Fleet database: an SQLite file, or a postgresql:// URI")
        ->capture_default_str();
  }
  for (auto* cmd : {create, revoke}) {
    cmd->add_option("--name", options.name,
                    "Token name (which batch of devices), [A-Za-z0-9._-]{1,64}")
        ->required();
  }
  create->add_option("--max-devices", max_devices_text,
                     "Devices the token may enroll (default: no limit)");
  create->add_option("--expires-in-days", expires_days_text,
                     "Days until the token stops enrolling devices (default: never)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fail(kExitUsage, e.what());
  }
  if (list->parsed()) {
    auto lines = ota::server::DescribeEnrollmentTokens(db_path);
    if (!lines.ok()) return Fail(kExitRuntime, lines.error().message);
    for (const std::string& line : *lines) std::printf("%s\n", line.c_str());
    return 0;
  }
  if (revoke->parsed()) {
    ota::Status s = ota::server::RevokeEnrollmentToken(db_path, options.name);
    if (!s.ok()) return Fail(kExitRuntime, s.error().message);
    std::printf("revoked enrollment token %s\n", options.name.c_str());
    return 0;
  }
  if (!max_devices_text.empty() &&
      (!ParseCount(max_devices_text, options.max_devices) || options.max_devices == 0 ||
       options.max_devices > 1'000'000'000'000)) {
    return Fail(kExitUsage, "--max-devices: not a positive count: " + max_devices_text);
  }
  if (!expires_days_text.empty()) {
    std::uint64_t days = 0;
    if (!ParseCount(expires_days_text, days) || days == 0 || days > 36500) {
      return Fail(kExitUsage,
                  "--expires-in-days: not a number of days from 1 to 36500: " + expires_days_text);
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    options.expires_at = now + static_cast<std::int64_t>(days) * 86400;
  }
  auto token = ota::server::CreateEnrollmentToken(db_path, options);
  if (!token.ok()) return Fail(kExitRuntime, token.error().message);
  std::printf("%s\n", token->c_str());
  return 0;
}

// ota-server audit prune: the part after the shared options.
int RunAuditPrune(const std::string& db_path, const std::string& key_path,
                  const std::string& before_text, const std::string& before_time_text) {
  if (before_text.empty() && before_time_text.empty()) {
    return Fail(kExitUsage, "audit prune: give --before SEQ, --before-time TIME or both");
  }
  std::uint64_t before = static_cast<std::uint64_t>(INT64_MAX);
  if (!before_text.empty() &&
      (!ParseCount(before_text, before) || before < 2 || before > 1'000'000'000'000'000)) {
    return Fail(kExitUsage, "--before: not a record number of 2 or more: " + before_text);
  }
  std::optional<std::int64_t> before_time;
  if (!before_time_text.empty()) {
    auto t = ota::manifest::ParseExpires(before_time_text);
    if (!t.ok()) {
      return Fail(kExitUsage,
                  "--before-time: not an RFC 3339 UTC time (like "
                  "2026-01-01T00:00:00Z): " +
                      before_time_text);
    }
    before_time = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
  }
  auto result = ota::server::PruneServerAuditLog(db_path, key_path,
                                                 static_cast<std::int64_t>(before), before_time);
  if (!result.ok()) return Fail(kExitRuntime, "server audit log: " + result.error().message);
  std::printf("%s\n", result->c_str());
  return 0;
}

// ota-server audit-key --db FILE [--audit-key PATH]: prints the audit
// public key. ota-server audit verify --db FILE [--audit-key PATH]: checks
// the stored server audit log. ota-server audit prune ... --before SEQ
// [--before-time TIME]: prunes it behind a signed checkpoint.
int RunAuditCommand(int argc, char** argv, bool key_only) {
  std::string db_path = "ota-server.db";
  std::string key_path;
  std::string before_text;
  std::string before_time_text;
  CLI::App app{key_only ? "ota-server audit-key: print the server's audit public key (TUF key JSON)"
                        : "ota-server audit: the server audit log"};
  std::vector<CLI::App*> targets = {&app};
  CLI::App* prune = nullptr;
  if (!key_only) {
    app.require_subcommand(1);
    targets = {app.add_subcommand(
                   "verify", "Check every record, link and signed checkpoint of the stored log"),
               prune = app.add_subcommand(
                   "prune", "Remove old records behind a signed checkpoint, leaving a summary")};
    prune->add_option("--before", before_text,
                      "Keep record SEQ and later (prunes up to the newest checkpoint before it)");
    prune->add_option("--before-time", before_time_text,
                      "Keep records dated at or after TIME (RFC 3339 UTC)");
  }
  for (CLI::App* target : targets) {
    target->add_option("--db", db_path, "Fleet database: an SQLite file, or a postgresql:// URI")
        ->capture_default_str();
    target->add_option("--audit-key", key_path, "Audit key file (default: <db>.audit-key)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fail(kExitUsage, e.what());
  }
  if (key_path.empty()) {
    if (ota::IsPostgresUri(db_path)) {
      std::cerr << "ota-server audit: with a postgresql:// database, --audit-key is required\n";
      return 2;
    }
    key_path = db_path + ".audit-key";
  }
  if (key_only) {
    auto text = ota::server::AuditPublicKeyJson(key_path);
    if (!text.ok())
      return Fail(kExitRuntime, "audit key " + key_path + ": " + text.error().message);
    std::printf("%s", text->c_str());
    return 0;
  }
  if (prune->parsed()) return RunAuditPrune(db_path, key_path, before_text, before_time_text);
  auto result = ota::server::VerifyServerAuditLog(db_path, key_path);
  if (!result.ok()) return Fail(kExitRuntime, "server audit log: " + result.error().message);
  std::printf("server audit log intact: %s\n", result->c_str());
  return 0;
}

// Reads --webhook-secret-file for --webhook; 0, or the exit code after the
// message.
int LoadWebhookSecret(const std::string& path, ota::server::ServerOptions& options) {
  if (options.webhook_urls.empty() && path.empty()) return 0;
  if (path.empty()) return Fail(kExitUsage, "--webhook needs --webhook-secret-file");
  if (options.webhook_urls.empty())
    return Fail(kExitUsage, "--webhook-secret-file needs --webhook");
  auto fs = ota::MakePosixFileSystem();
  auto secret = fs->ReadFile(path, 4096);
  if (!secret.ok()) return Fail(kExitUsage, "--webhook-secret-file: " + secret.error().message);
  while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
    secret->pop_back();
  }
  if (secret->size() < ota::server::kWebhookMinSecretBytes) {
    return Fail(kExitUsage, "--webhook-secret-file: the secret must be at least 16 bytes");
  }
  options.webhook_secret = std::move(*secret);
  options.webhook_interval = std::chrono::seconds(1);
  return 0;
}

int ServerMain(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "token") return RunTokenCommand(argc - 1, argv + 1);
  if (argc > 1 && std::string(argv[1]) == "audit-key") {
    return RunAuditCommand(argc - 1, argv + 1, /*key_only=*/true);
  }
  if (argc > 1 && std::string(argv[1]) == "audit") {
    return RunAuditCommand(argc - 1, argv + 1, /*key_only=*/false);
  }
  if (argc > 1 && std::string(argv[1]) == "enrollment-token") {
    return RunEnrollmentTokenCommand(argc - 1, argv + 1);
  }
  ota::server::ServerOptions options;
  std::string port_file;
  std::string drop_after_text;
  std::string drop_count_text;
  CLI::App app{"ota-server: serves a ModelOTA repository and collects device event reports"};
  app.add_option("--repo", options.repo_dir, "Repository folder, served under /repo/")->required();
  app.add_option("--listen", options.listen_address, "IPv4 or IPv6 address to listen on")
      ->capture_default_str();
  app.add_option("--port", options.port, "TCP port; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--db", options.db_path,
                 "Fleet database: an SQLite file (one node), or a postgresql:// URI shared by "
                 "any number of nodes")
      ->capture_default_str();
  app.add_option("--port-file", port_file,
                 "After binding, write the port number to this file (atomically)");
  app.add_option("--threads", options.threads, "Worker threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  auto* drop_after = app.add_option(
      "--fault-drop-after", drop_after_text,
      "Fault injection: close the connection after this many body bytes of a target download");
  auto* drop_count = app.add_option(
      "--fault-drop-count", drop_count_text,
      "Fault injection: how many target downloads to cut (default 1 with --fault-drop-after)");
  std::string extra_bytes_text;
  std::string extra_count_text;
  auto* extra_bytes =
      app.add_option("--fault-extra-bytes", extra_bytes_text,
                     "Fault injection: append this many filler bytes to a target download's body");
  auto* extra_count =
      app.add_option("--fault-extra-count", extra_count_text,
                     "Fault injection: how many target downloads to lengthen (default 1 with "
                     "--fault-extra-bytes)");
  app.add_flag("--quiet", options.quiet, "No per-request log lines on stderr");
  int head_timeout_seconds = 10;
  app.add_option("--head-timeout", head_timeout_seconds,
                 "Seconds a connection has to send its whole request head (then 408)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--max-waiting-per-client", options.max_waiting_per_client,
                 "Connections one client address may have waiting for their request head")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--enroll-burst", options.enroll_burst,
                 "Enrollment requests one client address may make at once")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--enroll-rate", options.enroll_per_second,
                 "Enrollment requests per second one client address regains")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  ota::server::RepoPublisherOptions publish;
  int controller_seconds = 30;
  auto* rollouts_key =
      app.add_option("--rollouts-key", publish.rollouts_key,
                     "Private key of the delegated rollouts role: enables rollout changes");
  app.add_option("--snapshot-key", publish.snapshot_key, "Private key of the snapshot role");
  app.add_option("--timestamp-key", publish.timestamp_key, "Private key of the timestamp role");
  app.add_option("--publish-hook", publish.publish_hook,
                 "Executable run as HOOK REPO_DIR RELATIVE_PATH for each file a rollout change "
                 "writes, in write order (targets first, timestamp last), e.g. to copy it to a CDN "
                 "origin; a failure fails the change");
  app.add_option("--audit-key", options.audit_key_path,
                 "Server audit key (Ed25519; created at first start; default: <db>.audit-key)");
  int retain_event_days = 0;
  app.add_option("--retain-events-days", retain_event_days,
                 "Remove device events received more than this many days ago (0: keep all)")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
  app.add_option("--drills-dir", options.drills_dir,
                 "Folder of drill reports (one sub-folder per `otactl drill run --out`) served "
                 "by GET /v1/drills and the console")
      ->check(CLI::ExistingDirectory);
  std::string webhook_secret_file;
  app.add_option("--webhook", options.webhook_urls,
                 "URL told about rollout pauses, halts and rollback orders (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--webhook-secret-file", webhook_secret_file,
                 "File holding the secret (16 bytes or more) webhook messages are signed with")
      ->check(CLI::ExistingFile);
  int checkpoint_seconds = 300;
  app.add_option("--audit-checkpoint-interval", checkpoint_seconds,
                 "Seconds between signed checkpoints of the server audit log (when it moved)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--controller-interval", controller_seconds,
                 "Seconds between rollout controller passes (0: off)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    return Fail(kExitUsage, e.what());
  }
  if (!IsDirectory(options.repo_dir)) {
    return Fail(kExitUsage, "--repo: not a folder: " + options.repo_dir);
  }
  if (!IsIpLiteral(options.listen_address)) {
    return Fail(kExitUsage, "--listen: not an IPv4 or IPv6 address: " + options.listen_address);
  }
  if (drop_count->count() > 0 && drop_after->count() == 0) {
    return Fail(kExitUsage, "--fault-drop-count needs --fault-drop-after");
  }
  if (drop_after->count() > 0) {
    if (!ParseCount(drop_after_text, options.fault_drop_after_bytes)) {
      return Fail(kExitUsage, "--fault-drop-after: not a byte count: " + drop_after_text);
    }
    options.fault_drop_count = 1;
    if (drop_count->count() > 0 &&
        (!ParseCount(drop_count_text, options.fault_drop_count) || options.fault_drop_count == 0)) {
      return Fail(kExitUsage, "--fault-drop-count: not a positive count: " + drop_count_text);
    }
  }
  if (extra_count->count() > 0 && extra_bytes->count() == 0) {
    return Fail(kExitUsage, "--fault-extra-count needs --fault-extra-bytes");
  }
  if (extra_bytes->count() > 0) {
    if (!ParseCount(extra_bytes_text, options.fault_extra_bytes) ||
        options.fault_extra_bytes == 0) {
      return Fail(kExitUsage,
                  "--fault-extra-bytes: not a positive byte count: " + extra_bytes_text);
    }
    options.fault_extra_count = 1;
    if (extra_count->count() > 0 && (!ParseCount(extra_count_text, options.fault_extra_count) ||
                                     options.fault_extra_count == 0)) {
      return Fail(kExitUsage, "--fault-extra-count: not a positive count: " + extra_count_text);
    }
  }
  if (int rc = LoadWebhookSecret(webhook_secret_file, options); rc != 0) return rc;
  if (options.quiet) ota::SetLogLevel(ota::LogLevel::kWarning);
  std::unique_ptr<ota::server::RolloutPublisher> publisher;
  if (rollouts_key->count() > 0) {
    if (publish.snapshot_key.empty() || publish.timestamp_key.empty()) {
      return Fail(kExitUsage, "--rollouts-key needs --snapshot-key and --timestamp-key");
    }
    publish.repo_dir = options.repo_dir;
    publish.work_dir = options.db_path + ".publish";
    if (::mkdir(publish.work_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Fail(kExitRuntime, "cannot create " + publish.work_dir);
    }
    auto made = ota::server::MakeRepoPublisher(publish);
    if (!made.ok()) return Fail(kExitUsage, "rollout signing keys: " + made.error().message);
    publisher = std::move(made).value();
    options.publisher = publisher.get();
  }
  options.controller_interval = std::chrono::seconds(controller_seconds);
  options.audit_checkpoint_interval = std::chrono::seconds(checkpoint_seconds);
  options.event_retention = std::chrono::hours(24) * retain_event_days;
  options.audit_maintenance_interval = std::chrono::seconds(1);
  options.request_head_timeout = std::chrono::seconds(head_timeout_seconds);

  // Block the stop signals before any thread exists so that every thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ota::server::Server server(options);
  ota::Status started = server.Start();
  if (!started.ok()) return Fail(kExitRuntime, started.error().ToString());

  if (!port_file.empty()) {
    auto fs = ota::MakePosixFileSystem();
    ota::Status written =
        ota::WriteFileAtomic(*fs, port_file, std::to_string(server.port()) + "\n");
    if (!written.ok()) {
      server.Stop();
      return Fail(kExitRuntime, "--port-file: " + written.error().ToString());
    }
  }
  std::printf("ota-server listening on http://%s:%d\n", UrlHost(options.listen_address).c_str(),
              server.port());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  ota::Log(ota::LogLevel::kInfo, "ota-server",
           signal_number == SIGINT ? "SIGINT: stopping" : "SIGTERM: stopping");
  server.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ota::RunGuardedMain("ota-server", [&] { return ServerMain(argc, argv); });
}
