// How otactl reaches ota-server's operator API: the base URL, the operator
// token and TLS trust, shared by the rollout, fleet and audit commands.
#ifndef OTA_TOOLS_SERVER_ARGS_H_
#define OTA_TOOLS_SERVER_ARGS_H_

#include <CLI/CLI.hpp>

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

}  // namespace ota::tools

#endif  // OTA_TOOLS_SERVER_ARGS_H_
