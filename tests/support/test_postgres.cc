#include "test_postgres.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "ota/common/postgres.h"
#include "test_support.h"

namespace ota::testing {
namespace {

constexpr char kSocketPort[] = "5432";  // Names the socket file only.

// The newest installed server's bin folder (/usr/lib/postgresql/N/bin).
std::string PostgresBinDir() {
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best_version && std::filesystem::exists(entry.path() / "bin" / "initdb", ec)) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  return best;
}

// Runs `argv` (as user `postgres` when root) with output to `log`; true on
// exit status 0.
bool RunAsOwner(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const passwd* pw = geteuid() == 0 ? getpwnam("postgres") : nullptr;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (pw != nullptr) {
      if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        _exit(126);
      }
    }
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Error Failed(const std::string& what, const std::string& log) {
  std::string tail = ReadTestFile(log);
  if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
  return MakeError(ErrorCode::kIo, what + " failed; its output:\n" + tail);
}

// The cluster this process started, stopped at exit.
struct OwnCluster {
  std::string dir;
  std::string uri;
  ~OwnCluster() {
    if (dir.empty()) return;
    StopPostgresCluster(dir);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

Result<std::string> StartPostgresCluster(const std::string& dir, bool durable) {
  const std::string bin = PostgresBinDir();
  if (bin.empty()) {
    return MakeError(ErrorCode::kNotFound,
                     "no PostgreSQL server under /usr/lib/postgresql (scripts/setup installs it)");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return MakeError(ErrorCode::kNotFound, "running as root and there is no user postgres");
    }
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return MakeError(ErrorCode::kIo, "cannot hand " + dir + " to user postgres");
    }
  }
  chmod(dir.c_str(), 0700);
  const std::string data = dir + "/data";
  const std::string log = dir + "/log.txt";
  if (!RunAsOwner({bin + "/initdb", "-D", data, "-U", "ota", "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"},
                  log)) {
    return Failed("initdb", log);
  }
  std::string options = "-k " + dir + " -c listen_addresses= -p " + kSocketPort +
                        " -c max_connections=200 -c shared_buffers=64MB";
  if (!durable) options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  if (!RunAsOwner({bin + "/pg_ctl", "-D", data, "-o", options, "-l", dir + "/server.log", "-w",
                   "-t", "60", "start"},
                  log)) {
    return Failed("pg_ctl start", dir + "/server.log");
  }
  return "postgresql://ota@/postgres?host=" + dir + "&port=" + kSocketPort;
}

void StopPostgresCluster(const std::string& dir) {
  const std::string bin = PostgresBinDir();
  if (bin.empty() || !std::filesystem::exists(dir + "/data/postmaster.pid")) return;
  (void)RunAsOwner({bin + "/pg_ctl", "-D", dir + "/data", "-m", "immediate", "-w", "stop"},
                   dir + "/log.txt");
}

Result<std::string> NewPostgresDatabase() {
  static std::mutex mu;
  static std::unique_ptr<OwnCluster> own;
  static std::atomic<int> counter{0};
  std::string admin;
  {
    std::lock_guard lock(mu);
    if (const char* v = std::getenv("OTA_TEST_FLEET_DB"); v != nullptr && IsPostgresUri(v)) {
      admin = v;
    } else {
      if (!own) {
        char tmpl[] = "/tmp/otapg-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return MakeError(ErrorCode::kIo, "mkdtemp failed");
        auto cluster = std::make_unique<OwnCluster>();
        cluster->dir = tmpl;
        auto uri = StartPostgresCluster(cluster->dir);
        if (!uri.ok()) return uri.error();
        cluster->uri = *uri;
        own = std::move(cluster);
      }
      admin = own->uri;
    }
  }
  OTA_ASSIGN_OR_RETURN(auto db, OpenPostgres(admin, {}));
  const std::string name =
      "t" + std::to_string(getpid()) + "_" + std::to_string(counter.fetch_add(1));
  OTA_TRY(db->Exec("CREATE DATABASE " + name));
  const std::size_t slash = admin.find("/postgres?");
  if (slash == std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "OTA_TEST_FLEET_DB must name the database \"postgres\" with ?host=...");
  }
  return admin.substr(0, slash) + "/" + name + admin.substr(slash + 9);
}

bool FleetTestsOnPostgres() {
  const char* v = std::getenv("OTA_TEST_FLEET_DB");
  return v != nullptr && (std::string(v) == "postgres" || IsPostgresUri(v));
}

std::string FleetDbForTest(const TempDir& dir) {
  if (!FleetTestsOnPostgres()) return dir.Sub("server.db");
  auto uri = NewPostgresDatabase();
  EXPECT_TRUE(uri.ok()) << uri.error().message;
  return uri.ok() ? *uri : dir.Sub("server.db");
}

}  // namespace ota::testing
