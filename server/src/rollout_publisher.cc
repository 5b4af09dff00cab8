#include "ota/server/rollout_publisher.h"

#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/repo/publish_hook.h"
#include "ota/repo/repo.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

class RepoPublisher : public RolloutPublisher {
 public:
  RepoPublisher(RepoPublisherOptions o, std::unique_ptr<OwnedEnv> env, verifier::PrivateKey role,
                verifier::PrivateKey snapshot, verifier::PrivateKey timestamp)
      : o_(std::move(o)),
        env_(std::move(env)),
        role_(std::move(role)),
        snapshot_(std::move(snapshot)),
        timestamp_(std::move(timestamp)) {}

  Status Publish(const manifest::RolloutManifest& m) override {
    Env& env = env_->env();
    const std::string file = JoinPath(o_.work_dir, "rollout-" + m.model + ".json");
    OTA_TRY(WriteFileAtomic(*env.fs, file, manifest::SerializeRolloutManifest(m)));
    repo::RepoKeys keys;
    keys.snapshot = &snapshot_;
    keys.timestamp = &timestamp_;
    // The files put in place, in order, for the publish hook.
    repo::RecordingFileSystem recording(*env.fs);
    Env writing = env;
    writing.fs = &recording;
    Status s = repo::PublishDelegatedTarget(writing, o_.repo_dir, o_.role,
                                            manifest::RolloutTargetPath(m.model), file,
                                            nlohmann::json(), role_, keys, repo::ExpiryPolicy{},
                                            /*replace=*/true);
    (void)env.fs->Remove(file);
    OTA_TRY(s);
    return repo::RunPublishHook(o_.publish_hook, o_.repo_dir, recording.placed());
  }

 private:
  RepoPublisherOptions o_;
  std::unique_ptr<OwnedEnv> env_;
  verifier::PrivateKey role_;
  verifier::PrivateKey snapshot_;
  verifier::PrivateKey timestamp_;
};

}  // namespace

Result<std::unique_ptr<RolloutPublisher>> MakeRepoPublisher(RepoPublisherOptions options) {
  std::unique_ptr<OwnedEnv> env = MakePosixEnv();
  FileSystem& fs = *env->env().fs;
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey role,
                       verifier::LoadPrivateKey(fs, options.rollouts_key));
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey snapshot,
                       verifier::LoadPrivateKey(fs, options.snapshot_key));
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey timestamp,
                       verifier::LoadPrivateKey(fs, options.timestamp_key));
  return std::unique_ptr<RolloutPublisher>(new RepoPublisher(std::move(options), std::move(env),
                                                             std::move(role), std::move(snapshot),
                                                             std::move(timestamp)));
}

}  // namespace ota::server
