// How otactl reaches ota-server's operator API: the base URL, the operator
// token and TLS trust, shared by the rollout, fleet and audit commands.
#ifndef OTA_TOOLS_SERVER_ARGS_H_
#define OTA_TOOLS_SERVER_ARGS_H_

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ota/common/result.h"
#include "ota/common/tls.h"

namespace ota::tools {

struct OperatorServerArgs {
  std::string server;      // Default: $OTA_SERVER.
  std::string token_file;  // Default: $OTA_TOKEN.
  // TLS trust for an https server (docs/security.md, "TLS").
  TlsSettings tls;
};

// Adds --server, --token-file, --ca-bundle and --pin-sha256 to `cmd`.
void AddOperatorServerOptions(CLI::App& cmd, OperatorServerArgs& a);

// The token: --token-file, else $OTA_TOKEN. Never a command-line value, which
// other users could read from the process list. Errors: kInvalidArgument
// (none given, or characters a bearer token cannot hold), kIo.
Result<std::string> LoadOperatorToken(const OperatorServerArgs& a);

// The server's base URL (--server, else $OTA_SERVER) without a trailing
// slash. Errors: kInvalidArgument (none given, not http(s)).
Result<std::string> OperatorServerUrl(const OperatorServerArgs& a);

// `text` percent-encoded for a URL query value (RFC 3986 unreserved kept).
std::string UrlEncodeQueryValue(const std::string& text);

// Prints "otactl: <message>" and returns the usage exit code (2).
int OperatorUsage(const std::string& message);

// Sends `method` `path` (with a JSON `body` when not null) to the operator
// API with the token; returns the JSON object of a 2xx answer, or prints the
// server's error (or why no request was sent) and returns nullopt with
// *exit_code set.
std::optional<nlohmann::json> CallOperatorApi(const OperatorServerArgs& a,
                                              const std::string& method, const std::string& path,
                                              const nlohmann::json* body, int* exit_code);

}  // namespace ota::tools

#endif  // OTA_TOOLS_SERVER_ARGS_H_
