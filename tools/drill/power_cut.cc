#include "power_cut.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "ota/agent/sessions.h"
#include "ota/common/dropping_fs.h"
#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::drill {
namespace {

// The SQLite files of a state folder: written behind the filesystem seam.
std::vector<std::string> DatabaseFiles(const std::string& state_dir) {
  std::vector<std::string> out;
  for (const char* db : {"agent.db", agent::kSessionsDbFile}) {
    out.push_back(JoinPath(state_dir, db));
    out.push_back(JoinPath(state_dir, std::string(db) + "-wal"));
  }
  return out;
}

// The shared-memory indexes are rebuilt from the WAL by the next open.
Status RemoveSharedMemory(FileSystem& fs, const std::string& state_dir) {
  for (const char* db : {"agent.db", agent::kSessionsDbFile}) {
    OTA_TRY(fs.RemoveAll(JoinPath(state_dir, std::string(db) + "-shm")));
  }
  return Ok();
}

// The network as a device whose power went off sees it: nothing once the
// filesystem says the power is lost.
class DarkAfterCutHttp : public HttpClient {
 public:
  DarkAfterCutHttp(HttpClient& base, const DroppingFileSystem& power)
      : base_(base), power_(power) {}
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    if (power_.power_lost()) return MakeError(ErrorCode::kRetryLater, "power lost");
    return base_.Fetch(request, sink);
  }

 private:
  HttpClient& base_;
  const DroppingFileSystem& power_;
};

// A rehearsal fetches what the device would fetch and sends nothing.
class FetchOnlyHttp : public HttpClient {
 public:
  explicit FetchOnlyHttp(HttpClient& base) : base_(base) {}
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    if (request.method != "GET" && request.method != "HEAD" && !request.method.empty()) {
      return MakeError(ErrorCode::kRetryLater, "a rehearsal sends nothing");
    }
    return base_.Fetch(request, sink);
  }

 private:
  HttpClient& base_;
};

bool Deployed(const std::vector<agent::UpdateOutcome>& outcomes) {
  for (const agent::UpdateOutcome& o : outcomes) {
    // Switched (and perhaps confirming), or stopped on the way.
    if (!o.to_version.empty() && (o.confirming || o.kind == agent::UpdateOutcome::Kind::kUpdated ||
                                  o.kind == agent::UpdateOutcome::Kind::kFailed)) {
      return true;
    }
  }
  return false;
}

// Silences the log while it lives: what an agent says after its power is
// gone, or from a rehearsal, is no device's.
class QuietLog {
 public:
  QuietLog() : level_(GetLogLevel()) { SetLogLevel(LogLevel::kOff); }
  ~QuietLog() { SetLogLevel(level_); }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;

 private:
  LogLevel level_;
};

Status CopyFolder(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::remove_all(to, ec);
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot copy " + from + ": " + ec.message());
  return Ok();
}

}  // namespace

Result<Rehearsal> RehearseUpdate(const Env& env, const agent::AgentOptions& options,
                                 const std::string& copy_dir) {
  OTA_TRY(CopyFolder(options.state_dir, copy_dir));
  OTA_TRY(RemoveSharedMemory(*env.fs, copy_dir));
  Rehearsal r;
  {
    QuietLog quiet;
    DroppingFileSystem counting(*env.fs, copy_dir + ".aside");
    FetchOnlyHttp http(*env.http);
    Env copy_env = env;
    copy_env.fs = &counting;
    copy_env.http = &http;
    agent::AgentOptions copy_options = options;
    copy_options.state_dir = copy_dir;
    auto a = agent::Agent::Open(copy_env, copy_options);
    if (a.ok()) {
      auto outcomes = (*a)->Update(nullptr);
      r.deploys = outcomes.ok() && Deployed(*outcomes);
    }
    r.operations = counting.mutations();
  }
  OTA_TRY(env.fs->RemoveAll(copy_dir + ".aside"));
  OTA_TRY(env.fs->RemoveAll(copy_dir));
  return r;
}

Result<PowerCutResult> UpdateWithPowerCut(const Env& env, const agent::AgentOptions& options,
                                          std::uint64_t cut_after, const std::string& scratch) {
  PowerCutResult result;
  DroppingFileSystem dropping(*env.fs, scratch);
  dropping.CrashAfter(cut_after);
  dropping.KeepAtCut(DatabaseFiles(options.state_dir));
  DarkAfterCutHttp http(*env.http, dropping);
  Env device_env = env;
  device_env.fs = &dropping;
  device_env.http = &http;
  {
    QuietLog quiet;
    auto a = agent::Agent::Open(device_env, options);
    if (a.ok()) {
      auto outcomes = (*a)->Update(nullptr);
      if (outcomes.ok()) {
        for (const agent::UpdateOutcome& o : *outcomes) result.bytes_fetched += o.bytes_fetched;
      }
    }
  }
  result.mid_update = dropping.power_lost();
  dropping.CutPower();
  result.operations = dropping.mutations();
  OTA_TRY(dropping.DropUnsynced());
  OTA_TRY(RemoveSharedMemory(*env.fs, options.state_dir));
  OTA_TRY(env.fs->RemoveAll(scratch));
  return result;
}

Result<std::string> VerifiedActiveVersion(FileSystem& fs, const std::string& state_dir,
                                          const std::string& model) {
  auto broken = [](const std::string& why) { return MakeError(ErrorCode::kIntegrity, why); };
  auto link = fs.ReadSymlink(JoinPath(state_dir, "active/" + model));
  if (!link.ok()) return broken("no active link: " + link.error().message);
  const std::string prefix = "../versions/";
  if (link->rfind(prefix, 0) != 0 || link->find('/', prefix.size()) != std::string::npos) {
    return broken("the active link names " + *link + ", not a version folder");
  }
  const std::string id = link->substr(prefix.size());
  const std::string folder = JoinPath(state_dir, "versions/" + id);
  auto text = fs.ReadFile(JoinPath(folder, "bundle.json"), 1 << 20);
  if (!text.ok()) return broken("version " + id + " is incomplete: " + text.error().message);
  auto manifest = manifest::ParseBundleManifest(*text);
  if (!manifest.ok()) return broken("version " + id + " has a bad bundle.json");
  for (const manifest::BundleFile& f : manifest->files) {
    const std::string path = JoinPath(folder, f.path);
    auto size = fs.FileSize(path);
    auto sha = HashFileHex(path, HashAlgorithm::kSha256);
    if (!size.ok() || *size != f.size || !sha.ok() || *sha != f.sha256) {
      return broken("file " + f.path + " of version " + id + " is damaged");
    }
  }
  return manifest::ToString(manifest->version);
}

}  // namespace ota::drill
