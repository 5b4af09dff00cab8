// The agent's view of the filesystem: everything it creates in its state
// folder is private to the agent's user and readable by its group (the apps
// that load models), whatever the process umask.
//
//   directories  0750 (owner rwx, group r-x, others nothing)
//   files        0640 (owner rw, group r); files asked for 0600 (keys,
//                downloads) stay 0600
//
// Modes are set explicitly (chmod) right after creation rather than by
// changing the process umask, which a library must not touch. Decrypted
// model files therefore never become readable by other local users
// (docs/security.md "State folder permissions"). Not thread-safe beyond what
// the wrapped filesystem is.
#ifndef OTA_AGENT_SRC_PRIVATE_FS_H_
#define OTA_AGENT_SRC_PRIVATE_FS_H_

#include "ota/common/filesystem.h"

namespace ota::agent {

inline constexpr unsigned kPrivateDirMode = 0750;
inline constexpr unsigned kPrivateFileMode = 0640;

// The mode a file requested with `requested` gets: never more than 0640.
constexpr unsigned PrivateFileMode(unsigned requested) { return requested & kPrivateFileMode; }

// Wraps `base` (not owned, must outlive this).
class PrivateFileSystem : public FileSystem {
 public:
  explicit PrivateFileSystem(FileSystem& base) : base_(base) {}

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    return base_.OpenReadable(path);
  }
  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    return base_.ReadFile(path, max_bytes);
  }
  Result<bool> Exists(const std::string& path) override { return base_.Exists(path); }
  bool SingleThreaded() const override { return base_.SingleThreaded(); }
  Result<std::uint64_t> FileSize(const std::string& path) override { return base_.FileSize(path); }
  // Every folder it creates gets kPrivateDirMode; existing ones keep theirs.
  Status CreateDirs(const std::string& path) override;
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

 private:
  FileSystem& base_;
};

// Creates `path` as an empty file of mode kPrivateFileMode unless it exists:
// SQLite then keeps that mode for the database and gives its -wal and -shm
// files the same one.
Status PrecreatePrivateFile(FileSystem& fs, const std::string& path);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_PRIVATE_FS_H_
