// Runs the real ota-server executable: startup contract, SIGTERM, usage errors.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "events.h"
#include "ota/common/sqlite.h"
#include "test_support.h"

extern char** environ;

namespace ota::server {
namespace {

// A child process with its stdout and stderr on pipes.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    args.insert(args.begin(), ota::testing::BinaryPath("ota-server"));
    int out[2];
    int err[2];
    if (pipe(out) != 0 || pipe(err) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      ADD_FAILURE() << "cannot start " << args[0];
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    stdout_ = fdopen(out[0], "r");
    stderr_ = fdopen(err[0], "r");
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ != nullptr) fclose(stdout_);
    if (stderr_ != nullptr) fclose(stderr_);
  }

  // Blocks until the child writes a line (or closes stdout).
  std::string ReadStdoutLine() { return ReadLine(stdout_); }
  std::string ReadAllStderr() {
    std::string all;
    for (std::string line; !(line = ReadLine(stderr_)).empty();) all += line;
    return all;
  }

  void Signal(int sig) { kill(pid_, sig); }

  // Waits for exit; returns the exit code, or -1 if killed by a signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  static std::string ReadLine(FILE* f) {
    char buf[4096];
    if (f == nullptr || fgets(buf, sizeof(buf), f) == nullptr) return "";
    return buf;
  }

  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  FILE* stderr_ = nullptr;
};

TEST(ServerBinaryTest, WritesPortFileServesAndExitsCleanlyOnSigterm) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  const std::string port_file = tmp.Sub("port");
  Child child({"--repo", tmp.Sub("repo"), "--port", "0", "--port-file", port_file, "--db",
               tmp.Sub("server.db"), "--quiet"});
  // The banner comes after the port file is in place, so no polling is needed.
  const std::string banner = child.ReadStdoutLine();
  ASSERT_TRUE(banner.starts_with("ota-server listening on http://127.0.0.1:")) << banner;
  const std::string port_text = ota::testing::ReadTestFile(port_file);
  ASSERT_FALSE(port_text.empty());
  const int port = std::stoi(port_text);
  EXPECT_EQ(banner, "ota-server listening on http://127.0.0.1:" + std::to_string(port) + "\n");

  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto file = client.Get("/repo/root.json");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->body, "{}");

  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0);
}

