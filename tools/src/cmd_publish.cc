// otactl publish: add a bundle (or any file) to the repository as a signed
// target, in top-level targets or in a delegated role such as rollouts; or
// every variant of a release at once (--variants-from).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "key_args.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/download_policy.h"
#include "ota/manifest/variant_requirements.h"
#include "ota/manifest/version.h"
#include "ota/repo/publish_hook.h"
#include "ota/repo/repo.h"
#include "variant_set.h"

namespace ota::tools {
namespace {

struct PublishArgs {
  std::string repo;
  std::string bundle;
  std::string file;
  std::string target;
  std::string role = "targets";
  std::string key;       // Delegated role's key.
  std::string delta_of;  // Full target a delta bundle rebuilds.
  RoleKeyPaths keys;
  std::vector<std::string> expires_in;
  bool replace = false;
  bool sha512 = false;  // List each target's sha512 beside its sha256.
  // Variant fields (docs/formats.md, "Variants and requirements").
  std::string variant;
  std::int64_t rank = 0;
  std::string requires_json;
  // A folder written by otactl variants build: publish its variant set.
  std::string variants_from;
  // Run for each file the publish put in place (ota/repo/publish_hook.h).
  std::string hook;
  // A JSON file: the bundle's download policy (ota/manifest/download_policy.h).
  std::string download_policy_file;

  const std::string& source() const { return bundle.empty() ? file : bundle; }
};

// Top-level targets: published when the targets key meets the threshold
// alone (all targets in one new targets version), else staged for signing in
// steps.
int PublishToTargets(Env& env, const PublishArgs& args, const std::vector<repo::NewTarget>& added,
                     const ota::repo::ExpiryPolicy& policy) {
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  auto st = ota::repo::LoadRepository(env, args.repo);
  if (!st.ok()) return Fail(st.error().message);
  const ota::repo::RepoKeys k = keys->keys();
  const manifest::Role& role = st->root.roles.at("targets");
  const bool direct = k.targets != nullptr && role.threshold == 1;
  if (direct) {
    if (k.snapshot == nullptr || k.timestamp == nullptr) {
      return Fail("publishing needs --snapshot-key and --timestamp-key");
    }
    Status s = ota::repo::AddTargets(env, args.repo, added, k, policy, args.replace);
    if (!s.ok()) return Fail(s.error().message);
    for (const repo::NewTarget& t : added) std::printf("published target %s\n", t.path.c_str());
    return 0;
  }
  std::vector<const verifier::PrivateKey*> signers;
  if (k.targets != nullptr) signers.push_back(k.targets);
  for (const repo::NewTarget& t : added) {
    Status s = ota::repo::StageTarget(env, args.repo, t.path, t.source_file, t.custom, signers,
                                      policy, args.replace, args.sha512);
    if (!s.ok()) return Fail(s.error().message);
    std::printf("staged target %s in %s/metadata/staged/targets.json\n", t.path.c_str(),
                args.repo.c_str());
  }
  PrintStagedStatus(env, args.repo, "targets");
  return 0;
}

// The container head's length and digest, signed so that a device checks
// each chunk of a download as it arrives (docs/formats.md).
nlohmann::json HeadJson(const bundle::ContainerHead& head) {
  return {{"length", head.length}, {"sha256", head.sha256}};
}

// custom.modelota variant fields: name, rank, requirements and the unpacked
// size (the bundle's files plus bundle.json), checked as the agent reads them.
Result<nlohmann::json> VariantFields(const std::string& variant, std::int64_t rank,
                                     const nlohmann::json& requirements,
                                     const manifest::BundleManifest& manifest) {
  nlohmann::json fields = nlohmann::json::object();
  if (!variant.empty()) fields["variant"] = variant;
  if (rank != 0) fields["rank"] = rank;
  std::uint64_t unpacked = manifest::SerializeBundleManifest(manifest).size();
  for (const manifest::BundleFile& f : manifest.files) unpacked += f.size;
  fields["unpacked_size"] = unpacked;
  if (!requirements.is_null()) fields["requires"] = requirements;
  auto checked = manifest::ParseVariantInfo(fields);
  if (!checked.ok()) return MakeError(ErrorCode::kInvalidArgument, checked.error().message);
  return fields;
}

// --download-policy: the file's policy as it will be signed (null when the
// option was not given), checked as the agent reads it.
Result<nlohmann::json> DownloadPolicyJson(Env& env, const std::string& path) {
  if (path.empty()) return nlohmann::json();
  OTA_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path, 1 << 20));
  auto parsed = manifest::ParseJsonStrict(text);
  if (!parsed.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--download-policy " + path + ": " + parsed.error().message);
  }
  auto policy = manifest::ParseDownloadPolicy(*parsed, "--download-policy " + path);
  if (!policy.ok()) return std::move(policy).error();
  return manifest::ToJson(*policy);
}

