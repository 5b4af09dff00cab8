#include "ota/repo/publish_hook.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace ota::repo {

Status RunPublishHook(const std::string& hook, const std::string& repo_dir,
                      const std::vector<std::string>& placed) {
  if (hook.empty()) return Ok();
  const std::string prefix = repo_dir.ends_with('/') ? repo_dir : repo_dir + "/";
  for (const std::string& path : placed) {
    if (!path.starts_with(prefix)) continue;  // A work file, not the repository's.
    std::string relative = path.substr(prefix.size());
    // Changes staged for offline signing are not for readers.
    if (relative.starts_with("metadata/staged/")) continue;
    std::string dir = repo_dir;
    std::string program = hook;
    char* argv[] = {program.data(), dir.data(), relative.data(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, hook.c_str(), nullptr, nullptr, argv, environ);
    if (rc != 0) {
      return MakeError(ErrorCode::kIo,
                       "cannot run the publish hook " + hook + ": " + std::strerror(rc));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return MakeError(ErrorCode::kIo, "lost the publish hook process");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      const std::string how = WIFEXITED(status)
                                  ? "exited with " + std::to_string(WEXITSTATUS(status))
                                  : "was killed by signal " + std::to_string(WTERMSIG(status));
      return MakeError(ErrorCode::kIo, "the publish hook " + how + " for " + relative);
    }
  }
  return Ok();
}

}  // namespace ota::repo
