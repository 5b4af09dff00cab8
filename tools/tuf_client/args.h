// Command line of ota-tuf-client, the TUF conformance client. The protocol is
// the client CLI of the public TUF conformance suite:
//
//   ota-tuf-client --metadata-dir DIR init ROOT_FILE
//   ota-tuf-client --metadata-url URL --metadata-dir DIR refresh
//   ota-tuf-client --metadata-url URL --metadata-dir DIR --target-name PATH
//                  [--target-name PATH2 ...] --target-dir TDIR
//                  --target-base-url TURL download
//
// refresh and download also take the TLS options of every ModelOTA client
// (docs/security.md "TLS"): --ca-bundle FILE (PEM CAs to trust instead of
// the system store) and --pin-sha256 DIGEST (repeatable: the server's key
// must match one). Options may come in any order, as "--name value" or
// "--name=value".
#ifndef OTA_TOOLS_TUF_CLIENT_ARGS_H_
#define OTA_TOOLS_TUF_CLIENT_ARGS_H_

#include <string>
#include <vector>

#include "ota/common/result.h"

namespace ota::tuf_client {

enum class Command { kHelp, kInit, kRefresh, kDownload };

struct Args {
  Command command = Command::kHelp;
  std::string metadata_dir;
  std::string metadata_url;
  std::string trusted_root;  // init's ROOT_FILE.
  std::vector<std::string> target_names;
  std::string target_dir;
  std::string target_base_url;
  std::string ca_bundle;
  std::vector<std::string> pins;
};

// Parses argv[1..]. "--help" alone gives Command::kHelp. Errors:
// kInvalidArgument naming the problem (unknown or repeated option, missing
// value, missing or unknown command, an option the command does not use, a
// required option absent).
Result<Args> ParseArgs(const std::vector<std::string>& argv);

// The usage text printed for --help and after argument errors.
const char* Usage();

}  // namespace ota::tuf_client

#endif  // OTA_TOOLS_TUF_CLIENT_ARGS_H_
