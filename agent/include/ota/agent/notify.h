// "New version active" notifications for apps: a background thread watches
// <state>/active through the platform seam (inotify on Linux, polling where
// there is none) and calls back when a model's pointer names a different
// version. The agent switches pointers by renaming a new symlink over the
// old one, so one rename notice marks each switch.
#ifndef OTA_AGENT_NOTIFY_H_
#define OTA_AGENT_NOTIFY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "ota/common/platform.h"
#include "ota/common/result.h"

namespace ota::agent {

// (model, new active version id). Runs on the watcher's thread; keep it
// short, and do not call Stop() of the same watcher from inside it.
using ActiveChangedCallback = std::function<void(const std::string&, const std::string&)>;

class ActiveVersionWatcher {
 public:
  // Starts watching. Changes already in place at start are not reported.
  // kNotFound when <state>/active does not exist; kIo when the platform's
  // watch fails. `platform` nullptr: DefaultPlatform().
  static Result<std::unique_ptr<ActiveVersionWatcher>> Start(const std::string& state_dir,
                                                             ActiveChangedCallback callback,
                                                             Platform* platform = nullptr);
  // Stops and joins the thread; idempotent. After it returns, no callback runs.
  void Stop();
  ~ActiveVersionWatcher();

 private:
  ActiveVersionWatcher(std::string state_dir, ActiveChangedCallback callback,
                       std::unique_ptr<RenameWatch> watch);
  void Run();
  // Reports `name` if its pointer now names another version than known_.
  void Look(const std::string& name);

  std::string state_dir_;
  ActiveChangedCallback callback_;
  std::unique_ptr<RenameWatch> watch_;        // Woken by Stop().
  std::map<std::string, std::string> known_;  // Owned by the thread after Start.
  std::thread thread_;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_NOTIFY_H_