// custom.modelota of a full bundle, with its variant fields and download
// policy (null: none).
Result<nlohmann::json> FullBundleCustom(const bundle::BundleInfo& info,
                                        const nlohmann::json& variant_fields,
                                        const nlohmann::json& download_policy) {
  nlohmann::json custom = {{"modelota",
                            {{"kind", "bundle"},
                             {"name", info.manifest.name},
                             {"version", manifest::ToString(info.manifest.version)},
                             {"bundle_format", info.format_version},
                             {"head", HeadJson(info.head)}}}};
  custom["modelota"].update(variant_fields);
  if (!download_policy.is_null()) custom["modelota"]["download_policy"] = download_policy;
  return custom;
}

// A compact delta names only the first 16 hex digits of its base's id and
// carries its target's bundle.json as an edit of the base's. The facts the
// agent needs to apply it (both ids, the target bundle.json's SHA-256) are
// taken from the full bundles published in this repository, and checked
// (the edit must rebuild the target's bundle.json from the base's) before
// they are signed.
Result<nlohmann::json> CompactDeltaCustom(Env& env, const PublishArgs& args,
                                          const bundle::CompactDeltaInfo& info,
                                          std::string& target) {
  OTA_ASSIGN_OR_RETURN(ota::repo::RepoState st, ota::repo::LoadRepository(env, args.repo));
  const std::string* base_path = nullptr;
  const manifest::TargetFile* base = nullptr;
  for (const auto& [path, file] : st.targets.targets) {
    auto sha = file.hashes.find("sha256");
    if (!file.custom.is_object() || !file.custom.contains("modelota") || sha == file.hashes.end() ||
        !sha->second.starts_with(info.base_id_prefix)) {
      continue;
    }
    if (base != nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "the compact delta's base id " + info.base_id_prefix + "... matches both " +
                           *base_path + " and " + path + "; build the delta with --form container");
    }
    base_path = &path;
    base = &file;
  }
  if (base == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the compact delta's base (id " + info.base_id_prefix +
                         "...) is not a bundle published in this repository; publish it first, "
                         "or build the delta with --form container");
  }
  const std::string base_id = base->hashes.at("sha256");
  auto base_info = bundle::ReadBundleHeader(
      *env.fs, ota::repo::TargetFileInRepository(args.repo, st, *base_path, *base));
  if (!base_info.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, *base_path + ": " + base_info.error().message);
  }
  auto rebuilt = bundle::CompactDeltaTargetManifest(*env.fs, args.bundle, base_info->manifest);
  if (!rebuilt.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "not a delta of " + *base_path + ": " + rebuilt.error().message);
  }
  const std::string version = manifest::ToString(rebuilt->version);
  const std::string delta_of =
      args.delta_of.empty() ? "bundles/" + rebuilt->name + "/" + version + ".otab" : args.delta_of;
  auto full = st.targets.targets.find(delta_of);
  if (full == st.targets.targets.end() || !full->second.hashes.contains("sha256")) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "publish the full bundle " + delta_of +
                         " first: a compact delta's signed metadata is taken from it");
  }
  auto full_info = bundle::ReadBundleHeader(
      *env.fs, ota::repo::TargetFileInRepository(args.repo, st, delta_of, full->second));
  if (!full_info.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, delta_of + ": " + full_info.error().message);
  }
  if (manifest::SerializeBundleManifest(full_info->manifest) !=
      manifest::SerializeBundleManifest(*rebuilt)) {
    return MakeError(ErrorCode::kInvalidArgument, "the delta does not rebuild the bundle.json of " +
                                                      delta_of + " from that of " + *base_path);
  }
  if (target.empty()) {
    target = "deltas/" + rebuilt->name + "/" + version + "-from-" + base_id.substr(0, 16) + ".otad";
  }
  return nlohmann::json{{"modelota_compact_delta",
                         {{"name", rebuilt->name},
                          {"version", version},
                          {"delta_from", base_id},
                          {"delta_to", full->second.hashes.at("sha256")},
                          {"delta_of", delta_of},
                          {"manifest_sha256", bundle::ManifestSha256(*rebuilt)}}}};
}

