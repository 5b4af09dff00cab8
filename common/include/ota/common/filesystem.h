// Filesystem seam. All agent and store writes go through it so that tests can
// simulate power loss (drop writes that were not synced) and full disks.
//
// Paths are std::string (UTF-8, POSIX). Thread-safe: implementations must
// allow concurrent calls on different files.
#ifndef OTA_COMMON_FILESYSTEM_H_
#define OTA_COMMON_FILESYSTEM_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"

namespace ota {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::span<const std::uint8_t> data) = 0;
  Status Append(std::string_view data) {
    return Append(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                                data.size()));
  }
  // Makes everything appended so far durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to out.size() bytes at `offset`; returns the count (0 at EOF).
  virtual Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) = 0;
  virtual Result<std::uint64_t> Size() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates or truncates `path` for writing. With `append`, keeps the content
  // and writes at the end. The file is created with `mode` (e.g. 0600 for keys).
  virtual Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                             unsigned mode = 0644) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) = 0;

  // Reads a whole file; fails with kInvalidArgument if it is larger than max_bytes.
  virtual Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) = 0;

  virtual Result<bool> Exists(const std::string& path) = 0;
  virtual Result<std::uint64_t> FileSize(const std::string& path) = 0;
  // Creates the directory and its parents; succeeds if it exists.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Atomic replace of `to` by `from` (rename(2)). Not durable until SyncDir.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // fsync of a directory, making renames and creations inside it durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Removes a file or an empty directory; succeeds if it does not exist.
  virtual Status Remove(const std::string& path) = 0;
  // Removes a tree; succeeds if it does not exist.
  virtual Status RemoveAll(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Creates a symbolic link `link` pointing at `target` (fails if it exists).
  virtual Status CreateSymlink(const std::string& target, const std::string& link) = 0;
  virtual Result<std::string> ReadSymlink(const std::string& link) = 0;
  // Free bytes available to unprivileged users on the filesystem holding path.
  virtual Result<std::uint64_t> FreeSpace(const std::string& path) = 0;
  // Sets the permission bits of a file or directory to exactly `mode`
  // (chmod(2); the umask does not apply). Symlinks are followed.
  virtual Status SetMode(const std::string& path, unsigned mode) = 0;
  // Cuts the file at `path` to its first `size` bytes (no more than it has)
  // and fsyncs it: the cut is durable when this returns.
  virtual Status Truncate(const std::string& path, std::uint64_t size) = 0;

  // True for filesystems that must be called from one thread at a time, in
  // an order each run repeats (the crash tests' and drills' filesystems,
  // which count operations to cut the power before the n-th): their callers
  // do not spread file work over threads. Wrappers forward it.
  virtual bool SingleThreaded() const { return false; }
  // False when Sync and SyncDir do not reach stable storage (the disks of
  // simulated devices): databases kept beside the files then skip their
  // syncs too. Real devices' filesystems are durable.
  virtual bool Durable() const { return true; }
};

// Forwards every call to `base` (not owned, must outlive it): the base of
// wrappers that change or observe a few operations.
class ForwardingFileSystem : public FileSystem {
 public:
  explicit ForwardingFileSystem(FileSystem& base) : base_(base) {}

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override {
    return base_.OpenWritable(path, append, mode);
  }
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    return base_.OpenReadable(path);
  }
  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    return base_.ReadFile(path, max_bytes);
  }
  Result<bool> Exists(const std::string& path) override { return base_.Exists(path); }
  Result<std::uint64_t> FileSize(const std::string& path) override { return base_.FileSize(path); }
  Status CreateDirs(const std::string& path) override { return base_.CreateDirs(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return base_.Rename(from, to);
  }
  Status SyncDir(const std::string& path) override { return base_.SyncDir(path); }
  Status Remove(const std::string& path) override { return base_.Remove(path); }
  Status RemoveAll(const std::string& path) override { return base_.RemoveAll(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_.ListDir(path);
  }
  Status CreateSymlink(const std::string& target, const std::string& link) override {
    return base_.CreateSymlink(target, link);
  }
  Result<std::string> ReadSymlink(const std::string& link) override {
    return base_.ReadSymlink(link);
  }
  Result<std::uint64_t> FreeSpace(const std::string& path) override {
    return base_.FreeSpace(path);
  }
  Status SetMode(const std::string& path, unsigned mode) override {
    return base_.SetMode(path, mode);
  }
  Status Truncate(const std::string& path, std::uint64_t size) override {
    return base_.Truncate(path, size);
  }
  bool SingleThreaded() const override { return base_.SingleThreaded(); }
  bool Durable() const override { return base_.Durable(); }

 protected:
  FileSystem& base() { return base_; }

 private:
  FileSystem& base_;
};

std::unique_ptr<FileSystem> MakePosixFileSystem();

// Writes `data` to `path` atomically and durably: temp file in the same
// directory, fsync, rename over `path`, fsync of the directory (LevelDB's
// CURRENT idiom). A crash leaves either the old or the new content.
Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data,
                       unsigned mode = 0644);

// Points symlink `link` at `target` atomically (new link under a temp name,
// rename over `link`, fsync of the directory).
Status ReplaceSymlinkAtomic(FileSystem& fs, const std::string& target, const std::string& link);

// kSecurity when group or others may access the file at `path` (secrets must
// be mode 0600 or stricter): "<what> file <path> is accessible by group or
// others (mode 0644); run chmod 600 on it". A missing file passes; reading it
// reports that.
Status CheckOwnerOnlyFile(const std::string& path, std::string_view what);

// Parent directory of a path ("." if none).
std::string DirName(const std::string& path);
// Joins two path parts with exactly one '/'.
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace ota

#endif  // OTA_COMMON_FILESYSTEM_H_
