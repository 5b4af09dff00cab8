// Building the drill's repository and releases with otactl.
#include "fleet.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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

std::string BundleFile(const DrillSite& site, const manifest::Version& v) {
  return site.Sub("bundles/" + manifest::ToString(v) + ".otab");
}

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

// Builds the bundle of release `v` from a model synthesized with `seed`;
// returns the model file's SHA-256.
Result<std::string> BuildRelease(const DrillSite& site, const manifest::Version& v, int seed) {
  const std::string version = manifest::ToString(v);
  OTA_TRY(RunOtactl(site, {"model", "synth", "--seed", std::to_string(seed), "--layers", "1",
                           "--width", "32", "--type", "f16", "--out", ModelFile(site, v)}));
  OTA_TRY(RunOtactl(
      site, {"bundle", "build", "--name", "chat", "--version", version, "--model",
             ModelFile(site, v), "--prompts", site.Sub("prompts"), "--out", BundleFile(site, v)}));
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(std::string bytes, fs->ReadFile(ModelFile(site, v), 1 << 30));
  return Sha256Hex(bytes);
}

std::vector<std::string> SigningKeys(const DrillSite& site) {
  return {"--targets-key",      site.Key("targets"), "--snapshot-key",
          site.Key("snapshot"), "--timestamp-key",   site.Key("timestamp")};
}

}  // namespace

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

Result<std::pair<std::string, std::string>> PrepareRepository(const DrillSite& site,
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
  OTA_TRY(PublishRelease(site, s.from));
  return std::make_pair(from_digest, to_digest);
}

Status PublishRelease(const DrillSite& site, const manifest::Version& version) {
  std::vector<std::string> publish = {"publish", "--repo", site.Sub("repo"), "--bundle",
                                      BundleFile(site, version)};
  for (const std::string& a : SigningKeys(site)) publish.push_back(a);
  return RunOtactl(site, publish);
}

nlohmann::json GroupFacts(const manifest::DrillGroup& group) {
  nlohmann::json facts = nlohmann::json::object();
  if (!group.tags.empty()) facts["tags"] = group.tags;
  if (!group.region.empty()) facts["region"] = group.region;
  if (!group.app_version.empty()) facts["app_version"] = group.app_version;
  return facts;
}

}  // namespace ota::drill
