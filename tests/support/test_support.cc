#include "test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace ota::testing {

TempDir::TempDir() : TempDir(std::filesystem::temp_directory_path().string()) {}

TempDir::TempDir(const std::string& parent) {
  std::string base = parent + "/ota-test-XXXXXX";
  char* made = mkdtemp(base.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  path_ = base;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ManualClock::ManualClock(std::chrono::system_clock::time_point start)
    : now_(start), mono_(std::chrono::steady_clock::time_point(std::chrono::hours(1))) {}

std::string FleetParentDir() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  return std::filesystem::temp_directory_path().string();
}

void WriteTestFile(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BinaryPath(const std::string& target_name) {
  for (const char* dir : {"/tools/", "/tools/tuf_client/", "/server/", "/agent/", "/"}) {
    std::string p = std::string(OTA_BINARY_DIR) + dir + target_name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  ADD_FAILURE() << "binary not built: " << target_name;
  return target_name;
}

CommandResult RunOtactl(std::vector<std::string> args, int expected_exit) {
  args.insert(args.begin(), BinaryPath("otactl"));
  CommandResult r = RunCommand(args);
  EXPECT_EQ(r.exit_code, expected_exit) << args[1] << ": " << r.err;
  return r;
}

std::string CreateServerToken(const std::string& db_path, const std::string& kind,
                              const std::string& name) {
  CommandResult r =
      RunCommand({BinaryPath("ota-server"), kind, "create", "--db", db_path, "--name", name});
  EXPECT_EQ(r.exit_code, 0) << kind << " create: " << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

void InitSignedRepository(const TempDir& dir, const std::vector<std::string>& extra_roles,
                          bool consistent_snapshot) {
  auto key = [&](const std::string& role) { return dir.Sub("keys/" + role + ".key"); };
  std::vector<std::string> roles = {"root", "targets", "snapshot", "timestamp"};
  roles.insert(roles.end(), extra_roles.begin(), extra_roles.end());
  for (const std::string& role : roles) RunOtactl({"keygen", "--out", key(role)});
  std::vector<std::string> init = {
      "repo",           "init",          "--repo",          dir.Sub("repo"),
      "--root-key",     key("root"),     "--targets-key",   key("targets"),
      "--snapshot-key", key("snapshot"), "--timestamp-key", key("timestamp")};
  if (consistent_snapshot) init.push_back("--consistent-snapshot");
  RunOtactl(init);
  WriteTestFile(dir.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n");
}

namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string DrainFd(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return out;
}

// The raw wait status of `pid`, or nullopt if it cannot be reaped.
std::optional<int> WaitStatus(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  return status;
}

int WaitExit(int pid) {
  const std::optional<int> status = WaitStatus(pid);
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  // stderr goes to a temp file so a chatty child can never dead-lock on a
  // full pipe while we read stdout.
  TempDir tmp;
  const std::string err_path = tmp.Sub("stderr");
  int out_pipe[2];
  // Close-on-exec: a child started meanwhile by another thread must not hold
  // this pipe open (the dup2 onto stdout is not close-on-exec).
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  auto args = Argv(argv);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    ADD_FAILURE() << "cannot start " << argv[0];
    return result;
  }
  result.out = DrainFd(out_pipe[0]);
  close(out_pipe[0]);
  if (const std::optional<int> status = WaitStatus(pid)) {
    if (WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    if (WIFSIGNALED(*status)) result.term_signal = WTERMSIG(*status);
  }
  result.err = ReadTestFile(err_path);
  return result;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop();
}

std::string ChildProcess::Start(const std::vector<std::string>& argv) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  auto args = Argv(argv);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    return "";
  }
  pid_ = pid;
  stdout_fd_ = out_pipe[0];
  return ReadLine();
}

std::string ChildProcess::ReadLine() {
  std::string line;
  char c;
  while (stdout_fd_ >= 0) {
    ssize_t n = read(stdout_fd_, &c, 1);
    if (n == 1) {
      if (c == '\n') break;
      line.push_back(c);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return line;
}

int ChildProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  return code;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit(pid_);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

std::vector<std::uint8_t> PseudoBytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::uint8_t> out(n);
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return out;
}

}  // namespace ota::testing
