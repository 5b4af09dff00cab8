#include "lease_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
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

Result<LockFile> LockFile::Open(const std::string& state_dir, const std::string& version_id,
                                bool create) {
  const std::string path = LockPath(state_dir, version_id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    if (errno == ENOENT && !create) return LockFile(-1);
    return MakeError(ErrorCode::kIo,
                     "cannot open lease file " + path + ": " + std::strerror(errno));
  }
  return LockFile(fd);
}

LockFile& LockFile::operator=(LockFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

LockFile::~LockFile() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
Result<bool> TryLock(int fd, int op) {
  while (true) {
    if (::flock(fd, op | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno == EINTR) continue;
    return MakeError(ErrorCode::kIo, std::string("flock failed: ") + std::strerror(errno));
  }
}
}  // namespace

Result<bool> LockFile::TryShared() { return TryLock(fd_, LOCK_SH); }
Result<bool> LockFile::TryExclusive() { return TryLock(fd_, LOCK_EX); }

void LockFile::Unlock() {
  if (fd_ >= 0) (void)::flock(fd_, LOCK_UN);
}

bool LockFile::StillAt(const std::string& path) const {
  struct stat open_st {};
  struct stat path_st {};
  if (::fstat(fd_, &open_st) != 0 || ::stat(path.c_str(), &path_st) != 0) return false;
  return open_st.st_ino == path_st.st_ino && open_st.st_dev == path_st.st_dev;
}

int LockFile::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

}  // namespace ota::agent::lease_files
