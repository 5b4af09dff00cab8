// Building the drill's repository and releases with otactl.
#include "fleet.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"

extern char** environ;

namespace ota::drill {
namespace {

std::string ModelFile(const DrillSite& site, const manifest::Version& v) {
  return site.Sub("models/" + manifest::ToString(v) + ".gguf");
}

std::string BundleFile(const DrillSite& site, const manifest::Version& v,
                       const std::string& variant = "") {
  return site.Sub("bundles/" + manifest::ToString(v) + (variant.empty() ? "" : "-" + variant) +
                  ".otab");
}

// The real runtime's releases pass or fail the shadow gate for real: the new
// release is a fine-tune of the old one (a small perturbation of every
// weight), held to the requantization gate, which a model with a zeroed
// block fails.
constexpr char kRealShadowPolicy[] = R"({"gate": "requantization"})";

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

// Builds the bundle of release `v` (`variant`: one of its fault variants)
// from `model`, with `extra` build flags.
Status BuildBundle(const DrillSite& site, const manifest::Version& v, const std::string& variant,
                   const std::string& model, const std::vector<std::string>& extra) {
  std::vector<std::string> build = {"bundle",    "build",
                                    "--name",    "chat",
                                    "--version", manifest::ToString(v),
                                    "--model",   model,
                                    "--prompts", site.Sub("prompts")};
  build.insert(build.end(), extra.begin(), extra.end());
  build.insert(build.end(), {"--out", BundleFile(site, v, variant)});
  return RunOtactl(site, build);
}

// Builds the bundle of release `v` from a model synthesized with `seed`
// (real runtime: the old release's weights, perturbed for the new one);
// returns the model file's SHA-256.
Result<std::string> BuildRelease(const DrillSite& site, const manifest::Version& v, int seed) {
  std::vector<std::string> synth = {"model",    "synth", "--seed",  std::to_string(seed),
                                    "--layers", "1",     "--width", "32",
                                    "--type",   "f16"};
  std::vector<std::string> build;
  if (site.real_runtime) {
    synth = {"model", "synth", "--seed", "1", "--layers", "2", "--width", "64", "--type", "f16"};
    if (seed != 1) synth.insert(synth.end(), {"--noise", "0.01", "--noise-seed", "7"});
    build = {"--shadow-policy", kRealShadowPolicy};
  }
  synth.insert(synth.end(), {"--out", ModelFile(site, v)});
  OTA_TRY(RunOtactl(site, synth));
  OTA_TRY(BuildBundle(site, v, "", ModelFile(site, v), build));
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(std::string bytes, fs->ReadFile(ModelFile(site, v), 1 << 30));
  return Sha256Hex(bytes);
}

// The real runtime's faulty variants of the new release: a model with a
// zeroed block (its shadow test fails) and a file that is no model at all
// (it does not load; the default shadow test stops it before any switch).
Status BuildFaultVariants(DrillSite& site, const manifest::DrillScenario& s) {
  auto has = [&](manifest::DrillFaultKind kind) {
    return std::any_of(s.faults.begin(), s.faults.end(),
                       [&](const manifest::DrillFault& f) { return f.kind == kind; });
  };
  if (has(manifest::DrillFaultKind::kShadowFail)) {
    const std::string model = site.Sub("models/broken-shadow.gguf");
    OTA_TRY(RunOtactl(site, {"model", "synth", "--seed", "1", "--layers", "2", "--width", "64",
                             "--type", "f16", "--break", "zero-layer:1", "--out", model}));
    OTA_TRY(
        BuildBundle(site, s.to, kShadowFailVariant, model, {"--shadow-policy", kRealShadowPolicy}));
    site.fault_variants.push_back(kShadowFailVariant);
  }
  if (has(manifest::DrillFaultKind::kLoadFail)) {
    const std::string model = site.Sub("models/unloadable.gguf");
    auto fs = MakePosixFileSystem();
    OTA_TRY(WriteFileAtomic(*fs, model, std::string(4096, 'x'), 0644));
    OTA_TRY(BuildBundle(site, s.to, kLoadFailVariant, model, {}));
    site.fault_variants.push_back(kLoadFailVariant);
  }
  return Ok();
}

std::vector<std::string> SigningKeys(const DrillSite& site) {
  return {"--targets-key",      site.Key("targets"), "--snapshot-key",
          site.Key("snapshot"), "--timestamp-key",   site.Key("timestamp")};
}

}  // namespace

std::uint64_t DeviceSeed(std::uint64_t seed, std::size_t index) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (static_cast<std::uint64_t>(index) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Result<HttpResponse> PerThreadHttpClient::Fetch(const HttpRequest& request,
                                                const HttpBodySink& sink) {
  HttpClient* client = nullptr;
  {
    std::lock_guard lock(mu_);
    std::unique_ptr<HttpClient>& mine = clients_[std::this_thread::get_id()];
    if (!mine) mine = MakeCurlHttpClient();
    client = mine.get();
  }
  return client->Fetch(request, sink);
}

Status RunOtactl(const DrillSite& site, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {site.otactl};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const std::string log = site.Sub("setup.log");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, site.otactl.c_str(), &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return MakeError(ErrorCode::kInternal, "cannot start " + site.otactl);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return MakeError(ErrorCode::kInternal, "lost otactl " + args.front());
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return MakeError(
        ErrorCode::kInternal,
        "otactl " + args.front() + " failed while preparing the drill: " + LogTail(log));
  }
  return Ok();
}

Result<std::pair<std::string, std::string>> PrepareRepository(DrillSite& site,
                                                              const manifest::DrillScenario& s) {
  auto fs = MakePosixFileSystem();
  for (const char* sub : {"keys", "models", "bundles", "prompts", "publish", "devices"}) {
    OTA_TRY(fs->CreateDirs(site.Sub(sub)));
  }
  OTA_TRY(WriteFileAtomic(*fs, site.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n", 0644));
  for (const char* role : {"root", "targets", "snapshot", "timestamp", "rollouts"}) {
    OTA_TRY(RunOtactl(site, {"keygen", "--out", site.Key(role)}));
  }
  std::vector<std::string> init = {"repo",           "init",       "--repo",
                                   site.Sub("repo"), "--root-key", site.Key("root")};
  for (const std::string& a : SigningKeys(site)) init.push_back(a);
  OTA_TRY(RunOtactl(site, init));
  std::vector<std::string> delegate = {"repo",    "delegate",  "--repo", site.Sub("repo"),
                                       "--name",  "rollouts",  "--key",  site.Key("rollouts"),
                                       "--paths", "rollouts/*"};
  for (const std::string& a : SigningKeys(site)) delegate.push_back(a);
  OTA_TRY(RunOtactl(site, delegate));
  OTA_ASSIGN_OR_RETURN(std::string from_digest, BuildRelease(site, s.from, 1));
  OTA_ASSIGN_OR_RETURN(std::string to_digest, BuildRelease(site, s.to, 2));
  if (site.real_runtime) OTA_TRY(BuildFaultVariants(site, s));
  OTA_TRY(PublishRelease(site, s.from));
  return std::make_pair(from_digest, to_digest);
}

Status PublishRelease(const DrillSite& site, const manifest::Version& version,
                      bool with_fault_variants) {
  auto publish = [&](const std::string& variant, const std::vector<std::string>& fields) {
    std::vector<std::string> args = {"publish", "--repo", site.Sub("repo"), "--bundle",
                                     BundleFile(site, version, variant)};
    args.insert(args.end(), fields.begin(), fields.end());
    for (const std::string& a : SigningKeys(site)) args.push_back(a);
    return RunOtactl(site, args);
  };
  if (!with_fault_variants || site.fault_variants.empty()) return publish("", {});
  // A device takes the variants its facts name as accelerators: the standard
  // one, or those of the faults that hit it (the shadow test's first).
  auto requires_itself = [](const std::string& v) {
    return nlohmann::json({{"accelerators", {v}}}).dump();
  };
  OTA_TRY(publish("", {"--variant", kStandardVariant, "--rank", "0", "--requires",
                       requires_itself(kStandardVariant)}));
  for (const std::string& v : site.fault_variants) {
    OTA_TRY(publish(v, {"--variant", v, "--rank", v == kShadowFailVariant ? "20" : "10",
                        "--requires", requires_itself(v)}));
  }
  return Ok();
}

nlohmann::json GroupFacts(const manifest::DrillGroup& group) {
  nlohmann::json facts = nlohmann::json::object();
  if (!group.tags.empty()) facts["tags"] = group.tags;
  if (!group.region.empty()) facts["region"] = group.region;
  if (!group.app_version.empty()) facts["app_version"] = group.app_version;
  return facts;
}

}  // namespace ota::drill