// otactl publish --variants-from DIR: every bundle of DIR/variants.json as a
// variant of one release, in one new targets version.
int RunPublishVariants(Env& env, const PublishArgs& args) {
  if (!args.bundle.empty() || !args.file.empty() || !args.target.empty() || !args.variant.empty() ||
      args.rank != 0 || !args.requires_json.empty() || !args.delta_of.empty()) {
    return Fail(
        "--variants-from takes the bundles and their variant fields from variants.json; it "
        "cannot be combined with --bundle, --file, --target, --variant, --rank, --requires or "
        "--delta-of");
  }
  if (args.role != "targets") return Fail("--variants-from publishes to the targets role only");
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  auto download_policy = DownloadPolicyJson(env, args.download_policy_file);
  if (!download_policy.ok()) return Fail(download_policy.error().message);
  const std::string set_path = JoinPath(args.variants_from, std::string(kVariantSetFile));
  auto text = env.fs->ReadFile(set_path, 1 << 20);
  if (!text.ok()) return Fail(set_path + ": " + text.error().message);
  auto set = ParseVariantSet(*text);
  if (!set.ok()) return Fail(set_path + ": " + set.error().message);
  std::vector<repo::NewTarget> added;
  for (const VariantSetEntry& entry : set->variants) {
    const std::string path = JoinPath(args.variants_from, entry.bundle);
    auto info = bundle::ReadBundleHeader(*env.fs, path);
    if (!info.ok()) return Fail(path + ": not a valid bundle: " + info.error().message);
    const std::string version = manifest::ToString(info->manifest.version);
    if (info->delta || info->manifest.name != set->name || version != set->version) {
      return Fail(path + " is not a full bundle of " + set->name + " " + set->version +
                  " as variants.json says");
    }
    auto fields = VariantFields(entry.variant, entry.rank, entry.requirements, info->manifest);
    if (!fields.ok()) return Fail(path + ": " + fields.error().message);
    auto custom = FullBundleCustom(*info, *fields, *download_policy);
    if (!custom.ok()) return Fail(custom.error().message);
    added.push_back(
        repo::NewTarget{"bundles/" + set->name + "/" + version + "-" + entry.variant + ".otab",
                        path, *custom, args.sha512});
  }
  return PublishToTargets(env, args, added, *policy);
}

