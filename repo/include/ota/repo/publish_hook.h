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
class RecordingFileSystem : public ForwardingFileSystem {
 public:
  explicit RecordingFileSystem(FileSystem& inner) : ForwardingFileSystem(inner) {}
  const std::vector<std::string>& placed() const { return placed_; }

  Status Rename(const std::string& from, const std::string& to) override {
    OTA_TRY(base().Rename(from, to));
    placed_.push_back(to);
    return Ok();
  }

 private:
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
