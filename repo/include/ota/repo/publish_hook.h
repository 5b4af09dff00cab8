// The publish hook: a command run for each file a publish put in place in
// the repository folder, in the order it was written (targets, then
// delegated and top-level targets metadata, snapshot, timestamp last), so
// that a copy kept in object storage or a CDN origin never names a file it
// does not have yet (docs/operations.md, "The repository").
#ifndef OTA_REPO_PUBLISH_HOOK_H_
#define OTA_REPO_PUBLISH_HOOK_H_

#include <memory>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"

namespace ota::repo {

// A FileSystem that forwards to `inner` and records, in order, the paths
// that renames put in place (how every repository write lands: atomically).
class RecordingFileSystem : public FileSystem {
 public:
  explicit RecordingFileSystem(FileSystem& inner) : inner_(inner) {}
  const std::vector<std::string>& placed() const { return placed_; }

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override {
    return inner_.OpenWritable(path, append, mode);
  }
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    return inner_.OpenReadable(path);
  }
  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    return inner_.ReadFile(path, max_bytes);
  }
  Result<bool> Exists(const std::string& path) override { return inner_.Exists(path); }
  Result<std::uint64_t> FileSize(const std::string& path) override { return inner_.FileSize(path); }
  Status CreateDirs(const std::string& path) override { return inner_.CreateDirs(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    OTA_TRY(inner_.Rename(from, to));
    placed_.push_back(to);
    return Ok();
  }
  Status SyncDir(const std::string& path) override { return inner_.SyncDir(path); }
  Status Remove(const std::string& path) override { return inner_.Remove(path); }
  Status RemoveAll(const std::string& path) override { return inner_.RemoveAll(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return inner_.ListDir(path);
  }
  Status CreateSymlink(const std::string& target, const std::string& link) override {
    return inner_.CreateSymlink(target, link);
  }
  Result<std::string> ReadSymlink(const std::string& link) override {
    return inner_.ReadSymlink(link);
  }
  Result<std::uint64_t> FreeSpace(const std::string& path) override {
    return inner_.FreeSpace(path);
  }
  Status SetMode(const std::string& path, unsigned mode) override {
    return inner_.SetMode(path, mode);
  }
  Status Truncate(const std::string& path, std::uint64_t size) override {
    return inner_.Truncate(path, size);
  }

 private:
  FileSystem& inner_;
  std::vector<std::string> placed_;
};

// Runs `hook REPO_DIR RELATIVE_PATH` for each of `placed` that lies inside
// `repo_dir` (but not under metadata/staged/, changes waiting for offline
// signatures), in order, waiting for each; stops at the first that does not
// exit 0 (kIo, naming the file and the exit status). An empty hook runs
// nothing.
Status RunPublishHook(const std::string& hook, const std::string& repo_dir,
                      const std::vector<std::string>& placed);

}  // namespace ota::repo

#endif  // OTA_REPO_PUBLISH_HOOK_H_