int RunPublish(Env& env, const PublishArgs& args) {
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  auto download_policy = DownloadPolicyJson(env, args.download_policy_file);
  if (!download_policy.ok()) return Fail(download_policy.error().message);
  const bool full_only = !args.variant.empty() || args.rank != 0 || !args.requires_json.empty() ||
                         !args.download_policy_file.empty();
  std::string target = args.target;
  nlohmann::json custom;
  std::optional<bundle::CompactDeltaInfo> compact;
  if (!args.bundle.empty()) {
    auto read = bundle::ReadCompactDeltaInfo(*env.fs, args.bundle);
    if (!read.ok()) return Fail("not a valid compact delta: " + read.error().message);
    compact = std::move(read).value();
  }
  if (compact) {
    if (full_only) {
      return Fail(
          "--variant, --rank, --requires and --download-policy describe full bundles, not "
          "deltas");
    }
    auto c = CompactDeltaCustom(env, args, *compact, target);
    if (!c.ok()) return Fail(c.error().message);
    custom = std::move(c).value();
  } else if (!args.bundle.empty()) {
    // The header is verified as far as it can be before it goes out signed.
    auto info = bundle::ReadBundleHeader(*env.fs, args.bundle);
    if (!info.ok()) return Fail("not a valid bundle: " + info.error().message);
    const std::string version = manifest::ToString(info->manifest.version);
    const std::string full = "bundles/" + info->manifest.name + "/" + version +
                             (args.variant.empty() ? "" : "-" + args.variant) + ".otab";
    if (info->delta) {
      if (full_only) {
        return Fail(
            "--variant, --rank, --requires and --download-policy describe full bundles, not "
            "deltas");
      }
      // Under its own key: agents that do not know deltas never take one for
      // a full bundle.
      if (target.empty()) {
        target = "deltas/" + info->manifest.name + "/" + version + "-from-" +
                 info->delta->base_id.substr(0, 16) + ".otad";
      }
      custom = {{"modelota_delta",
                 {{"name", info->manifest.name},
                  {"version", version},
                  {"delta_from", info->delta->base_id},
                  {"delta_to", info->delta->target_id},
                  {"delta_of", args.delta_of.empty() ? full : args.delta_of},
                  {"head", HeadJson(info->head)}}}};
    } else {
      if (target.empty()) target = full;
      nlohmann::json requirements;
      if (!args.requires_json.empty()) {
        auto parsed = manifest::ParseJsonStrict(args.requires_json);
        if (!parsed.ok()) return Fail("--requires: " + parsed.error().message);
        requirements = *std::move(parsed);
      }
      auto variant = VariantFields(args.variant, args.rank, requirements, info->manifest);
      if (!variant.ok()) return Fail(variant.error().message);
      auto full_custom = FullBundleCustom(*info, *variant, *download_policy);
      if (!full_custom.ok()) return Fail(full_custom.error().message);
      custom = *std::move(full_custom);
    }
  } else if (target.empty()) {
    return Fail("--file needs --target (the target path to publish it as)");
  } else if (full_only) {
    return Fail("--variant, --rank, --requires and --download-policy describe bundles, not files");
  }
  if (args.role == "targets") {
    if (!args.key.empty()) return Fail("--key is for delegated roles; use --targets-key");
    return PublishToTargets(env, args,
                            {repo::NewTarget{target, args.source(), custom, args.sha512}}, *policy);
  }
  if (args.key.empty()) return Fail("publishing to role " + args.role + " needs --key");
  if (!args.keys.targets.empty()) {
    return Fail("--targets-key is not used when publishing to role " + args.role);
  }
  auto role_key = verifier::LoadPrivateKey(*env.fs, args.key);
  if (!role_key.ok()) return Fail(role_key.error().message);
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  if (args.keys.snapshot.empty() || args.keys.timestamp.empty()) {
    return Fail("publishing needs --snapshot-key and --timestamp-key");
  }
  Status s = ota::repo::PublishDelegatedTarget(env, args.repo, args.role, target, args.source(),
                                               custom, *role_key, keys->keys(), *policy,
                                               args.replace, args.sha512);
  if (!s.ok()) return Fail(s.error().message);
  std::printf("published target %s in role %s\n", target.c_str(), args.role.c_str());
  return 0;
}

}  // namespace

