#include "ota/agent/leases.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "lease_files.h"
#include "ota/common/filesystem.h"
#include "ota/manifest/bundle_manifest.h"
#include "version_store.h"

namespace ota::agent {
namespace {

// The pause between attempts while a switch holds the old version's lock:
// switches take a rename and an fsync, so a short pause keeps latency low
// without spinning a core.
constexpr std::chrono::microseconds kSwitchPollPause{50};
constexpr std::chrono::milliseconds kMaxAcquireBound{60000};

std::chrono::milliseconds ReadSettingsBound(const std::string& state_dir) {
  auto fs = MakePosixFileSystem();
  auto text = fs->ReadFile(
      JoinPath(JoinPath(state_dir, lease_files::kLeaseDir), lease_files::kSettingsFile), 4096);
  if (!text.ok()) return kDefaultAcquireBound;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("acquire_bound_ms") ||
      !j["acquire_bound_ms"].is_number_unsigned()) {
    return kDefaultAcquireBound;
  }
  const auto ms = j["acquire_bound_ms"].get<std::uint64_t>();
  if (ms > static_cast<std::uint64_t>(kMaxAcquireBound.count())) return kDefaultAcquireBound;
  return std::chrono::milliseconds(ms);
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Lease::Lease(Lease&& other) noexcept
    : info_(std::move(other.info_)), lock_(std::move(other.lock_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    info_ = std::move(other.info_);
    lock_ = std::move(other.lock_);
  }
  return *this;
}

Lease::~Lease() { Release(); }

void Lease::Release() {
  // Closing the lock file drops its shared lock; nothing else is needed.
  lock_.reset();
}

std::optional<std::string> Lease::FilePath(std::string_view relative_path) const {
  if (!info_) return std::nullopt;
  for (const LeaseFile& f : info_->files) {
    if (f.relative_path == relative_path) return f.path;
  }
  return std::nullopt;
}

Status PrepareLeaseFolder(const std::string& state_dir, std::chrono::milliseconds acquire_bound) {
  if (acquire_bound.count() < 0 || acquire_bound > kMaxAcquireBound) {
    return MakeError(ErrorCode::kInvalidArgument, "lease acquire bound must be 0 to 60000 ms");
  }
  auto fs = MakePosixFileSystem();
  const std::string dir = JoinPath(state_dir, lease_files::kLeaseDir);
  OTA_TRY(fs->CreateDirs(dir));
  const std::string text =
      nlohmann::json({{"acquire_bound_ms", acquire_bound.count()}}).dump() + "\n";
  const std::string path = JoinPath(dir, lease_files::kSettingsFile);
  auto current = fs->ReadFile(path, 4096);
  if (current.ok() && *current == text) return Ok();
  return WriteFileAtomic(*fs, path, text);
}

LeaseManager::LeaseManager(LeaseOptions options, std::chrono::milliseconds bound,
                           std::unique_ptr<Clock> owned_clock)
    : state_dir_(std::move(options.state_dir)),
      acquire_bound_(bound),
      owned_clock_(std::move(owned_clock)),
      clock_(options.clock != nullptr ? options.clock : owned_clock_.get()),
      platform_(options.platform != nullptr ? options.platform : &DefaultPlatform()),
      pause_(std::move(options.pause)) {
  if (!pause_) pause_ = [](std::chrono::microseconds d) { std::this_thread::sleep_for(d); };
}

LeaseManager::~LeaseManager() = default;

Result<std::unique_ptr<LeaseManager>> LeaseManager::Open(LeaseOptions options) {
  if (!IsDir(JoinPath(options.state_dir, "active"))) {
    return MakeError(ErrorCode::kNotFound,
                     options.state_dir + " is not an agent state folder (no active/ folder)");
  }
  std::chrono::milliseconds bound =
      options.acquire_bound ? *options.acquire_bound : ReadSettingsBound(options.state_dir);
  if (bound.count() < 0 || bound > kMaxAcquireBound) {
    return MakeError(ErrorCode::kInvalidArgument, "lease acquire bound must be 0 to 60000 ms");
  }
  std::unique_ptr<Clock> owned;
  if (options.clock == nullptr) owned = MakeSystemClock();
  return std::unique_ptr<LeaseManager>(
      new LeaseManager(std::move(options), bound, std::move(owned)));
}

Result<std::optional<std::string>> LeaseManager::ActiveVersionId(std::string_view model) const {
  const std::string name(model);
  if (!IsValidModelName(name)) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid model name \"" + name + "\"");
  }
  return lease_files::ReadActiveId(state_dir_, name);
}

Result<std::shared_ptr<const LeasedVersion>> LeaseManager::Describe(const std::string& model,
                                                                    const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
  }
  auto info = std::make_shared<LeasedVersion>();
  info->model = model;
  info->id = id;
  info->dir = JoinPath(JoinPath(state_dir_, "versions"), id);
  auto fs = MakePosixFileSystem();
  auto text = fs->ReadFile(JoinPath(info->dir, "bundle.json"), 4 << 20);
  if (!text.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     "version " + id + " has no readable bundle.json: " + text.error().message);
  }
  auto manifest = manifest::ParseBundleManifest(*text);
  if (!manifest.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     "version " + id + " has a bad bundle.json: " + manifest.error().message);
  }
  if (manifest->name != model) {
    return MakeError(ErrorCode::kIntegrity,
                     "version " + id + " holds model " + manifest->name + ", not " + model);
  }
  info->version = manifest::ToString(manifest->version);
  for (const manifest::BundleFile& f : manifest->files) {
    info->files.push_back(LeaseFile{f.path, JoinPath(info->dir, f.path), f.role});
  }
  info->model_path = JoinPath(info->dir, manifest->model.file);
  std::lock_guard<std::mutex> lock(mu_);
  // Another thread may have described the same version meanwhile: keep one.
  return cache_.emplace(id, std::move(info)).first->second;
}

Result<Lease> LeaseManager::Acquire(std::string_view model_view) {
  const std::string model(model_view);
  if (!IsValidModelName(model)) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid model name \"" + model + "\"");
  }
  const auto start = clock_->Monotonic();
  while (true) {
    OTA_ASSIGN_OR_RETURN(std::optional<std::string> id,
                         lease_files::ReadActiveId(state_dir_, model));
    if (!id) return MakeError(ErrorCode::kNotFound, "no version of " + model + " is active");
    OTA_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                         lease_files::OpenLock(*platform_, state_dir_, *id, /*create=*/true));
    OTA_ASSIGN_OR_RETURN(bool shared, lock->TryShared());
    // With the shared lock held nobody can remove the version; it is usable
    // if the lock file is still the one in place (not removed with an old
    // copy of the version) and the folder exists.
    if (shared && lock->StillAt(lease_files::LockPath(state_dir_, *id)) &&
        IsDir(JoinPath(JoinPath(state_dir_, "versions"), *id))) {
      OTA_ASSIGN_OR_RETURN(auto info, Describe(model, *id));
      return Lease(std::move(info), std::move(lock));
    }
    // The version is being switched away from or removed: the pointer will
    // name another version in a moment.
    if (clock_->Monotonic() - start >= acquire_bound_) {
      return MakeError(ErrorCode::kRetryLater, model + " is switching versions (waited " +
                                                   std::to_string(acquire_bound_.count()) +
                                                   " ms); retry shortly");
    }
    pause_(kSwitchPollPause);
  }
}

}  // namespace ota::agent
