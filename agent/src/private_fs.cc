#include "private_fs.h"

#include <vector>

namespace ota::agent {

Result<std::unique_ptr<WritableFile>> PrivateFileSystem::OpenWritable(const std::string& path,
                                                                      bool append, unsigned mode) {
  const unsigned private_mode = PrivateFileMode(mode);
  OTA_ASSIGN_OR_RETURN(auto file, base().OpenWritable(path, append, private_mode));
  // open(2) applies the umask; the mode must not depend on it.
  OTA_TRY(base().SetMode(path, private_mode));
  return file;
}

Status PrivateFileSystem::CreateDirs(const std::string& path) {
  // The folders that do not exist yet, deepest first.
  std::vector<std::string> missing;
  for (std::string dir = path; !dir.empty() && dir != "/" && dir != ".";) {
    OTA_ASSIGN_OR_RETURN(bool exists, base().Exists(dir));
    if (exists) break;
    missing.push_back(dir);
    std::string parent = DirName(dir);
    if (parent == dir) break;
    dir = std::move(parent);
  }
  OTA_TRY(base().CreateDirs(path));
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    OTA_TRY(base().SetMode(*it, kPrivateDirMode));
  }
  return Ok();
}

Status PrecreatePrivateFile(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (exists) return Ok();
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenWritable(path, /*append=*/true, kPrivateFileMode));
  OTA_TRY(file->Close());
  return fs.SetMode(path, kPrivateFileMode);
}

}  // namespace ota::agent
