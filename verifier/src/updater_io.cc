// The Updater's I/O: bounded downloads, local metadata files, and trust
// bootstrap.
#include "ota/verifier/updater.h"

#include "ota/common/http.h"

namespace ota::verifier {

std::string PercentEncodeExcept(std::string_view s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool alnum = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9');
    if (alnum || keep.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s, bool keep_slashes) {
  return PercentEncodeExcept(s, keep_slashes ? "-._~/" : "-._~");
}

Result<std::string> Updater::Download(const std::string& file_name, std::uint64_t max_bytes,
                                      bool* missing) {
  HttpRequest request;
  request.url = options_.metadata_base_url + PercentEncode(file_name, false);
  request.max_body_bytes = max_bytes;
  auto response = env_.http->Fetch(request);
  if (!response.ok()) {
    // Keeps the client's code: kIntegrity for more than max_bytes (endless
    // data), kRetryLater for transport failures.
    return MakeError(response.error().code,
                     "downloading " + file_name + ": " + response.error().message);
  }
  if (missing != nullptr) {
    *missing = response->status == 404 || response->status == 403;
    if (*missing) return std::string();
  }
  if (response->status != 200) {
    return MakeError(ErrorCode::kRetryLater,
                     "downloading " + file_name + ": HTTP " + std::to_string(response->status));
  }
  // The client enforces the cap; checked again so a lax client cannot make
  // the verifier accept more than it asked for.
  if (response->body.size() > max_bytes) {
    return MakeError(ErrorCode::kIntegrity, file_name + " is larger than the limit of " +
                                                std::to_string(max_bytes) + " bytes");
  }
  return std::move(response->body);
}

Result<std::string> Updater::ReadLocal(const std::string& file_name, std::uint64_t max_bytes,
                                       bool* exists) {
  const std::string path = JoinPath(options_.metadata_dir, file_name);
  OTA_ASSIGN_OR_RETURN(*exists, env_.fs->Exists(path));
  if (!*exists) return std::string();
  return env_.fs->ReadFile(path, max_bytes);
}

Status Updater::Persist(const std::string& file_name, std::string_view bytes) {
  return WriteFileAtomic(*env_.fs, JoinPath(options_.metadata_dir, file_name), bytes);
}

Status InitTrustedRoot(FileSystem& fs, const std::string& metadata_dir,
                       std::string_view root_bytes) {
  OTA_ASSIGN_OR_RETURN(TrustedMetadata trusted, TrustedMetadata::FromRoot(root_bytes));
  (void)trusted;
  const std::string path = JoinPath(metadata_dir, "root.json");
  OTA_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (exists) {
    return MakeError(ErrorCode::kInvalidArgument,
                     path + " already exists; remove " + metadata_dir + " to bootstrap again");
  }
  OTA_TRY(fs.CreateDirs(metadata_dir));
  return WriteFileAtomic(fs, path, root_bytes);
}

}  // namespace ota::verifier
