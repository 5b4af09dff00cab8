#include "state_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace ota::agent {

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Status ValidateServerUrl(const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "server URL must start with http:// or https:// (got \"" + url + "\")");
  }
  return Ok();
}

Result<std::unique_ptr<FolderLock>> FolderLock::Acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(ErrorCode::kIo, "cannot open lock file " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return MakeError(ErrorCode::kRetryLater,
                     "another agent is using this state folder (" + path + " is locked)");
  }
  return std::unique_ptr<FolderLock>(new FolderLock(fd));
}

FolderLock::~FolderLock() { ::close(fd_); }

Env WithFileSystem(Env env, FileSystem* fs) {
  env.fs = fs;
  return env;
}

}  // namespace ota::agent
