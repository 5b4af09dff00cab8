#include "server_args.h"

#include <cstdlib>

#include "ota/common/filesystem.h"

namespace ota::tools {

void AddOperatorServerOptions(CLI::App& cmd, OperatorServerArgs& a) {
  cmd.add_option("--server", a.server, "ota-server base URL (default: $OTA_SERVER)");
  cmd.add_option("--token-file", a.token_file,
                 "File holding the operator token (default: $OTA_TOKEN)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--ca-bundle", a.tls.ca_bundle_file,
                 "PEM file of the CAs to trust for an https server instead of the system store");
  cmd.add_option("--pin-sha256", a.tls.pinned_sha256,
                 "Base64 SHA-256 of a server public key (SubjectPublicKeyInfo) the server must "
                 "present; repeatable");
}

Result<std::string> LoadOperatorToken(const OperatorServerArgs& a) {
  std::string token;
  if (!a.token_file.empty()) {
    auto fs = MakePosixFileSystem();
    OTA_ASSIGN_OR_RETURN(token, fs->ReadFile(a.token_file, 4096));
  } else if (const char* env = std::getenv("OTA_TOKEN"); env != nullptr) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "an operator token is required: --token-file FILE or OTA_TOKEN");
  }
  for (char c : token) {
    if (c <= ' ' || c == 0x7f) {
      return MakeError(ErrorCode::kInvalidArgument, "the operator token has invalid characters");
    }
  }
  return token;
}

Result<std::string> OperatorServerUrl(const OperatorServerArgs& a) {
  std::string url = a.server;
  if (url.empty()) {
    if (const char* env = std::getenv("OTA_SERVER"); env != nullptr) url = env;
  }
  if (url.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the server is required: --server URL or OTA_SERVER");
  }
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return MakeError(ErrorCode::kInvalidArgument, "--server must be an http:// or https:// URL");
  }
  while (url.ends_with("/")) url.pop_back();
  return url;
}

}  // namespace ota::tools
