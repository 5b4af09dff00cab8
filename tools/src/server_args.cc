#include "server_args.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "commands.h"
#include "ota/common/filesystem.h"
#include "ota/common/http.h"

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

std::string UrlEncodeQueryValue(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

int OperatorUsage(const std::string& message) {
  std::fprintf(stderr, "otactl: %s\n", message.c_str());
  return 2;
}

std::optional<nlohmann::json> CallOperatorApi(const OperatorServerArgs& a,
                                              const std::string& method, const std::string& path,
                                              const nlohmann::json* body, int* exit_code) {
  auto url = OperatorServerUrl(a);
  if (!url.ok()) {
    *exit_code = OperatorUsage(url.error().message);
    return std::nullopt;
  }
  auto token = LoadOperatorToken(a);
  if (!token.ok()) {
    *exit_code = OperatorUsage(token.error().message);
    return std::nullopt;
  }
  {
    auto fs = MakePosixFileSystem();
    Status tls = ValidateTlsSettings(*fs, a.tls);
    if (!tls.ok()) {
      *exit_code = OperatorUsage(tls.error().message);
      return std::nullopt;
    }
  }
  HttpRequest req;
  req.method = method;
  req.url = *url + path;
  req.tls = a.tls;
  req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
  if (body != nullptr) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  req.max_body_bytes = 64u << 20;
  req.total_timeout = std::chrono::seconds(120);
  auto client = MakeCurlHttpClient();
  auto res = client->Fetch(req);
  if (!res.ok()) {
    *exit_code = Fail("cannot reach " + *url + ": " + res.error().message);
    return std::nullopt;
  }
  nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status < 200 || res->status >= 300) {
    std::string message =
        answer.is_object() && answer.contains("error") && answer["error"].is_string()
            ? answer["error"].get<std::string>()
            : res->body.substr(0, 200);
    *exit_code = Fail("HTTP " + std::to_string(res->status) + ": " + message);
    return std::nullopt;
  }
  if (answer.is_discarded() || !answer.is_object()) {
    *exit_code = Fail("the server's answer is not a JSON object");
    return std::nullopt;
  }
  return answer;
}

}  // namespace ota::tools
