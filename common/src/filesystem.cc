// POSIX implementation of the filesystem seam, and the atomic-write helpers
// built on the seam (so fault-injecting filesystems exercise them too).
#include "ota/common/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace ota {
namespace {

Error ErrnoError(const std::string& what, const std::string& path, int err) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::kNotFound;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::kNoSpace;
  return MakeError(code, what + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::span<const std::uint8_t> data) override {
    const std::uint8_t* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_, errno);
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    StartWriteback(data.size());
    return Ok();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoError("cannot sync", path_, errno);
    return Ok();
  }
  Status Close() override {
    if (fd_ < 0) return Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoError("cannot close", path_, errno);
    return Ok();
  }

 private:
  // Every few MiB appended, starts writing the dirty pages back without
  // waiting (as RocksDB's bytes_per_sync does): the disk works while the
  // writer computes, so the final fdatasync of a large file (a model written
  // by a delta apply or an unpack) waits for little. A hint only: errors
  // surface in Sync.
  void StartWriteback(std::size_t appended) {
#ifdef __linux__
    constexpr std::size_t kWritebackBytes = 8u << 20;
    unsynced_ += appended;
    if (unsynced_ < kWritebackBytes) return;
    unsynced_ = 0;
    (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)appended;
#endif
  }

  int fd_;
  std::string path_;
  std::size_t unsynced_ = 0;  // Bytes appended since the last writeback hint.
};

class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixReadableFile() override { ::close(fd_); }
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    while (true) {
      ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return ErrnoError("cannot read", path_, errno);
    }
  }
  Result<std::uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoError("cannot stat", path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = ::open(path.c_str(), flags, static_cast<mode_t>(mode));
    if (fd < 0) return ErrnoError("cannot open for writing", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path, errno);
    return std::unique_ptr<ReadableFile>(new PosixReadableFile(fd, path));
  }

  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    OTA_ASSIGN_OR_RETURN(auto file, OpenReadable(path));
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
    if (size > max_bytes) {
      return MakeError(ErrorCode::kInvalidArgument, path + " is " + std::to_string(size) +
                                                        " bytes, more than the limit of " +
                                                        std::to_string(max_bytes));
    }
    std::string out(size, '\0');
    std::uint64_t done = 0;
    while (done < size) {
      OTA_ASSIGN_OR_RETURN(
          std::size_t n,
          file->ReadAt(done, std::span<std::uint8_t>(
                                 reinterpret_cast<std::uint8_t*>(out.data()) + done, size - done)));
      if (n == 0) break;
      done += n;
    }
    out.resize(done);
    return out;
  }

  Result<bool> Exists(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoError("cannot stat", path, errno);
  }

  Result<std::uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec)
      return MakeError(ErrorCode::kIo, "cannot create directory " + path + ": " + ec.message());
    return Ok();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError("cannot rename " + from + " to", to, errno);
    }
    return Ok();
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open directory", path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoError("cannot sync directory", path, err);
    return Ok();
  }

  Status Remove(const std::string& path) override {
    if (::remove(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("cannot remove", path, errno);
    }
    return Ok();
  }

  Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return MakeError(ErrorCode::kIo, "cannot remove " + path + ": " + ec.message());
    return Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoError("cannot list", path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status CreateSymlink(const std::string& target, const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      return ErrnoError("cannot create symlink", link, errno);
    }
    return Ok();
  }

  Result<std::string> ReadSymlink(const std::string& link) override {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
    if (n < 0) return ErrnoError("cannot read symlink", link, errno);
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

  Result<std::uint64_t> FreeSpace(const std::string& path) override {
    struct statvfs st;
    if (::statvfs(path.c_str(), &st) != 0) return ErrnoError("cannot statvfs", path, errno);
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }

  Status SetMode(const std::string& path, unsigned mode) override {
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
      return ErrnoError("cannot change the mode of", path, errno);
    }
    return Ok();
  }

  Status Truncate(const std::string& path, std::uint64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path, errno);
    struct stat st {};
    Status s = Ok();
    if (::fstat(fd, &st) != 0) {
      s = ErrnoError("cannot stat", path, errno);
    } else if (size > static_cast<std::uint64_t>(st.st_size)) {
      s = MakeError(ErrorCode::kInvalidArgument, "cannot truncate " + path + " to " +
                                                     std::to_string(size) + " bytes: it has " +
                                                     std::to_string(st.st_size));
    } else if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      s = ErrnoError("cannot truncate", path, errno);
    } else if (::fsync(fd) != 0) {
      s = ErrnoError("cannot fsync", path, errno);
    }
    ::close(fd);
    return s;
  }
};

std::string TempSibling(const std::string& path) {
  // Unique per process and call so concurrent writers never share a temp name.
  static std::atomic<std::uint64_t> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

std::unique_ptr<FileSystem> MakePosixFileSystem() { return std::make_unique<PosixFileSystem>(); }

Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data,
                       unsigned mode) {
  const std::string tmp = TempSibling(path);
  Status s = [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(auto file, fs.OpenWritable(tmp, /*append=*/false, mode));
    OTA_TRY(file->Append(data));
    OTA_TRY(file->Sync());
    OTA_TRY(file->Close());
    OTA_TRY(fs.Rename(tmp, path));
    return fs.SyncDir(DirName(path));
  }();
  if (!s.ok()) (void)fs.Remove(tmp);
  return s;
}

Status ReplaceSymlinkAtomic(FileSystem& fs, const std::string& target, const std::string& link) {
  const std::string tmp = TempSibling(link);
  (void)fs.Remove(tmp);
  OTA_TRY(fs.CreateSymlink(target, tmp));
  Status s = fs.Rename(tmp, link);
  if (!s.ok()) {
    (void)fs.Remove(tmp);
    return s;
  }
  return fs.SyncDir(DirName(link));
}

std::string DirName(const std::string& path) {
  std::size_t pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  while (!out.empty() && out.back() == '/') out.pop_back();
  std::size_t start = 0;
  while (start < b.size() && b[start] == '/') ++start;
  out.push_back('/');
  out.append(b.substr(start));
  return out;
}

Status CheckOwnerOnlyFile(const std::string& path, std::string_view what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Ok();
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return MakeError(ErrorCode::kSecurity, std::string(what) + " file " + path +
                                               " is accessible by group or others (mode " + mode +
                                               "); run chmod 600 on it");
  }
  return Ok();
}

}  // namespace ota
