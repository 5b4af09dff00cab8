// How the server puts a new rollout manifest version in front of devices:
// as target rollouts/<model>.json of the delegated "rollouts" TUF role,
// signed with that role's online key, followed by new snapshot and timestamp
// versions.
//
// The repository writing code lives in tools/repo (ota_repo), which sits
// above server_stub in the module order, so the server signs through this
// interface. The ota-server executable uses MakeOtactlPublisher, which runs
// `otactl publish --role rollouts` (the same code path operators use); tests
// and embedders may pass any implementation, e.g. one calling
// ota::tools::PublishDelegatedTarget in-process. See docs/decisions.md.
#ifndef OTA_SERVER_STUB_ROLLOUT_PUBLISHER_H_
#define OTA_SERVER_STUB_ROLLOUT_PUBLISHER_H_

#include <chrono>
#include <memory>
#include <string>

#include "ota/common/result.h"
#include "ota/manifest/rollout_manifest.h"

namespace ota::server_stub {

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

struct OtactlPublisherOptions {
  std::string otactl_path;  // Executable; a bare name is looked up in PATH.
  std::string repo_dir;
  std::string rollouts_key;  // Private key files (mode 0600).
  std::string snapshot_key;
  std::string timestamp_key;
  std::string role = "rollouts";
  std::string work_dir;  // Where the manifest file is written before publishing.
  std::chrono::seconds timeout{60};
};

// Runs `otactl publish --repo R --role rollouts --key K --snapshot-key S
// --timestamp-key T --file F --target rollouts/<model>.json --replace`
// without a shell; fails with otactl's stderr when it exits non-zero.
std::unique_ptr<RolloutPublisher> MakeOtactlPublisher(OtactlPublisherOptions options);

}  // namespace ota::server_stub

#endif  // OTA_SERVER_STUB_ROLLOUT_PUBLISHER_H_
