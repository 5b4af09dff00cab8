// The state folder's fixed names and the helpers that open it: the lock
// every writer holds, and the server URL rules shared by enrollment and
// Agent::Open.
#ifndef OTA_AGENT_SRC_STATE_FOLDER_H_
#define OTA_AGENT_SRC_STATE_FOLDER_H_

#include <memory>
#include <string>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

inline constexpr char kDbName[] = "agent.db";
inline constexpr char kLockName[] = "agent.lock";
inline constexpr char kMetadataDir[] = "metadata";

// `url` without trailing slashes.
std::string TrimSlash(std::string url);

// kInvalidArgument unless `url` starts with http:// or https://.
Status ValidateServerUrl(const std::string& url);

// Holds an exclusive lock (the platform's FileLock) on the state folder for
// the object's lifetime.
class FolderLock {
 public:
  // kRetryLater when another agent holds the lock, kIo.
  static Result<std::unique_ptr<FolderLock>> Acquire(Platform& platform, const std::string& path);
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  explicit FolderLock(std::unique_ptr<FileLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<FileLock> lock_;
};

// `env` with its filesystem replaced by `fs`.
Env WithFileSystem(Env env, FileSystem* fs);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_STATE_FOLDER_H_
