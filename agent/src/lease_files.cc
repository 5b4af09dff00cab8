#include "lease_files.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"

namespace ota::agent::lease_files {
namespace {
constexpr char kLinkPrefix[] = "../versions/";
}  // namespace

std::string LockPath(const std::string& state_dir, const std::string& version_id) {
  return JoinPath(JoinPath(state_dir, kLeaseDir), version_id + ".lock");
}

Status EnsureLeaseDir(const std::string& state_dir) {
  const std::string dir = JoinPath(state_dir, kLeaseDir);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return MakeError(ErrorCode::kIo, "cannot create " + dir + ": " + std::strerror(errno));
  }
  return Ok();
}

Result<std::optional<std::string>> ReadActiveId(const std::string& state_dir,
                                                const std::string& model) {
  const std::string link = JoinPath(JoinPath(state_dir, "active"), model);
  char buf[256];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return MakeError(ErrorCode::kIo,
                     "cannot read active pointer " + link + ": " + std::strerror(errno));
  }
  const std::string target(buf, static_cast<std::size_t>(n));
  const std::string prefix = kLinkPrefix;
  if (static_cast<std::size_t>(n) == sizeof(buf) || target.rfind(prefix, 0) != 0 ||
      !IsLowerHex(target.substr(prefix.size()), 64)) {
    return MakeError(ErrorCode::kIntegrity, "active pointer " + link + " is malformed");
  }
  return std::optional<std::string>(target.substr(prefix.size()));
}

Result<std::unique_ptr<FileLock>> OpenLock(Platform& platform, const std::string& state_dir,
                                           const std::string& version_id, bool create) {
  return platform.OpenLock(LockPath(state_dir, version_id), create, 0644);
}

}  // namespace ota::agent::lease_files
