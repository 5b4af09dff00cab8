// A filesystem seam for crash tests and drills that forgets what was never
// made durable (in the spirit of LevelDB's fault-injection Env): the
// power-loss tests and `otactl drill run`'s power-loss fault cut the power
// of an agent with it. Implemented in ota_common.
//
// It wraps the real POSIX filesystem and records, since the last sync:
//   - for each file written: the length known durable (its size at the last
//     Sync(), 0 for a file created or truncated since);
//   - for each directory: the entries created, renamed, symlinked or removed
//     in it since its last SyncDir().
// After CutPower(), every operation fails with kIo ("power lost") like a dead
// disk, and DropUnsynced() then rewinds the real files to what a power cut
// could leave: unsynced file tails are cut off, and directory changes not
// followed by a SyncDir of their directory are undone, newest first (created
// entries vanish, renames go back, removed entries come back). Directory
// creation itself is treated as durable. SQLite does not go through the
// seam; it makes its own commits durable (WAL, synchronous=FULL), so the
// files given to KeepAtCut (a database and its WAL) are copied when the power
// is cut and DropUnsynced puts them back as they were then: what the process
// committed after the cut is lost, as it would be on a real device.
//
// CrashAfter(n) cuts the power right after the n-th mutating operation.
// Not thread-safe; one agent thread at a time.
#ifndef OTA_COMMON_DROPPING_FS_H_
#define OTA_COMMON_DROPPING_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"

namespace ota {

class DroppingFileSystem : public FileSystem {
 public:
  // `scratch` is a folder on the same filesystem for entries kept aside so
  // that a removal or a replacing rename can be undone.
  DroppingFileSystem(FileSystem& base, std::string scratch);
  ~DroppingFileSystem() override;
  bool SingleThreaded() const override { return true; }

  // A full disk: once `bytes` more have been appended through the seam, an
  // append fails with kNoSpace (as ENOSPC would).
  void SetSpaceLimit(std::uint64_t bytes) { space_left_ = bytes; }
  Status ConsumeSpace(const std::string& path, std::uint64_t bytes);

  // Counts mutating operations; the n-th one runs, then the power is cut.
  void CrashAfter(std::uint64_t n) { crash_after_ = n; }
  void CutPower();
  // Files written behind the seam's back (SQLite's database, -wal and -shm):
  // copied as they are when the power is cut, restored by DropUnsynced (a
  // file absent at the cut is removed).
  void KeepAtCut(std::vector<std::string> paths) { kept_paths_ = std::move(paths); }
  bool power_lost() const { return power_lost_; }
  std::uint64_t mutations() const { return mutations_; }
  // Rewinds the real files to a state a power cut could leave (see above).
  // Call after CutPower, once nothing uses the seam (or the kept files) any
  // more. Fails if a change cannot be undone.
  [[nodiscard]] Status DropUnsynced();

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override;
  Result<bool> Exists(const std::string& path) override;
  Result<std::uint64_t> FileSize(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Status CreateSymlink(const std::string& target, const std::string& link) override;
  Result<std::string> ReadSymlink(const std::string& link) override;
  Result<std::uint64_t> FreeSpace(const std::string& path) override;
  Status SetMode(const std::string& path, unsigned mode) override;
  Status Truncate(const std::string& path, std::uint64_t size) override;

  // For the writable files it hands out.
  Status BeforeMutation();
  void FileSynced(const std::string& path, std::uint64_t size);

 private:
  // An undoable directory change, in the directory of `path`.
  struct DirChange {
    enum class Kind { kCreated, kRenamed, kRemoved } kind;
    std::string path;    // Created / renamed-to / removed entry.
    std::string from;    // kRenamed: where it came from.
    std::string backup;  // kRenamed over an entry / kRemoved: the old entry, kept aside.
  };

  std::string KeepAside(const std::string& path);
  void Record(DirChange change);

  FileSystem& base_;
  std::string scratch_;
  std::uint64_t backups_ = 0;
  std::uint64_t mutations_ = 0;
  std::uint64_t crash_after_ = 0;
  bool power_lost_ = false;
  std::optional<std::uint64_t> space_left_;
  std::map<std::string, std::uint64_t> durable_size_;  // Files written since start.
  std::vector<DirChange> pending_;                     // In order.
  std::vector<std::string> kept_paths_;
  std::map<std::string, std::optional<std::string>> kept_;  // Path -> bytes at the cut.
};

}  // namespace ota

#endif  // OTA_COMMON_DROPPING_FS_H_