void RegisterPublishCommand(CLI::App& app, CommandRunner* selected) {
  auto args = std::make_shared<PublishArgs>();
  auto* cmd = app.add_subcommand(
      "publish",
      "Sign a bundle or file into the repository's targets (staged when the targets key is "
      "offline) or into a delegated role");
  cmd->add_option("--repo", args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* bundle = cmd->add_option("--bundle", args->bundle, "Bundle file")->check(CLI::ExistingFile);
  auto* file = cmd->add_option("--file", args->file, "Any file (e.g. a rollout manifest)")
                   ->check(CLI::ExistingFile);
  bundle->excludes(file);
  file->excludes(bundle);
  cmd->add_option("--target", args->target,
                  "Target path (default for bundles: bundles/<name>/<version>.otab)");
  cmd->add_option("--role", args->role,
                  "Role to publish in: targets (default) or a delegated role");
  cmd->add_option("--key", args->key, "Private key file of the delegated role (with --role)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--targets-key", args->keys.targets,
                  "Private key file of the targets role; without it (or below threshold) the "
                  "change is staged for otactl sign and otactl repo commit")
      ->check(CLI::ExistingFile);
  cmd->add_option("--snapshot-key", args->keys.snapshot, "Private key file of the snapshot role")
      ->check(CLI::ExistingFile);
  cmd->add_option("--timestamp-key", args->keys.timestamp, "Private key file of the timestamp role")
      ->check(CLI::ExistingFile);
  cmd->add_option("--delta-of", args->delta_of,
                  "For a delta bundle: target path of the full bundle it rebuilds (default "
                  "bundles/<name>/<version>.otab)");
  cmd->add_flag("--replace", args->replace, "Replace an existing target with different content");
  cmd->add_flag("--sha512", args->sha512,
                "List each target's SHA-512 beside its SHA-256 (devices then compute both as "
                "they download; SHA-256 alone is the default)");
  cmd->add_option("--variant", args->variant,
                  "Variant name of this bundle (e.g. q4); the default target path gets -<variant>");
  cmd->add_option("--rank", args->rank, "Variant preference: devices take the highest that fits");
  cmd->add_option("--requires", args->requires_json,
                  "Variant requirements as JSON, e.g. '{\"min_ram\": 6442450944}' "
                  "(docs/formats.md)");
  cmd->add_option("--variants-from", args->variants_from,
                  "Folder written by otactl variants build: publish every bundle its "
                  "variants.json lists, as variants of one release, in one targets version")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--hook", args->hook,
                  "Executable run as HOOK REPO RELATIVE_PATH for each file the publish writes, in "
                  "write order (targets first, timestamp last), e.g. to copy it to a CDN origin");
  cmd->add_option("--download-policy", args->download_policy_file,
                  "JSON file: when devices may download this bundle (network, charging, idle, "
                  "battery, time windows, bandwidth cap; docs/formats.md \"Download policy\")")
      ->check(CLI::ExistingFile);
  AddExpiresInOption(*cmd, args->expires_in);
  cmd->callback([args, selected] {
    *selected = [args] {
      if (args->variants_from.empty() && args->bundle.empty() && args->file.empty()) {
        return Fail("give --bundle, --file or --variants-from");
      }
      auto owned = MakePosixEnv();
      // The files put in place, in order, for the hook.
      repo::RecordingFileSystem recording(*owned->env().fs);
      Env env = owned->env();
      env.fs = &recording;
      const int rc =
          args->variants_from.empty() ? RunPublish(env, *args) : RunPublishVariants(env, *args);
      if (rc != 0) return rc;
      Status hooked = repo::RunPublishHook(args->hook, args->repo, recording.placed());
      if (!hooked.ok()) return Fail(hooked.error().message);
      return 0;
    };
  });
}

}  // namespace ota::tools