TEST(ServerBinaryTest, CreatesItsAuditKeyAndChecksItsLog) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  const std::string db = tmp.Sub("server.db");
  {
    Child token({"token", "create", "--db", db, "--name", "alice"});
    EXPECT_EQ(token.Wait(), 0);
  }
  {
    Child child({"--repo", tmp.Sub("repo"), "--port", "0", "--port-file", tmp.Sub("port"), "--db",
                 db, "--quiet"});
    ASSERT_TRUE(child.ReadStdoutLine().starts_with("ota-server listening"));
    const int port = std::stoi(ota::testing::ReadTestFile(tmp.Sub("port")));
    struct stat st {};
    ASSERT_EQ(::stat((db + ".audit-key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    httplib::Client client("127.0.0.1", port);
    auto served = client.Get("/v1/audit/key");
    ASSERT_TRUE(served);
    EXPECT_EQ(served->status, 200);
    Child key({"audit-key", "--db", db});
    EXPECT_EQ(key.ReadStdoutLine(), served->body.substr(0, served->body.find('\n') + 1));
    EXPECT_EQ(key.Wait(), 0);
    child.Signal(SIGTERM);
    EXPECT_EQ(child.Wait(), 0);
  }
  {
    Child verify({"audit", "verify", "--db", db});
    EXPECT_TRUE(
        verify.ReadStdoutLine().starts_with("server audit log intact: 1 records and 1 "
                                            "signed checkpoints verified"));
    EXPECT_EQ(verify.Wait(), 0);
  }
  {
    auto opened = Database::Open(db, ServerMigrations());
    ASSERT_OK(opened);
    ASSERT_OK((*opened)->Exec("UPDATE audit_log SET body = replace(body, 'alice', 'mallory')"));
  }
  Child verify({"audit", "verify", "--db", db});
  EXPECT_EQ(verify.ReadAllStderr(),
            "ota-server: server audit log: record #1: its link does not match its body and the "
            "record before it (edited, inserted or reordered)\n");
  EXPECT_EQ(verify.Wait(), 1);
}

TEST(ServerBinaryTest, MakesTokensWithARoleAndAnExpiry) {
  ota::testing::TempDir tmp;
  const std::string db = tmp.Sub("server.db");
  {
    Child token({"token", "create", "--db", db, "--name", "vera", "--role", "viewer",
                 "--expires-in-days", "5"});
    EXPECT_TRUE(token.ReadStdoutLine().starts_with("ota_"));
    EXPECT_EQ(token.Wait(), 0);
  }
  {
    Child token({"token", "create", "--db", db, "--name", "adam"});
    EXPECT_EQ(token.Wait(), 0);
  }
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--role", "root"},
                                              {"--expires-in-days", "0"},
                                              {"--expires-in-days", "3651"}}) {
    std::vector<std::string> argv = {"token", "create", "--db", db, "--name", "x"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    Child token(argv);
    EXPECT_NE(token.ReadAllStderr(), "");
    EXPECT_EQ(token.Wait(), 2) << bad[0] << " " << bad[1];
  }
  Child list({"token", "list", "--db", db});
  const std::string adam = list.ReadStdoutLine();
  const std::string vera = list.ReadStdoutLine();
  EXPECT_TRUE(adam.starts_with("adam role administrator created-by server-admin expires 20"))
      << adam;
  EXPECT_TRUE(vera.starts_with("vera role viewer created-by server-admin expires 20")) << vera;
  EXPECT_EQ(list.ReadStdoutLine(), "");
  EXPECT_EQ(list.Wait(), 0);
}

TEST(ServerBinaryTest, WebhooksNeedASecretFileOfSixteenBytes) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  ota::testing::WriteTestFile(tmp.Sub("short"), "too-short\n");
  const std::vector<std::string> base = {"--repo", tmp.Sub("repo"),      "--port", "0",
                                         "--db",   tmp.Sub("server.db"), "--quiet"};
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"--webhook", "http://127.0.0.1:9/hook"},
       "ota-server: --webhook needs --webhook-secret-file\n"},
      {{"--webhook", "http://127.0.0.1:9/hook", "--webhook-secret-file", tmp.Sub("short")},
       "ota-server: --webhook-secret-file: the secret must be at least 16 bytes\n"},
      {{"--webhook-secret-file", tmp.Sub("short")},
       "ota-server: --webhook-secret-file needs --webhook\n"}};
  for (const auto& [extra, message] : refused) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    Child child(argv);
    EXPECT_EQ(child.ReadAllStderr(), message);
    EXPECT_EQ(child.Wait(), 2);
  }
}

TEST(ServerBinaryTest, PrunesItsLogFromTheCommandLine) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  const std::string db = tmp.Sub("server.db");
  {
    Child token({"token", "create", "--db", db, "--name", "alice"});
    EXPECT_EQ(token.Wait(), 0);
  }
  {
    Child child({"--repo", tmp.Sub("repo"), "--port", "0", "--db", db, "--quiet"});
    ASSERT_TRUE(child.ReadStdoutLine().starts_with("ota-server listening"));
    child.Signal(SIGTERM);  // Signs a checkpoint at record #1.
    EXPECT_EQ(child.Wait(), 0);
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{}, "ota-server: audit prune: give --before SEQ, --before-time TIME or both\n"},
      {{"--before", "1"}, "ota-server: --before: not a record number of 2 or more: 1\n"},
      {{"--before-time", "yesterday"},
       "ota-server: --before-time: not an RFC 3339 UTC time (like 2026-01-01T00:00:00Z): "
       "yesterday\n"}};
  for (const auto& [args, message] : refused) {
    std::vector<std::string> argv = {"audit", "prune", "--db", db};
    argv.insert(argv.end(), args.begin(), args.end());
    Child prune(argv);
    EXPECT_EQ(prune.ReadAllStderr(), message);
    EXPECT_EQ(prune.Wait(), 2);
  }
  {
    Child early({"audit", "prune", "--db", db, "--before-time", "2020-01-01T00:00:00Z"});
    EXPECT_NE(early.ReadAllStderr().find("nothing to prune"), std::string::npos);
    EXPECT_EQ(early.Wait(), 1);
  }
  {
    Child prune({"audit", "prune", "--db", db, "--before", "2"});
    EXPECT_TRUE(prune.ReadStdoutLine().starts_with("pruned records #1 to #1 (1 records)"));
    EXPECT_EQ(prune.Wait(), 0);
  }
  Child verify({"audit", "verify", "--db", db});
  EXPECT_TRUE(verify.ReadStdoutLine().starts_with("server audit log intact: 1 records"));
  EXPECT_EQ(verify.Wait(), 0);
}

