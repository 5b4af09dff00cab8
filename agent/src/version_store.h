// The on-disk model store: immutable, content-addressed version folders and
// one atomically switched pointer per model.
//
//   <state>/versions/<id>/       unpacked, verified bundle (id = bundle sha256)
//   <state>/versions/.staging-<id>/  being unpacked; never trusted, removed on restart
//   <state>/active/<model>       symlink -> ../versions/<id>
//   <state>/downloads/<id>.part  bundle bytes being downloaded
//
// A version folder is only renamed into place after every file in it was
// verified and synced, so its existence means "verified". Not thread-safe.
#ifndef OTA_AGENT_SRC_VERSION_STORE_H_
#define OTA_AGENT_SRC_VERSION_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"

namespace ota::agent {

class VersionStore {
 public:
  VersionStore(FileSystem& fs, std::string state_dir);

  // Creates the folders and removes leftovers of interrupted unpacks and
  // replaces (staging folders, temporary links in active/ and files in
  // downloads/).
  Status Init();

  std::string VersionDir(const std::string& id) const;
  std::string StagingDir(const std::string& id) const;
  std::string DownloadPath(const std::string& id) const;

  Result<bool> HasVersion(const std::string& id);
  // Re-reads every file the version's bundle.json lists and checks its size
  // and SHA-256, before a rollback makes the version active again: a folder
  // that exists was verified once, but its bytes may have rotted or been
  // changed since. Costs one SHA-256 pass over the version (docs/decisions.md
  // D24). kIntegrity names the first file that does not match (or a missing
  // or malformed bundle.json); kIo if a file cannot be read.
  Status VerifyVersion(const std::string& id);
  // The id the model's pointer names, if any. kIntegrity if the pointer is
  // not a well-formed link into versions/.
  Result<std::optional<std::string>> ActiveId(const std::string& model);
  // Moves a fully verified staging folder into versions/ (rename + dir fsync).
  Status PromoteStaging(const std::string& id);
  // Points the model at an installed version atomically and durably.
  Status Activate(const std::string& model, const std::string& id);
  Status RemoveVersion(const std::string& id);
  // Ids of installed version folders.
  Result<std::vector<std::string>> InstalledIds();

 private:
  FileSystem& fs_;
  std::string state_dir_;
};

// A model name usable as a file name and in URLs: [a-z0-9][a-z0-9._-]{0,63}.
bool IsValidModelName(const std::string& name);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_VERSION_STORE_H_
