#include "ota/agent/mirror.h"

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "mirror_files.h"
#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/runtime_adapter/runtime_registry.h"
#include "ota/shadow/checks.h"
#include "ota/shadow/eval_set.h"
#include "ota/shadow/mirror.h"
#include "ota/shadow/policy.h"

namespace ota::agent {
namespace {

bool IsModelName(std::string_view s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// The checks that apply to every prompt of the eval set (its top-level
// checks): those make sense on any request the app offers.
std::vector<const shadow::Check*> CommonChecks(const shadow::EvalSet& eval) {
  std::vector<const shadow::Check*> common;
  if (eval.prompts.empty()) return common;
  for (const shadow::Check* c : eval.prompts.front().checks) {
    bool everywhere = true;
    for (const shadow::EvalPrompt& p : eval.prompts) {
      if (std::find(p.checks.begin(), p.checks.end(), c) == p.checks.end()) everywhere = false;
    }
    if (everywhere) common.push_back(c);
  }
  return common;
}

}  // namespace

// One loaded candidate and its replays.
struct LoadedCandidate {
  mirror_files::Announcement announcement;
  shadow::EvalSet eval;  // Owns the checks.
  std::unique_ptr<runtime_adapter::LoadedModel> model;
  std::unique_ptr<shadow::Mirror> mirror;  // Destroyed first.
  ~LoadedCandidate() {
    if (mirror) mirror->Stop();
    mirror.reset();
    model.reset();
  }
};

struct MirrorClient::Impl {
  MirrorClientOptions options;
  std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  std::unique_ptr<Clock> owned_clock;
  Clock* clock = nullptr;
  runtime_adapter::RuntimeRegistry runtimes;
  std::string stats_path;

  std::mutex poll_mu;  // One Poll at a time.
  // One stats write at a time, snapshot included: the poller and Flush both
  // write, and the file must end with the newest counts (and two writers
  // must not share the atomic write's temporary file).
  std::mutex write_mu;
  mutable std::mutex mu;  // Guards candidate (the pointer) and stop.
  std::shared_ptr<LoadedCandidate> candidate;
  std::string failed_id;  // A candidate that did not load: not retried.
  bool stop = false;
  std::condition_variable cv;
  std::thread poller;

  std::shared_ptr<LoadedCandidate> Current() const {
    std::lock_guard lock(mu);
    return candidate;
  }

  Result<std::shared_ptr<LoadedCandidate>> Load(const mirror_files::Announcement& a) {
    const std::string dir = JoinPath(JoinPath(options.state_dir, "versions"), a.candidate_id);
    OTA_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(JoinPath(dir, "bundle.json"), 4 << 20));
    OTA_ASSIGN_OR_RETURN(manifest::BundleManifest bundle, manifest::ParseBundleManifest(text));
    if (bundle.name != options.model) {
      return MakeError(ErrorCode::kIntegrity,
                       "announced candidate " + a.candidate_id + " is a bundle of " + bundle.name);
    }
    auto c = std::make_shared<LoadedCandidate>();
    c->announcement = a;
    auto eval = shadow::LoadBundleEvalSet(*fs, dir, bundle);
    if (eval.ok()) c->eval = std::move(*eval);
    OTA_ASSIGN_OR_RETURN(auto runtime, runtimes.SelectFor(bundle));
    runtime_adapter::ModelOpenOptions open;
    open.path = JoinPath(dir, bundle.model.file);
    open.threads = a.threads;
    open.context_length = a.context_length;
    OTA_ASSIGN_OR_RETURN(c->model, runtime->Open(open));
    shadow::MirrorOptions mo;
    mo.sample_rate = a.sample_rate;
    mo.cpu_budget = a.cpu_budget;
    mo.max_new_tokens = a.max_new_tokens;
    mo.seed = static_cast<std::uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^
              static_cast<std::uint64_t>(clock->Now().time_since_epoch().count());
    mo.checks = CommonChecks(c->eval);
    OTA_ASSIGN_OR_RETURN(c->mirror, shadow::Mirror::Start(*c->model, std::move(mo), *clock));
    return c;
  }

  Status WriteStats(const LoadedCandidate& c) {
    std::lock_guard lock(write_mu);
    mirror_files::StatsFile s;
    s.model = options.model;
    s.candidate_id = c.announcement.candidate_id;
    s.pid = ::getpid();
    s.stats = c.mirror->Stats();
    return WriteFileAtomic(*fs, stats_path, mirror_files::StatsFileToJson(s));
  }

