#include "version_store.h"

#include <string_view>
#include <vector>

#include "ota/common/hash.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::agent {
namespace {
constexpr char kStagingPrefix[] = ".staging-";
constexpr char kLinkPrefix[] = "../versions/";

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A temporary file or link of an interrupted atomic replace: "<name>.tmp-
// <pid>-<n>", the name WriteFileAtomic and ReplaceSymlinkAtomic give it
// before renaming it over <name>.
bool IsTemporarySibling(std::string_view name) {
  const std::size_t at = name.rfind(".tmp-");
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view rest = name.substr(at + 5);
  const std::size_t dash = rest.find('-');
  return dash != std::string_view::npos && AllDigits(rest.substr(0, dash)) &&
         AllDigits(rest.substr(dash + 1));
}
}  // namespace

bool IsValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i == 0 && !alnum) return false;
    if (!alnum && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

VersionStore::VersionStore(FileSystem& fs, std::string state_dir)
    : fs_(fs), state_dir_(std::move(state_dir)) {}

Status VersionStore::Init() {
  for (const char* sub : {"versions", "active", "downloads"}) {
    OTA_TRY(fs_.CreateDirs(JoinPath(state_dir_, sub)));
  }
  OTA_ASSIGN_OR_RETURN(auto names, fs_.ListDir(JoinPath(state_dir_, "versions")));
  for (const std::string& name : names) {
    if (name.rfind(kStagingPrefix, 0) == 0) {
      OTA_TRY(fs_.RemoveAll(JoinPath(JoinPath(state_dir_, "versions"), name)));
    }
  }
  // A switch (or a marker's write) cut off between creating its temporary
  // link (or file) and renaming it leaves it behind: its name is unique per
  // process, so no later replace reuses it.
  for (const char* sub : {"active", "downloads"}) {
    const std::string dir = JoinPath(state_dir_, sub);
    OTA_ASSIGN_OR_RETURN(auto entries, fs_.ListDir(dir));
    bool removed = false;
    for (const std::string& name : entries) {
      if (!IsTemporarySibling(name)) continue;
      OTA_TRY(fs_.Remove(JoinPath(dir, name)));
      removed = true;
    }
    if (removed) OTA_TRY(fs_.SyncDir(dir));
  }
  return Ok();
}

std::string VersionStore::VersionDir(const std::string& id) const {
  return JoinPath(JoinPath(state_dir_, "versions"), id);
}

std::string VersionStore::StagingDir(const std::string& id) const {
  return JoinPath(JoinPath(state_dir_, "versions"), kStagingPrefix + id);
}

std::string VersionStore::DownloadPath(const std::string& id) const {
  return JoinPath(JoinPath(state_dir_, "downloads"), id + ".part");
}

Result<bool> VersionStore::HasVersion(const std::string& id) { return fs_.Exists(VersionDir(id)); }

Status VersionStore::VerifyVersion(const std::string& id) {
  const std::string dir = VersionDir(id);
  auto text = fs_.ReadFile(JoinPath(dir, std::string(manifest::kBundleManifestFileName)),
                           manifest::kMaxBundleManifestBytes);
  if (!text.ok()) {
    return MakeError(
        ErrorCode::kIntegrity,
        "installed version " + id + " has no readable bundle.json: " + text.error().message);
  }
  auto bundle = manifest::ParseBundleManifest(*text);
  if (!bundle.ok()) {
    return MakeError(ErrorCode::kIntegrity, "installed version " + id + " has a malformed " +
                                                "bundle.json: " + bundle.error().message);
  }
  std::vector<std::uint8_t> buffer(1u << 20);
  for (const manifest::BundleFile& f : bundle->files) {
    const std::string where = "installed version " + id + ": " + f.path;
    auto file = fs_.OpenReadable(JoinPath(dir, f.path));
    if (!file.ok()) {
      return MakeError(ErrorCode::kIntegrity, where + " is missing: " + file.error().message);
    }
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, (*file)->Size());
    if (size != f.size) {
      return MakeError(ErrorCode::kIntegrity, where + " is " + std::to_string(size) +
                                                  " bytes, bundle.json says " +
                                                  std::to_string(f.size));
    }
    Hasher hasher(HashAlgorithm::kSha256);
    for (std::uint64_t offset = 0; offset < size;) {
      OTA_ASSIGN_OR_RETURN(std::size_t n, (*file)->ReadAt(offset, buffer));
      if (n == 0) {
        return MakeError(ErrorCode::kIntegrity, where + " ended early while re-hashing");
      }
      hasher.Update(std::span<const std::uint8_t>(buffer.data(), n));
      offset += n;
    }
    const std::string actual = hasher.FinishHex();
    if (actual != f.sha256) {
      return MakeError(ErrorCode::kIntegrity, where + " has SHA-256 " + actual +
                                                  ", bundle.json says " + f.sha256 +
                                                  " (changed on disk since it was installed)");
    }
  }
  return Ok();
}

Result<std::optional<std::string>> VersionStore::ActiveId(const std::string& model) {
  const std::string link = JoinPath(JoinPath(state_dir_, "active"), model);
  OTA_ASSIGN_OR_RETURN(bool exists, fs_.Exists(link));
  if (!exists) return std::optional<std::string>();
  OTA_ASSIGN_OR_RETURN(std::string target, fs_.ReadSymlink(link));
  const std::string prefix = kLinkPrefix;
  if (target.rfind(prefix, 0) != 0 || !IsLowerHex(target.substr(prefix.size()), 64)) {
    return MakeError(ErrorCode::kIntegrity,
                     "active pointer " + link + " is malformed (points at \"" + target + "\")");
  }
  return std::optional<std::string>(target.substr(prefix.size()));
}

Status VersionStore::PromoteStaging(const std::string& id) {
  OTA_TRY(fs_.Rename(StagingDir(id), VersionDir(id)));
  return fs_.SyncDir(JoinPath(state_dir_, "versions"));
}

Status VersionStore::Activate(const std::string& model, const std::string& id) {
  return ReplaceSymlinkAtomic(fs_, kLinkPrefix + id,
                              JoinPath(JoinPath(state_dir_, "active"), model));
}

Status VersionStore::RemoveVersion(const std::string& id) {
  OTA_TRY(fs_.RemoveAll(VersionDir(id)));
  return fs_.SyncDir(JoinPath(state_dir_, "versions"));
}

Result<std::vector<std::string>> VersionStore::InstalledIds() {
  OTA_ASSIGN_OR_RETURN(auto names, fs_.ListDir(JoinPath(state_dir_, "versions")));
  std::vector<std::string> ids;
  for (const std::string& name : names) {
    if (IsLowerHex(name, 64)) ids.push_back(name);
  }
  return ids;
}

}  // namespace ota::agent
