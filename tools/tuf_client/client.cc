#include "client.h"

#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/common/log.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/hashing.h"
#include "ota/verifier/updater.h"

namespace ota::tuf_client {
namespace {

constexpr std::uint64_t kMaxRootBytes = 512 * 1024;

std::string WithSlash(std::string url) {
  if (!url.ends_with('/')) url.push_back('/');
  return url;
}

verifier::UpdaterOptions OptionsFor(const Args& args) {
  verifier::UpdaterOptions options;
  options.metadata_dir = args.metadata_dir;
  options.metadata_base_url = WithSlash(args.metadata_url);
  options.targets_base_url = WithSlash(args.target_base_url);
  return options;
}

// Streams the target into `tmp`, capped at the signed length.
Status Fetch(Env& env, const std::string& url, const manifest::TargetFile& target,
             const std::string& tmp) {
  OTA_ASSIGN_OR_RETURN(auto file, env.fs->OpenWritable(tmp, /*append=*/false));
  HttpRequest request;
  request.url = url;
  request.max_body_bytes = target.length;
  auto response = env.http->Fetch(
      request, [&file](std::span<const std::uint8_t> chunk) { return file->Append(chunk); });
  if (!response.ok()) {
    return MakeError(response.error().code, url + ": " + response.error().message);
  }
  if (response->status != 200) {
    return MakeError(ErrorCode::kRetryLater, url + ": HTTP " + std::to_string(response->status));
  }
  OTA_TRY(file->Sync());
  return file->Close();
}

Status DownloadOne(Env& env, verifier::Updater& updater, const std::string& target_dir,
                   const std::string& target_path) {
  OTA_ASSIGN_OR_RETURN(manifest::TargetFile target, updater.GetTargetInfo(target_path));
  const std::string name = TargetFileName(target_path);
  const std::string path = JoinPath(target_dir, name);
  OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(path));
  if (exists && verifier::CheckFile(*env.fs, path, target).ok()) {
    Log(LogLevel::kInfo, "tuf-client", target_path + " is already up to date");
    return Ok();
  }
  const std::string tmp = JoinPath(target_dir, "." + name + ".part");
  Status s = [&]() -> Status {
    OTA_TRY(Fetch(env, updater.TargetUrl(target_path, target), target, tmp));
    OTA_TRY(verifier::CheckFile(*env.fs, tmp, target));
    OTA_TRY(env.fs->Rename(tmp, path));
    return env.fs->SyncDir(target_dir);
  }();
  if (!s.ok()) (void)env.fs->Remove(tmp);
  return s;
}

}  // namespace

std::string TargetFileName(std::string_view target_path) {
  std::string name = verifier::PercentEncode(target_path, /*keep_slashes=*/false);
  if (name.starts_with('.')) name.replace(0, 1, "%2E");
  return name;
}

Status Init(Env& env, const Args& args) {
  OTA_ASSIGN_OR_RETURN(std::string bytes, env.fs->ReadFile(args.trusted_root, kMaxRootBytes));
  OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes, kMaxRootBytes));
  OTA_ASSIGN_OR_RETURN(std::string type, manifest::MetadataType(envelope.signed_json));
  if (type != manifest::kRootRole) {
    return MakeError(ErrorCode::kInvalidArgument,
                     args.trusted_root + " is " + type + " metadata, not root");
  }
  OTA_TRY(env.fs->CreateDirs(args.metadata_dir));
  return WriteFileAtomic(*env.fs, JoinPath(args.metadata_dir, "root.json"), bytes);
}

Status Refresh(Env& env, const Args& args) {
  verifier::Updater updater(env, OptionsFor(args));
  return updater.Refresh();
}

Status Download(Env& env, const Args& args) {
  verifier::Updater updater(env, OptionsFor(args));
  OTA_TRY(updater.Refresh());
  OTA_TRY(env.fs->CreateDirs(args.target_dir));
  for (const std::string& target_path : args.target_names) {
    Status s = DownloadOne(env, updater, args.target_dir, target_path);
    if (!s.ok()) {
      return MakeError(s.error().code, "target " + target_path + ": " + s.error().message);
    }
  }
  return Ok();
}

}  // namespace ota::tuf_client
