#include "ota/server_stub/rollout_publisher.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <vector>

#include "ota/common/filesystem.h"

extern char** environ;

namespace ota::server_stub {
namespace {

constexpr std::size_t kMaxStderrBytes = 4096;

class OtactlPublisher : public RolloutPublisher {
 public:
  explicit OtactlPublisher(OtactlPublisherOptions o) : o_(std::move(o)) {}

  Status Publish(const manifest::RolloutManifest& m) override {
    auto fs = MakePosixFileSystem();
    const std::string file = JoinPath(o_.work_dir, "rollout-" + m.model + ".json");
    OTA_TRY(WriteFileAtomic(*fs, file, manifest::SerializeRolloutManifest(m)));
    std::vector<std::string> args = {o_.otactl_path,    "publish",
                                     "--repo",          o_.repo_dir,
                                     "--role",          o_.role,
                                     "--key",           o_.rollouts_key,
                                     "--snapshot-key",  o_.snapshot_key,
                                     "--timestamp-key", o_.timestamp_key,
                                     "--file",          file,
                                     "--target",        manifest::RolloutTargetPath(m.model),
                                     "--replace"};
    Status s = Run(args);
    (void)fs->Remove(file);
    return s;
  }

 private:
  Status Run(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return MakeError(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (rc != 0) {
      ::close(pipe_fds[0]);
      return MakeError(ErrorCode::kIo, "cannot run " + args[0] + ": " + std::strerror(rc));
    }
    std::string err;
    const auto deadline = std::chrono::steady_clock::now() + o_.timeout;
    bool timed_out = false;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      pollfd p{pipe_fds[0], POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) continue;
      char buf[512];
      ssize_t got = ::read(pipe_fds[0], buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      if (err.size() < kMaxStderrBytes) err.append(buf, static_cast<std::size_t>(got));
    }
    ::close(pipe_fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return MakeError(ErrorCode::kRetryLater, "otactl publish timed out");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok();
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    return MakeError(ErrorCode::kIo, "otactl publish failed: " + err);
  }

  OtactlPublisherOptions o_;
};

}  // namespace

std::unique_ptr<RolloutPublisher> MakeOtactlPublisher(OtactlPublisherOptions options) {
  return std::make_unique<OtactlPublisher>(std::move(options));
}

}  // namespace ota::server_stub
