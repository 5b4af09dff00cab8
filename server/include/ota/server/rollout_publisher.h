// How the server puts a new rollout manifest version in front of devices:
// as target rollouts/<model>.json of the delegated "rollouts" TUF role,
// signed with that role's online key, followed by new snapshot and timestamp
// versions.
//
// The ota-server executable signs in process with the repository library
// (ota_repo, repo/ below the server in the module order): the same code
// `otactl publish --role rollouts` runs. Tests and embedders may pass any
// implementation. See docs/decisions.md.
#ifndef OTA_SERVER_ROLLOUT_PUBLISHER_H_
#define OTA_SERVER_ROLLOUT_PUBLISHER_H_

#include <memory>
#include <string>

#include "ota/common/result.h"
#include "ota/manifest/rollout_manifest.h"

namespace ota::server {

class RolloutPublisher {
 public:
  virtual ~RolloutPublisher() = default;
  // Signs and publishes `manifest` (already validated, with a version above
  // every earlier one of its model). Must be atomic for readers: either the
  // new version is served or the old one still is. Errors: anything; the
  // server then keeps its previous state and reports the error.
  // Called from one thread at a time.
  virtual Status Publish(const manifest::RolloutManifest& manifest) = 0;
};

struct RepoPublisherOptions {
  std::string repo_dir;
  std::string rollouts_key;  // Private key files (mode 0600).
  std::string snapshot_key;
  std::string timestamp_key;
  std::string role = "rollouts";
  std::string work_dir;  // Where the manifest file is written before publishing.
  // An executable run as `hook REPO_DIR RELATIVE_PATH` for each file a
  // publish put in place, in write order (ota/repo/publish_hook.h); a
  // failure fails the publish. Empty: none.
  std::string publish_hook;
};

// Publishes with ota::repo::PublishDelegatedTarget (target
// rollouts/<model>.json, replacing the previous version), new metadata valid
// for the repository library's default periods. The three keys are read
// once, here: errors are the key loader's (kNotFound, kInvalidArgument for a
// malformed key or one that group or others may read), so a misconfigured
// server fails at start, not at its first rollout change.
Result<std::unique_ptr<RolloutPublisher>> MakeRepoPublisher(RepoPublisherOptions options);

}  // namespace ota::server

#endif  // OTA_SERVER_ROLLOUT_PUBLISHER_H_
