#include "ota/agent/notify.h"

#include "lease_files.h"
#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "version_store.h"

namespace ota::agent {
namespace {

std::vector<std::string> ModelNames(const std::string& active_dir) {
  std::vector<std::string> models;
  auto names = MakePosixFileSystem()->ListDir(active_dir);
  if (!names.ok()) return models;
  for (const std::string& name : *names) {
    if (IsValidModelName(name)) models.push_back(name);
  }
  return models;
}

}  // namespace

ActiveVersionWatcher::ActiveVersionWatcher(std::string state_dir, ActiveChangedCallback callback,
                                           std::unique_ptr<RenameWatch> watch)
    : state_dir_(std::move(state_dir)), callback_(std::move(callback)), watch_(std::move(watch)) {}

Result<std::unique_ptr<ActiveVersionWatcher>> ActiveVersionWatcher::Start(
    const std::string& state_dir, ActiveChangedCallback callback, Platform* platform) {
  Platform& p = platform != nullptr ? *platform : DefaultPlatform();
  const std::string dir = JoinPath(state_dir, "active");
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<RenameWatch> watch, p.WatchRenames(dir));
  std::unique_ptr<ActiveVersionWatcher> w(
      new ActiveVersionWatcher(state_dir, std::move(callback), std::move(watch)));
  // What is active now is the baseline: only later switches are reported.
  for (const std::string& name : ModelNames(dir)) {
    auto id = lease_files::ReadActiveId(state_dir, name);
    if (id.ok() && *id) w->known_[name] = **id;
  }
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  return w;
}

void ActiveVersionWatcher::Look(const std::string& name) {
  if (!IsValidModelName(name)) return;
  auto id = lease_files::ReadActiveId(state_dir_, name);
  if (!id.ok() || !*id) return;
  auto it = known_.find(name);
  if (it != known_.end() && it->second == **id) return;
  known_[name] = **id;
  callback_(name, **id);
}

void ActiveVersionWatcher::Run() {
  while (true) {
    auto names = watch_->Wait();
    if (!names.ok()) {
      Log(LogLevel::kWarning, "agent", "active-version watch stopped: " + names.error().message);
      return;
    }
    if (!*names) return;  // Stop() woke it.
    // An empty list means the watch cannot tell what changed: look at all.
    const std::vector<std::string> look =
        (*names)->empty() ? ModelNames(JoinPath(state_dir_, "active")) : **names;
    for (const std::string& name : look) Look(name);
  }
}

void ActiveVersionWatcher::Stop() {
  if (thread_.joinable()) {
    watch_->Wake();
    thread_.join();
  }
}

ActiveVersionWatcher::~ActiveVersionWatcher() { Stop(); }

}  // namespace ota::agent
