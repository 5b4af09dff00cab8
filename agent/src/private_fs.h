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
class PrivateFileSystem : public ForwardingFileSystem {
 public:
  explicit PrivateFileSystem(FileSystem& base) : ForwardingFileSystem(base) {}

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override;
  // Every folder it creates gets kPrivateDirMode; existing ones keep theirs.
  Status CreateDirs(const std::string& path) override;
};

// Creates `path` as an empty file of mode kPrivateFileMode unless it exists:
// SQLite then keeps that mode for the database and gives its -wal and -shm
// files the same one.
Status PrecreatePrivateFile(FileSystem& fs, const std::string& path);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_PRIVATE_FS_H_
