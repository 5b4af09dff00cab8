// GET and HEAD of files in the repository folder, with path confinement,
// single byte ranges, strong ETags and fault injection.
#ifndef OTA_SERVER_REPO_FILES_H_
#define OTA_SERVER_REPO_FILES_H_

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ota/common/result.h"

namespace ota::server {

struct FaultDrop {
  std::uint64_t after_bytes = 0;
  std::uint64_t count = 0;  // 0 = off.
  // Bytes appended to the first `extra_count` target bodies (test only).
  std::uint64_t extra_bytes = 0;
  std::uint64_t extra_count = 0;  // 0 = off.
};

// Thread-safe: Serve() may run on many threads at once.
class RepoFiles {
 public:
  // `repo_dir` must be an existing directory. kInvalidArgument otherwise.
  static Result<std::unique_ptr<RepoFiles>> Open(const std::string& repo_dir, FaultDrop drop);

  // Answers a GET or HEAD for `relative_path` (URL-decoded, after "/repo/").
  // With `ignore_range`, a Range header is treated as absent (used when the
  // HTTP layer rejected its syntax before routing).
  void Serve(const httplib::Request& req, std::string_view relative_path, bool ignore_range,
             httplib::Response& res);

 private:
  RepoFiles(std::string root, FaultDrop drop)
      : root_(std::move(root)),
        drop_after_(drop.after_bytes),
        drops_left_(drop.count),
        extra_bytes_(drop.extra_bytes),
        extras_left_(drop.extra_bytes > 0 ? drop.extra_count : 0) {}

  // True if this response is one of the first N target downloads to cut.
  bool TakeFaultDrop(std::string_view relative_path);
  // True if this response is one of the first N target downloads to lengthen.
  bool TakeFaultExtra(std::string_view relative_path);

  const std::string root_;  // Canonical, without trailing slash.
  const std::uint64_t drop_after_;
  std::atomic<std::uint64_t> drops_left_;
  const std::uint64_t extra_bytes_;
  std::atomic<std::uint64_t> extras_left_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_REPO_FILES_H_
