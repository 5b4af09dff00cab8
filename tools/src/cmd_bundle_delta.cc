// otactl bundle delta: a delta bundle between two full bundles.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "ota/manifest/version.h"

namespace ota::tools {
namespace {

struct DeltaArgs {
  std::string from;
  std::string to;
  std::string out;
  std::string key;  // Private key that opens encrypted inputs.
  std::vector<std::string> recipients;
  std::uint64_t window = bundle::kDefaultDeltaWindow;
  int level = 19;
  int prefix_level = 15;
  bool unencrypted = false;
  std::string form = "auto";
};

Result<std::string> FileSha256(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  Hasher hasher(HashAlgorithm::kSha256);
  std::vector<std::uint8_t> piece(1u << 20);
  std::uint64_t offset = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(offset, piece));
    if (n == 0) break;
    hasher.Update(std::span<const std::uint8_t>(piece.data(), n));
    offset += n;
  }
  return hasher.FinishHex();
}

Result<bundle::DeltaStats> Make(Env& env, const DeltaArgs& args, const std::string& from_dir,
                                const std::string& to_dir) {
  FileSystem& fs = *env.fs;
  OTA_ASSIGN_OR_RETURN(bundle::BundleInfo from, bundle::ReadBundleHeader(fs, args.from));
  OTA_ASSIGN_OR_RETURN(bundle::BundleInfo to, bundle::ReadBundleHeader(fs, args.to));
  if (from.delta || to.delta) {
    return MakeError(ErrorCode::kInvalidArgument, "--from and --to must be full bundles");
  }
  if (from.manifest.name != to.manifest.name) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--from holds " + from.manifest.name + " but --to holds " + to.manifest.name);
  }
  bundle::DeltaOptions options;
  options.window = args.window;
  options.level = args.level;
  options.prefix_level = args.prefix_level;
  options.form = args.form == "compact"     ? bundle::DeltaForm::kCompact
                 : args.form == "container" ? bundle::DeltaForm::kContainer
                                            : bundle::DeltaForm::kAuto;
  for (const std::string& path : args.recipients) {
    OTA_ASSIGN_OR_RETURN(auto key, bundle::LoadRecipientPublicKey(fs, path));
    options.container.recipients.push_back(std::move(key));
  }
  if (to.encrypted && options.container.recipients.empty() && !args.unencrypted) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--to is encrypted: give the same --recipient keys (or --unencrypted to "
                     "publish the delta in the clear on purpose)");
  }
  std::optional<bundle::RecipientPrivateKey> key;
  if (!args.key.empty()) {
    OTA_ASSIGN_OR_RETURN(key, bundle::LoadRecipientPrivateKey(fs, args.key));
  }
  OTA_ASSIGN_OR_RETURN(options.base_id, FileSha256(fs, args.from));
  OTA_ASSIGN_OR_RETURN(options.target_id, FileSha256(fs, args.to));
  OTA_TRY(bundle::UnpackBundleFile(fs, args.from, from_dir, {}, key));
  OTA_TRY(bundle::UnpackBundleFile(fs, args.to, to_dir, {}, key));
  return bundle::BuildDelta(fs, from_dir, to_dir, args.out, options);
}

int RunDelta(const DeltaArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  // Plaintext copies of both versions live next to the output only while
  // the delta is built.
  const std::string from_dir = args.out + ".from.tmp";
  const std::string to_dir = args.out + ".to.tmp";
  (void)env.fs->RemoveAll(from_dir);
  (void)env.fs->RemoveAll(to_dir);
  auto stats = Make(env, args, from_dir, to_dir);
  (void)env.fs->RemoveAll(from_dir);
  (void)env.fs->RemoveAll(to_dir);
  if (!stats.ok()) return Fail(stats.error().message);
  auto size = env.fs->FileSize(args.out);
  const auto mib = [](std::uint64_t b) { return static_cast<double>(b) / (1 << 20); };
  std::printf("built %s delta %s (%llu bytes) for %.1f MiB of target files\n",
              stats->compact ? "compact" : "container", args.out.c_str(),
              static_cast<unsigned long long>(size.ok() ? *size : 0), mib(stats->target_bytes));
  std::printf(
      "  copied %.1f MiB, differenced %.1f MiB, prefix-coded %.1f MiB, literal %.1f MiB; "
      "%zu tensors matched by name\n",
      mib(stats->copied), mib(stats->differenced), mib(stats->prefixed), mib(stats->literal),
      stats->tensors_matched);
  return 0;
}

}  // namespace

void RegisterBundleDeltaCommand(CLI::App& group, CommandRunner* selected) {
  auto args = std::make_shared<DeltaArgs>();
  auto* cmd = group.add_subcommand(
      "delta", "Build a delta bundle that turns the --from version into the --to version");
  cmd->add_option("--from", args->from, "Full bundle the devices have installed")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--to", args->to, "Full bundle of the new version")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Delta bundle file to write")->required();
  cmd->add_option("--key", args->key,
                  "X25519 private key file that opens encrypted --from/--to bundles (a fleet key)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--recipient", args->recipients,
                  "X25519 public key file to encrypt the delta to; repeatable")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--unencrypted", args->unencrypted,
                "Allow an unencrypted delta of an encrypted bundle");
  cmd->add_option("--window", args->window, "Output bytes per delta window")
      ->check(CLI::Range(std::uint64_t{64} << 10, bundle::kMaxDeltaWindow));
  cmd->add_option("--level", args->level, "zstd level of differences and literals")
      ->check(CLI::Range(1, 22));
  cmd->add_option("--prefix-level", args->prefix_level, "zstd level of prefix-coded windows")
      ->check(CLI::Range(1, 22));
  cmd->add_option("--form", args->form,
                  "auto (default: compact when unencrypted, one chunk and smaller), container or "
                  "compact (docs/formats.md)")
      ->check(CLI::IsMember({"auto", "container", "compact"}));
  cmd->callback([args, selected] { *selected = [args] { return RunDelta(*args); }; });
}

}  // namespace ota::tools