TEST(ServerBinaryTest, LogsOneLinePerRequest) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{\"a\":1}");
  Child child({"--repo", tmp.Sub("repo"), "--port", "0", "--db", tmp.Sub("server.db")});
  const std::string banner = child.ReadStdoutLine();
  const int port = std::stoi(banner.substr(banner.rfind(':') + 1));
  httplib::Client client("127.0.0.1", port);
  ASSERT_TRUE(client.Get("/repo/root.json"));
  child.Signal(SIGINT);
  EXPECT_EQ(child.Wait(), 0);
  const std::string log = child.ReadAllStderr();
  EXPECT_TRUE(std::regex_search(log, std::regex("(^|\n)GET /repo/root.json 200 7 [0-9.]+ms\n")))
      << log;
}

struct UsageCase {
  std::vector<std::string> args;
};

class ServerUsageTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(ServerUsageTest, ExitsWithCode2AndOneLine) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  std::vector<std::string> args;
  for (std::string a : GetParam().args) {
    if (a.starts_with("REPO")) a = tmp.Sub("repo") + a.substr(4);
    args.push_back(a);
  }
  Child child(args);
  const std::string err = child.ReadAllStderr();
  EXPECT_EQ(child.Wait(), 2);
  EXPECT_TRUE(err.starts_with("ota-server: ")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

INSTANTIATE_TEST_SUITE_P(
    BadArguments, ServerUsageTest,
    ::testing::Values(
        UsageCase{{}}, UsageCase{{"--repo", "/nonexistent/ota-repo"}},
        UsageCase{{"--repo", "REPO", "--port", "70000"}},
        UsageCase{{"--repo", "REPO", "--port", "-1"}},
        UsageCase{{"--repo", "REPO", "--threads", "0"}},
        UsageCase{{"--repo", "REPO", "--listen", "not-an-address"}},
        UsageCase{{"--repo", "REPO", "--fault-drop-count", "3"}},
        UsageCase{{"--repo", "REPO", "--fault-drop-after", "-5"}},
        UsageCase{{"--repo", "REPO", "--fault-drop-after", "99999999999999999999"}},
        UsageCase{{"--repo", "REPO", "--fault-drop-after", "1", "--fault-drop-count", "0"}},
        UsageCase{{"--repo", "REPO", "--bogus"}},
        UsageCase{{"--repo", "REPO", "--drills-dir", "/nonexistent/drills"}},
        UsageCase{{"--repo", "REPO", "--drills-dir", "REPO/root.json"}},
        // Rollout signing keys are read at start: missing or
        // not a key stops the server before it listens.
        UsageCase{{"--repo", "REPO", "--rollouts-key", "/nonexistent/r.key", "--snapshot-key",
                   "/nonexistent/s.key", "--timestamp-key", "/nonexistent/t.key"}},
        UsageCase{{"--repo", "REPO", "--rollouts-key", "REPO/root.json", "--snapshot-key",
                   "REPO/root.json", "--timestamp-key", "REPO/root.json"}},
        UsageCase{{"--repo", "REPO", "--otactl", "otactl"}}));

}  // namespace
}  // namespace ota::server
