#include "state_folder.h"

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

Result<std::unique_ptr<FolderLock>> FolderLock::Acquire(Platform& platform,
                                                        const std::string& path) {
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, platform.OpenLock(path, true, 0600));
  OTA_ASSIGN_OR_RETURN(bool taken, lock->TryExclusive());
  if (!taken) {
    return MakeError(ErrorCode::kRetryLater,
                     "another agent is using this state folder (" + path + " is locked)");
  }
  return std::unique_ptr<FolderLock>(new FolderLock(std::move(lock)));
}

Env WithFileSystem(Env env, FileSystem* fs) {
  env.fs = fs;
  return env;
}

}  // namespace ota::agent
