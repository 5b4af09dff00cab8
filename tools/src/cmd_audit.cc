// otactl audit verify: checks an audit export offline with public keys only
// (docs/audit.md). Exit codes: 0 verified, 1 tampered, 2 usage error,
// 3 unreadable (missing file, not an export, a key file that cannot be read).
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "ota/common/env.h"
#include "ota/verifier/audit_verify.h"
#include "ota/verifier/keys.h"

namespace ota::tools {
namespace {

constexpr int kAuditTampered = 1;
constexpr int kAuditUnreadable = 3;

struct AuditVerifyArgs {
  std::string file;
  std::vector<std::string> keys;
  bool json = false;
};

std::string CheckpointText(const verifier::AuditLogSummary& log) {
  return log.checkpoint_seq < 0 ? std::string("none") : "#" + std::to_string(log.checkpoint_seq);
}

void PrintVerified(const verifier::AuditVerifyResult& result) {
  auto source = result.logs.find(result.source);
  const verifier::AuditLogSummary empty;
  const verifier::AuditLogSummary& main = source == result.logs.end() ? empty : source->second;
  std::printf("verified %llu records, chain head %s, last checkpoint %s\n",
              static_cast<unsigned long long>(result.records),
              main.head.empty() ? "(none)" : main.head.c_str(), CheckpointText(main).c_str());
  for (const auto& [name, log] : result.logs) {
    std::printf(
        "  %s: records #%lld..#%lld (%llu shown, %llu omitted), head %.16s, last "
        "checkpoint %s\n",
        name.c_str(), static_cast<long long>(log.first_seq), static_cast<long long>(log.last_seq),
        static_cast<unsigned long long>(log.records), static_cast<unsigned long long>(log.omitted),
        log.head.c_str(), CheckpointText(log).c_str());
  }
}

void PrintJson(const verifier::AuditVerifyResult& result) {
  static constexpr const char* kVerdicts[] = {"verified", "tampered", "unreadable"};
  nlohmann::json j = {{"verdict", kVerdicts[static_cast<int>(result.verdict)]},
                      {"records", result.records},
                      {"source", result.source},
                      {"logs", nlohmann::json::object()}};
  if (result.verdict != verifier::AuditVerdict::kVerified) {
    j["line"] = result.line;
    j["problem"] = result.message;
  }
  for (const auto& [name, log] : result.logs) {
    j["logs"][name] = {{"first_seq", log.first_seq}, {"last_seq", log.last_seq},
                       {"head", log.head},           {"records", log.records},
                       {"omitted", log.omitted},     {"checkpoint_seq", log.checkpoint_seq}};
  }
  std::printf("%s\n", j.dump(2).c_str());
}

int RunAuditVerify(const AuditVerifyArgs& args) {
  auto owned = MakePosixEnv();
  std::vector<manifest::Key> keys;
  for (const std::string& path : args.keys) {
    auto key = verifier::LoadPublicKey(*owned->env().fs, path);
    if (!key.ok()) {
      std::fprintf(stderr, "otactl: key %s: %s\n", path.c_str(), key.error().message.c_str());
      return kAuditUnreadable;
    }
    keys.push_back(*key);
  }
  std::ifstream in(args.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "otactl: cannot open %s\n", args.file.c_str());
    return kAuditUnreadable;
  }
  const verifier::AuditVerifyResult result = verifier::VerifyAuditExport(in, keys);
  if (args.json) PrintJson(result);
  switch (result.verdict) {
    case verifier::AuditVerdict::kVerified:
      if (!args.json) PrintVerified(result);
      return 0;
    case verifier::AuditVerdict::kTampered:
      std::fprintf(stderr, "otactl: %s: tampered: line %llu: %s\n", args.file.c_str(),
                   static_cast<unsigned long long>(result.line), result.message.c_str());
      return kAuditTampered;
    case verifier::AuditVerdict::kUnreadable:
      break;
  }
  std::fprintf(stderr, "otactl: %s: unreadable: %s\n", args.file.c_str(), result.message.c_str());
  return kAuditUnreadable;
}

}  // namespace

void RegisterAuditVerifyCommand(CLI::App* audit, CommandRunner* selected) {
  auto args = std::make_shared<AuditVerifyArgs>();
  auto* verify = audit->add_subcommand(
      "verify",
      "Check an audit export with public keys only (exit 0 verified, 1 tampered, 3 unreadable)");
  verify->add_option("file", args->file, "The export (JSON Lines)")->required();
  verify
      ->add_option("--key", args->keys,
                   "A trusted public key file (the server's audit key, or a device's key for a "
                   "device export); repeatable")
      ->required();
  verify->add_flag("--json", args->json, "Print the result as JSON");
  verify->callback([args, selected] { *selected = [args] { return RunAuditVerify(*args); }; });
}

}  // namespace ota::tools