  void Drop() {
    std::shared_ptr<LoadedCandidate> old;
    {
      std::lock_guard lock(mu);
      old.swap(candidate);
    }
    if (old) {
      std::lock_guard lock(write_mu);  // Not resurrected by a write in flight.
      (void)fs->Remove(stats_path);
    }
    // `old` unloads here, outside the lock (an Offer may still hold it briefly).
  }

  Status Poll() {
    std::lock_guard poll_lock(poll_mu);
    const std::string path = mirror_files::AnnouncementPath(options.state_dir, options.model);
    auto text = fs->ReadFile(path, mirror_files::kMaxFileBytes);
    std::optional<mirror_files::Announcement> announced;
    if (text.ok()) {
      auto a = mirror_files::ParseAnnouncement(*text);
      if (a.ok() && a->model == options.model) announced = *a;
    }
    std::shared_ptr<LoadedCandidate> current = Current();
    const bool same = current && announced &&
                      current->announcement.candidate_id == announced->candidate_id &&
                      current->announcement.deployment_id == announced->deployment_id;
    if (current && !same) {
      Drop();
      current.reset();
    }
    if (!announced) return Ok();
    if (!current) {
      if (failed_id == announced->candidate_id) return Ok();
      auto loaded = Load(*announced);
      if (!loaded.ok()) {
        failed_id = announced->candidate_id;
        Log(LogLevel::kWarning, "mirror",
            options.model + ": candidate " + announced->candidate_version +
                " not mirrored: " + loaded.error().message);
        return std::move(loaded).error();
      }
      current = *loaded;
      std::lock_guard lock(mu);
      candidate = current;
    }
    return WriteStats(*current);
  }

  void Loop() {
    std::unique_lock lock(mu);
    while (!stop) {
      lock.unlock();
      (void)Poll();
      lock.lock();
      cv.wait_for(lock, options.poll_interval, [&] { return stop; });
    }
  }
};

MirrorClient::MirrorClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<MirrorClient>> MirrorClient::Open(MirrorClientOptions options) {
  if (!IsModelName(options.model)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "model name \"" + options.model.substr(0, 64) + "\" is not valid");
  }
  auto fs = MakePosixFileSystem();
  OTA_ASSIGN_OR_RETURN(bool has_active, fs->Exists(JoinPath(options.state_dir, "active")));
  if (!has_active) {
    return MakeError(ErrorCode::kNotFound,
                     options.state_dir + " is not an agent's state folder (no active/)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (impl->options.clock == nullptr) {
    impl->owned_clock = MakeSystemClock();
    impl->clock = impl->owned_clock.get();
  } else {
    impl->clock = impl->options.clock;
  }
  impl->runtimes = runtime_adapter::MakeDefaultRuntimeRegistry(impl->clock);
  impl->stats_path =
      mirror_files::StatsPath(impl->options.state_dir, impl->options.model, ::getpid());
  std::unique_ptr<MirrorClient> client(new MirrorClient(std::move(impl)));
  if (client->impl_->options.poll_interval.count() > 0) {
    Impl* i = client->impl_.get();
    i->poller = std::thread([i] { i->Loop(); });
  }
  return client;
}

MirrorClient::~MirrorClient() { Close(); }

bool MirrorClient::Offer(std::string_view request, std::string_view production_output) {
  std::shared_ptr<LoadedCandidate> c = impl_->Current();
  if (!c) return false;
  return c->mirror->Offer(request, production_output);
}

Status MirrorClient::Poll() { return impl_->Poll(); }

Status MirrorClient::Flush() {
  std::shared_ptr<LoadedCandidate> c = impl_->Current();
  if (!c) return Ok();
  c->mirror->WaitIdle();
  return impl_->WriteStats(*c);
}

MirrorClientCounts MirrorClient::Counts() const {
  MirrorClientCounts counts;
  std::shared_ptr<LoadedCandidate> c = impl_->Current();
  if (!c) return counts;
  const shadow::MirrorStats s = c->mirror->Stats();
  counts.candidate_id = c->announcement.candidate_id;
  counts.offered = s.offered;
  counts.sampled = s.sampled;
  counts.replayed = s.replayed;
  counts.failed = s.failed;
  return counts;
}

void MirrorClient::Close() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
    impl_->cv.notify_all();
  }
  if (impl_->poller.joinable()) impl_->poller.join();
  impl_->Drop();
}

}  // namespace ota::agent
