#include "args.h"

#include <map>
#include <optional>
#include <utility>

namespace ota::tuf_client {
namespace {

Error Bad(const std::string& message) { return MakeError(ErrorCode::kInvalidArgument, message); }

// Which options each command requires (--target-name at least once).
const std::map<std::string, std::vector<std::string>>& OptionsOf() {
  static const auto* options = new std::map<std::string, std::vector<std::string>>{
      {"init", {"--metadata-dir"}},
      {"refresh", {"--metadata-dir", "--metadata-url"}},
      {"download",
       {"--metadata-dir", "--metadata-url", "--target-name", "--target-dir", "--target-base-url"}},
  };
  return *options;
}

bool KnownOption(const std::string& name) {
  return name == "--metadata-dir" || name == "--metadata-url" || name == "--target-name" ||
         name == "--target-dir" || name == "--target-base-url" || name == "--ca-bundle" ||
         name == "--pin-sha256";
}

// TLS options: optional for the commands that use the network.
bool RepeatableOption(const std::string& name) {
  return name == "--target-name" || name == "--pin-sha256";
}
bool TlsOption(const std::string& name) { return name == "--ca-bundle" || name == "--pin-sha256"; }

}  // namespace

const char* Usage() {
  return "usage:\n"
         "  ota-tuf-client --metadata-dir DIR init ROOT_FILE\n"
         "  ota-tuf-client --metadata-url URL --metadata-dir DIR refresh\n"
         "  ota-tuf-client --metadata-url URL --metadata-dir DIR --target-name PATH\n"
         "                 [--target-name PATH ...] --target-dir DIR --target-base-url URL "
         "download\n"
         "refresh and download take --ca-bundle FILE and --pin-sha256 DIGEST (repeatable) for "
         "https.\n"
         "Exit status: 0 on success, 1 on any failure.\n";
}

Result<Args> ParseArgs(const std::vector<std::string>& argv) {
  if (argv.size() == 1 && (argv[0] == "--help" || argv[0] == "-h")) return Args{};
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (!arg.starts_with("-")) {
      positional.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (const std::size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (!KnownOption(name)) return Bad("unknown option " + name);
    if (!value) {
      if (i + 1 >= argv.size()) return Bad(name + " needs a value");
      value = argv[++i];
    }
    if (value->empty()) return Bad(name + " needs a non-empty value");
    if (!RepeatableOption(name) && values.count(name) != 0) return Bad(name + " given twice");
    values[name].push_back(std::move(*value));
  }
  if (positional.empty()) return Bad("no command given (init, refresh or download)");
  const std::string& command = positional[0];
  auto allowed = OptionsOf().find(command);
  if (allowed == OptionsOf().end()) return Bad("unknown command " + command);
  const std::size_t operands = command == "init" ? 1 : 0;
  if (positional.size() != 1 + operands) {
    return Bad(command + (operands == 1 ? " takes exactly one ROOT_FILE" : " takes no operands"));
  }
  for (const auto& [name, list] : values) {
    bool used = TlsOption(name) && command != "init";
    for (const std::string& a : allowed->second) used = used || a == name;
    if (!used) return Bad(name + " is not used by " + command);
  }
  for (const std::string& name : allowed->second) {
    if (values.count(name) == 0) return Bad(command + " needs " + name);
  }
  Args args;
  auto one = [&](const char* name) { return values.count(name) ? values[name][0] : ""; };
  args.metadata_dir = one("--metadata-dir");
  args.metadata_url = one("--metadata-url");
  args.target_dir = one("--target-dir");
  args.target_base_url = one("--target-base-url");
  if (values.count("--target-name")) args.target_names = values["--target-name"];
  args.ca_bundle = one("--ca-bundle");
  if (values.count("--pin-sha256")) args.pins = values["--pin-sha256"];
  if (command == "init") {
    args.command = Command::kInit;
    args.trusted_root = positional[1];
  } else if (command == "refresh") {
    args.command = Command::kRefresh;
  } else {
    args.command = Command::kDownload;
  }
  return args;
}

}  // namespace ota::tuf_client
